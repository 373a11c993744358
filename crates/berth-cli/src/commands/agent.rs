//! `berth agent`: the dev container's side of a session. It dials the relay
//! with the session's agent token, serves exec and port-forward streams,
//! and reconnects and resumes when the connection drops. `--root DIR` runs
//! commands in a folder (the local mode that tests and the embedded default
//! use); in a pod it is the container's working directory.

use std::path::PathBuf;
use std::process::Stdio;

use berth_proto::StreamKind;
use berth_proto::exec::{Decoder, ExecMessage};
use berth_proto::mux::Stream;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::output::Failure;
use std::time::Duration;

use crate::relay::{self, Refused, Role};

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The Berth server.
    #[arg(long, env = "BERTH_AGENT_URL")]
    url: String,
    /// The session's agent token (`berth session create` prints it).
    #[arg(long, env = "BERTH_AGENT_TOKEN", hide_env_values = true)]
    token: String,
    /// Run commands in this folder.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

pub async fn run(args: AgentArgs) -> Result<(), Failure> {
    let root = args.root.canonicalize().map_err(|e| {
        Failure::new(
            format!("cannot use {} as the root: {e}", args.root.display()),
            "give an existing folder with --root",
        )
    })?;
    eprintln!(
        "berth agent: serving {} through {}",
        root.display(),
        args.url
    );
    let say = |line: &str| eprintln!("berth agent: {line}");
    let mut delay = Duration::from_millis(100);
    // One connection always waits for the next CLI; each CLI that attaches
    // gets its own, served until it ends.
    loop {
        match relay::first(&args.url, Role::Agent, &args.token, None, &|_: &str| {}).await {
            Ok(connected) => {
                delay = Duration::from_millis(100);
                say("a CLI attached");
                let session = relay::run(
                    args.url.clone(),
                    Role::Agent,
                    args.token.clone(),
                    None,
                    connected,
                    say,
                );
                tokio::spawn(serve(session, root.clone()));
            }
            Err(Refused::Relay(reason)) => {
                return Err(Failure::new(
                    format!("the relay refused the agent: {reason}"),
                    "start the agent again with a live session's token (`berth session create`)",
                ));
            }
            Err(Refused::Network(reason)) => {
                say(&format!("cannot reach the relay ({reason}); retrying"));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Serves one attachment's streams until it ends.
async fn serve(mut session: relay::Session, root: PathBuf) {
    loop {
        tokio::select! {
            accepted = session.incoming.accept() => {
                let Some((stream, kind, meta)) = accepted else { return };
                let root = root.clone();
                tokio::spawn(async move {
                    match kind {
                        StreamKind::Exec => exec(stream, meta, root).await,
                        StreamKind::PortForward => forward(stream, meta).await,
                        other => stream.reset(1, &format!("this agent does not serve {other:?} streams")).await,
                    }
                });
            }
            _ = &mut session.task => return,
        }
    }
}

async fn exec(mut stream: Stream, meta: Value, root: PathBuf) {
    let writer = stream.writer();
    let send = |message: ExecMessage| {
        let writer = writer.clone();
        async move { writer.send(&message.encode()).await.is_ok() }
    };
    let command: Vec<String> = meta["command"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if meta["tty"] == true {
        send(ExecMessage::Failed(
            "this agent does not offer a pseudo-terminal yet; run the command without one"
                .to_owned(),
        ))
        .await;
        let _ = writer.close().await;
        return;
    }
    let Some((program, arguments)) = command.split_first() else {
        send(ExecMessage::Failed("no command given".to_owned())).await;
        let _ = writer.close().await;
        return;
    };
    let spawned = tokio::process::Command::new(program)
        .args(arguments)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            send(ExecMessage::Failed(format!("{program}: {e}"))).await;
            let _ = writer.close().await;
            return;
        }
    };
    let mut stdin = child.stdin.take();
    let outputs = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ];
    let mut readers = Vec::new();
    for (i, output) in outputs.into_iter().enumerate() {
        let Some(mut output) = output else { continue };
        let writer = writer.clone();
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 32 * 1024];
            loop {
                match output.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let bytes = buffer[..n].to_vec();
                        let message = if i == 0 {
                            ExecMessage::Stdout(bytes)
                        } else {
                            ExecMessage::Stderr(bytes)
                        };
                        if writer.send(&message.encode()).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }));
    }
    // Standard input from the CLI, until it ends or the command exits.
    let feeding = async {
        let mut decoder = Decoder::default();
        while let Some(Ok(data)) = stream.recv().await {
            let Ok(messages) = decoder.push(&data) else {
                return;
            };
            for message in messages {
                match message {
                    ExecMessage::Stdin(bytes) => {
                        if let Some(input) = stdin.as_mut()
                            && input.write_all(&bytes).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    ExecMessage::StdinEnd => stdin = None,
                    _ => {}
                }
            }
        }
        // The CLI went away: nothing more will come.
        std::future::pending::<()>().await;
    };
    let status = tokio::select! {
        status = child.wait() => status,
        () = feeding => return,
    };
    for reader in readers {
        let _ = reader.await;
    }
    let code = match status {
        Ok(status) => status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }),
        Err(_) => 255,
    };
    send(ExecMessage::Exit(code)).await;
    let _ = writer.close().await;
}

async fn forward(stream: Stream, meta: Value) {
    let Some(port) = meta["port"].as_u64().and_then(|p| u16::try_from(p).ok()) else {
        stream
            .reset(2, "a port-forward names a port from 1 to 65535")
            .await;
        return;
    };
    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(tcp) => crate::commands::sessions::pump(tcp, stream).await,
        Err(e) => {
            stream
                .reset(3, &format!("nothing answers on port {port}: {e}"))
                .await
        }
    }
}

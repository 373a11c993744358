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
    if meta["tty"] == true && !command.is_empty() {
        drop(writer);
        return exec_tty(stream, &meta, root, command).await;
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

/// A command on a pseudo-terminal: its output is one stream, resizes
/// follow the CLI's terminal, and input is typed keys.
async fn exec_tty(mut stream: Stream, meta: &Value, root: PathBuf, command: Vec<String>) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let writer = stream.writer();
    let size = |cols: &Value, rows: &Value| PtySize {
        cols: cols
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c > 0)
            .unwrap_or(80),
        rows: rows
            .as_u64()
            .and_then(|r| u16::try_from(r).ok())
            .filter(|r| *r > 0)
            .unwrap_or(24),
        pixel_width: 0,
        pixel_height: 0,
    };
    let started = (|| -> Result<_, String> {
        let pair = native_pty_system()
            .openpty(size(&meta["cols"], &meta["rows"]))
            .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
        let mut builder = CommandBuilder::new(&command[0]);
        builder.args(&command[1..]);
        builder.cwd(&root);
        builder.env("TERM", meta["term"].as_str().unwrap_or("xterm-256color"));
        let child = pair
            .slave
            .spawn_command(builder)
            .map_err(|e| format!("{}: {e}", command[0]))?;
        let reader = pair.master.try_clone_reader().map_err(|e| e.to_string())?;
        let input = pair.master.take_writer().map_err(|e| e.to_string())?;
        Ok((pair.master, child, reader, input))
    })();
    let (master, mut child, mut reader, mut input) = match started {
        Ok(started) => started,
        Err(reason) => {
            let _ = writer.send(&ExecMessage::Failed(reason).encode()).await;
            let _ = writer.close().await;
            return;
        }
    };
    // Shared by reference across awaits: resizes come while output flows.
    let master = std::sync::Mutex::new(master);
    // The terminal's output, read on a thread (the pty is blocking).
    let (output_tx, mut output_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let reading = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 32 * 1024];
        while let Ok(n) = std::io::Read::read(&mut reader, &mut buffer) {
            if n == 0 || output_tx.blocking_send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let forward_output = {
        let writer = writer.clone();
        tokio::spawn(async move {
            while let Some(bytes) = output_rx.recv().await {
                if writer
                    .send(&ExecMessage::Stdout(bytes).encode())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let (waited_tx, waited_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = waited_tx.send(child.wait());
    });
    let feeding = async {
        let mut decoder = Decoder::default();
        while let Some(Ok(data)) = stream.recv().await {
            let Ok(messages) = decoder.push(&data) else {
                return;
            };
            for message in messages {
                match message {
                    ExecMessage::Stdin(bytes)
                        if std::io::Write::write_all(&mut input, &bytes).is_err() =>
                    {
                        return;
                    }
                    ExecMessage::Resize { cols, rows } => {
                        let _ = master
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .resize(PtySize {
                                cols,
                                rows,
                                pixel_width: 0,
                                pixel_height: 0,
                            });
                    }
                    _ => {}
                }
            }
        }
        std::future::pending::<()>().await;
    };
    let status = tokio::select! {
        status = waited_rx => status,
        () = feeding => return,
    };
    // The output ends once the command and its children closed the terminal.
    drop(master);
    let _ = tokio::task::spawn_blocking(move || reading.join()).await;
    let _ = forward_output.await;
    let code = match status {
        Ok(Ok(status)) => status.exit_code() as i32,
        _ => 255,
    };
    let _ = writer.send(&ExecMessage::Exit(code).encode()).await;
    let _ = writer.close().await;
}

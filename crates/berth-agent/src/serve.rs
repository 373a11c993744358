//! The agent: the dev container's side of a session. It dials the relay
//! with the session's agent token, serves exec, port-forward, reverse
//! forward, SSH and sync streams, starts the dev command once the first
//! sync is done, and reconnects and resumes when the connection drops. In
//! a pod its root is `/`; run locally (tests, the daemon's embedded mode)
//! it is a folder.

use std::path::{Path, PathBuf};

use berth_proto::exec::{Decoder, ExecMessage};
use berth_proto::mux::{Mux, Stream};
use berth_proto::{
    ExecOpen, ListenOpen, Listening, OpenMeta, PortForwardOpen, ResetCode, ReverseOpen, StreamKind,
    SyncOpen,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use berth_dial::{self as dial, Refused, Role};
use nix::sys::signal::Signal;

use crate::dev::{DevCommand, DevStopped};
use crate::process::{self, Input, Output, Spawn, Tty};

/// What an agent serves, and where.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Berth server.
    pub url: String,
    /// The session's agent token.
    pub token: String,
    /// Sync paths are under it (`/` in a pod).
    pub root: PathBuf,
    /// Where commands and the dev command run, under the root (`/app`);
    /// the root when none.
    pub workdir: Option<String>,
    /// The dev command, started once the first sync is done.
    pub command: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot use {path} as the root: {error}")]
    Root { path: String, error: String },
    #[error("the relay refused the agent: {0}")]
    Refused(String),
    #[error("cannot listen for stop signals: {0}")]
    Signals(String),
}

/// Runs an agent until the relay refuses it (its session ended). Each CLI
/// that attaches gets its own connection; one always waits for the next.
/// Dropping it takes the dev command with it. `berthd` runs local agents
/// so; a container's entry point uses [`run_until_stopped`].
pub async fn run(
    config: AgentConfig,
    say: impl Fn(&str) + Clone + Send + Sync + 'static,
) -> Result<(), AgentError> {
    let (root, workdir, dev) = prepare(&config, say.clone())?;
    Err(attach_loop(&config, root, workdir, dev, say).await)
}

/// Why an agent run by [`run_until_stopped`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The signal that stopped it.
    pub signal: Signal,
    /// How the dev command ended; none when it had not started.
    pub dev: Option<DevStopped>,
}

impl Stopped {
    /// The agent's exit code: 0 for a clean stop, else the dev command's
    /// (see [`DevStopped::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        self.dev.as_ref().map_or(0, DevStopped::exit_code)
    }
}

/// Runs an agent as a container's entry point: as [`run`], until SIGTERM,
/// SIGINT or SIGQUIT, which it passes on to the dev command's process
/// group before it waits up to `grace` for the group to end (then kills
/// it). SIGHUP, SIGUSR1 and SIGUSR2 are passed on to the group too.
pub async fn run_until_stopped(
    config: AgentConfig,
    grace: Duration,
    say: impl Fn(&str) + Clone + Send + Sync + 'static,
) -> Result<Stopped, AgentError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |which: Signal| {
        signal(SignalKind::from_raw(which as i32)).map_err(|e| AgentError::Signals(e.to_string()))
    };
    // Before anything else, so that no stop is missed.
    let mut term = listen(Signal::SIGTERM)?;
    let mut int = listen(Signal::SIGINT)?;
    let mut quit = listen(Signal::SIGQUIT)?;
    let mut hup = listen(Signal::SIGHUP)?;
    let mut usr1 = listen(Signal::SIGUSR1)?;
    let mut usr2 = listen(Signal::SIGUSR2)?;
    let (root, workdir, dev) = prepare(&config, say.clone())?;
    let serving = attach_loop(&config, root, workdir, dev.clone(), say.clone());
    tokio::pin!(serving);
    let signal = loop {
        tokio::select! {
            refused = &mut serving => {
                // The session is over: the dev command goes as at a stop.
                let _ = dev.stop(Signal::SIGTERM, grace).await;
                return Err(refused);
            }
            _ = term.recv() => break Signal::SIGTERM,
            _ = int.recv() => break Signal::SIGINT,
            _ = quit.recv() => break Signal::SIGQUIT,
            _ = hup.recv() => dev.signal(Signal::SIGHUP),
            _ = usr1.recv() => dev.signal(Signal::SIGUSR1),
            _ = usr2.recv() => dev.signal(Signal::SIGUSR2),
        }
    };
    say(&format!("{signal}: stopping"));
    let stopped = dev.stop(signal, grace).await;
    if let Some(stopped) = &stopped
        && stopped.killed
    {
        say(&format!(
            "the dev command's processes were still there {}s after {signal}; killed them",
            grace.as_secs()
        ));
    }
    Ok(Stopped {
        signal,
        dev: stopped,
    })
}

/// The agent's root and working folder, made if need be, and its dev
/// command, not started.
fn prepare(
    config: &AgentConfig,
    say: impl Fn(&str) + Send + Sync + 'static,
) -> Result<(PathBuf, PathBuf, Arc<DevCommand>), AgentError> {
    let root = config.root.canonicalize().map_err(|e| AgentError::Root {
        path: config.root.display().to_string(),
        error: e.to_string(),
    })?;
    let workdir = match config.workdir.as_deref() {
        Some(folder) => sync_root(&root, folder).map_err(|error| AgentError::Root {
            path: folder.to_owned(),
            error,
        })?,
        None => root.clone(),
    };
    std::fs::create_dir_all(&workdir).map_err(|e| AgentError::Root {
        path: workdir.display().to_string(),
        error: e.to_string(),
    })?;
    say(&format!(
        "serving {} through {}",
        root.display(),
        config.url
    ));
    let dev = Arc::new(DevCommand::new(
        config.command.clone(),
        config.workdir.is_some().then(|| workdir.clone()),
        say,
    ));
    Ok((root, workdir, dev))
}

/// Waits for CLIs, one attachment at a time, until the relay refuses the
/// agent; answers why.
async fn attach_loop(
    config: &AgentConfig,
    root: PathBuf,
    workdir: PathBuf,
    dev: Arc<DevCommand>,
    say: impl Fn(&str) + Clone + Send + Sync + 'static,
) -> AgentError {
    // One host key for the agent's life: the dev session's.
    let ssh = crate::ssh::Server::new(root.clone(), workdir.clone());
    loop {
        let attach = || dial::first(&config.url, Role::Agent, &config.token, None, &|_: &str| {});
        let attached = attach
            .retry(dial::reconnect_delays(Duration::from_secs(10)))
            .when(|e| matches!(e, Refused::Network(_)))
            .notify(|e, _| {
                if let Refused::Network(reason) = e {
                    say(&format!("cannot reach the relay ({reason}); retrying"));
                }
            })
            .await;
        match attached {
            Ok(connected) => {
                say("a CLI attached");
                let session = dial::run(
                    config.url.clone(),
                    Role::Agent,
                    config.token.clone(),
                    None,
                    connected,
                    say.clone(),
                );
                tokio::spawn(serve(
                    session,
                    root.clone(),
                    workdir.clone(),
                    dev.clone(),
                    ssh.clone(),
                ));
            }
            Err(Refused::Relay(reason) | Refused::Network(reason)) => {
                return AgentError::Refused(reason);
            }
        }
    }
}

/// Serves one attachment's streams until it ends.
async fn serve(
    mut session: dial::Session,
    root: PathBuf,
    workdir: PathBuf,
    dev: Arc<DevCommand>,
    ssh: crate::ssh::Server,
) {
    loop {
        tokio::select! {
            accepted = session.incoming.accept() => {
                let Some((stream, kind, meta)) = accepted else { return };
                let root = root.clone();
                let workdir = workdir.clone();
                let dev = dev.clone();
                let mux = session.mux.clone();
                let ssh = ssh.clone();
                tokio::spawn(async move {
                    match kind {
                        StreamKind::Exec => exec(stream, meta, workdir).await,
                        StreamKind::PortForward => forward(stream, meta).await,
                        StreamKind::Listen => listen(stream, meta, mux).await,
                        StreamKind::Ssh => ssh.serve(stream).await,
                        StreamKind::Sync => sync(stream, meta, root, dev).await,
                        other => stream.reset(ResetCode::UnsupportedKind, &format!("this agent does not serve {other:?} streams")).await,
                    }
                });
            }
            _ = &mut session.task => return,
        }
    }
}

async fn exec(mut stream: Stream, meta: Value, root: PathBuf) {
    let writer = stream.writer();
    let open = match ExecOpen::from_meta(meta) {
        Ok(open) => open,
        Err(e) => {
            let _ = writer
                .send(&ExecMessage::Failed(e.to_string()).encode())
                .await;
            let _ = writer.close().await;
            return;
        }
    };
    let spawn = Spawn {
        argv: open.command.clone(),
        cwd: root,
        env: Vec::new(),
        tty: open.tty.then(|| Tty {
            term: open
                .term
                .clone()
                .unwrap_or_else(|| "xterm-256color".to_owned()),
            cols: open.cols.unwrap_or(0),
            rows: open.rows.unwrap_or(0),
        }),
    };
    let (input, inputs) = tokio::sync::mpsc::channel(16);
    let (output, mut outputs) = tokio::sync::mpsc::channel(16);
    let running = process::run(spawn, inputs, output);
    let sending = {
        let writer = writer.clone();
        async move {
            while let Some(out) = outputs.recv().await {
                let message = match out {
                    Output::Stdout(bytes) => ExecMessage::Stdout(bytes),
                    Output::Stderr(bytes) => ExecMessage::Stderr(bytes),
                };
                if writer.send(&message.encode()).await.is_err() {
                    return;
                }
            }
        }
    };
    // Input from the CLI; a message that does not decode abandons the
    // command. The CLI's going away only ends the command's input.
    let feeding = async {
        let mut decoder = Decoder::default();
        while let Some(Ok(data)) = stream.recv().await {
            let Ok(messages) = decoder.push(&data) else {
                return;
            };
            for message in messages {
                let message = match message {
                    ExecMessage::Stdin(bytes) => Input::Stdin(bytes),
                    ExecMessage::StdinEnd => Input::StdinEnd,
                    ExecMessage::Resize { cols, rows } => Input::Resize { cols, rows },
                    _ => continue,
                };
                let _ = input.send(message).await;
            }
        }
        drop(input);
        std::future::pending::<()>().await;
    };
    let ended = tokio::select! {
        (ended, ()) = async { tokio::join!(running, sending) } => ended,
        () = feeding => return,
    };
    let last = match ended {
        Ok(code) => ExecMessage::Exit(code),
        Err(reason) => ExecMessage::Failed(reason),
    };
    let _ = writer.send(&last.encode()).await;
    let _ = writer.close().await;
}

/// How long a forward waits for its target to answer a connection.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

async fn forward(stream: Stream, meta: Value) {
    let open = match PortForwardOpen::from_meta(meta) {
        Ok(open) if open.port > 0 => open,
        _ => {
            stream
                .reset(
                    ResetCode::BadRequest,
                    "a port-forward names a port from 1 to 65535, and a host name or none",
                )
                .await;
            return;
        }
    };
    match connect(&open).await {
        Ok(tcp) => {
            pump_tcp(tcp, stream).await;
        }
        Err(reason) => stream.reset(ResetCode::Refused, &reason).await,
    }
}

/// Connects to a forward's target from here: the container's loopback, or
/// a service of the space by its name (the pod's DNS resolves it). An
/// error names the target and what went wrong.
pub(crate) async fn connect(open: &PortForwardOpen) -> Result<tokio::net::TcpStream, String> {
    let target = open.target();
    let addresses: Vec<std::net::SocketAddr> = match &open.host {
        None => vec![(std::net::Ipv4Addr::LOCALHOST, open.port).into()],
        Some(host) => {
            if host.is_empty()
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
            {
                return Err(format!("{host:?} is not a host name"));
            }
            tokio::net::lookup_host((host.as_str(), open.port))
                .await
                .map_err(|e| {
                    format!(
                        "no service named {host} in the space: the dev container cannot resolve it ({e})"
                    )
                })?
                .collect()
        }
    };
    let mut last = format!("{target} has no address");
    for address in addresses {
        match tokio::time::timeout(CONNECT_WITHIN, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(tcp)) => return Ok(tcp),
            Ok(Err(e)) if open.host.is_none() => {
                last = format!(
                    "nothing answers on port {} in the container: {e}",
                    open.port
                )
            }
            Ok(Err(e)) => last = format!("{target} ({address}) refused the connection: {e}"),
            Err(_) => {
                last = format!(
                    "{target} ({address}) did not answer within {} s",
                    CONNECT_WITHIN.as_secs()
                )
            }
        }
    }
    Err(last)
}

/// A reverse forward: listens on the container's loopback port for as long
/// as the CLI keeps the stream, and opens a stream back to the CLI for
/// each connection.
async fn listen(mut stream: Stream, meta: Value, mux: Mux) {
    let port = match ListenOpen::from_meta(meta) {
        Ok(open) if open.port > 0 => open.port,
        _ => {
            stream
                .reset(
                    ResetCode::BadRequest,
                    "a reverse forward names a container port from 1 to 65535",
                )
                .await;
            return;
        }
    };
    let listener = match tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await
    {
        Ok(listener) => listener,
        Err(e) => {
            stream
                .reset(
                    ResetCode::Refused,
                    &format!("cannot listen on port {port} in the container: {e}"),
                )
                .await;
            return;
        }
    };
    let said = serde_json::to_vec(&Listening { listening: port })
        .expect("a struct of one number serializes");
    if stream.send(&said).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let mux = mux.clone();
                    tokio::spawn(async move {
                        // A CLI that refuses resets the stream; the
                        // connection then closes.
                        if let Ok(back) = mux.open_with(&ReverseOpen { port }).await {
                            pump_tcp(tcp, back).await;
                        }
                    });
                }
                Err(e) => {
                    let reason = format!("the listener on port {port} in the container failed: {e}");
                    stream.reset(ResetCode::Refused, &reason).await;
                    return;
                }
            },
            received = stream.recv() => match received {
                // Nothing is expected from the CLI; its end stops the listener.
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    let _ = stream.close().await;
                    return;
                }
            },
        }
    }
}

/// [`pump`] for a TCP connection, split into its owned halves (no lock
/// between the two directions).
pub async fn pump_tcp(tcp: tokio::net::TcpStream, stream: Stream) -> Option<String> {
    let (read, write) = tcp.into_split();
    pump(read, write, stream).await
}

/// Copies between a connection's two halves (TCP, a pipe pair, stdin and
/// stdout) and a stream until both directions end; answers the peer's
/// reason when it reset the stream (a forward whose target refused).
pub async fn pump<R, W>(mut read: R, mut write: W, mut stream: Stream) -> Option<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin,
{
    let writer = stream.writer();
    let up = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.send(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.close().await;
    });
    let mut reset = None;
    while let Some(received) = stream.recv().await {
        match received {
            Ok(data) => {
                // A flush for writers that keep bytes back (a process's
                // stdout); a socket's is free.
                if write.write_all(&data).await.is_err() || write.flush().await.is_err() {
                    break;
                }
            }
            Err(berth_proto::mux::StreamError::Reset { reason, .. }) => {
                reset = Some(reason);
                break;
            }
            Err(berth_proto::mux::StreamError::Closed) => break,
        }
    }
    let _ = write.shutdown().await;
    if reset.is_some() {
        up.abort();
    }
    let _ = up.await;
    reset
}

/// Where a sync stream's folder is under the agent's root: `/app` and
/// `app` are both `ROOT/app`; nothing may leave the root.
pub fn sync_root(root: &Path, folder: &str) -> Result<PathBuf, String> {
    let trimmed = folder.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(root.to_path_buf());
    }
    let path = berth_sync::SyncPath::try_from(trimmed.to_owned())
        .map_err(|e| format!("the sync folder {folder:?} is not usable: {e}"))?;
    path.under(root).map_err(|e| e.to_string())
}

async fn sync(stream: Stream, meta: Value, root: PathBuf, dev: Arc<DevCommand>) {
    use berth_sync::engine::{self, Settings, SharedStatus};
    let ours = u64::from(berth_sync::wire::VERSION);
    let theirs = SyncOpen::version_of(&meta);
    if theirs != Some(ours) {
        let theirs = theirs.map_or_else(|| "none".to_owned(), |v| v.to_string());
        let reason = format!(
            "this agent speaks sync protocol {ours}, the CLI {theirs}; use the same berth on both ends"
        );
        stream.reset(ResetCode::Version, &reason).await;
        return;
    }
    let open = match SyncOpen::from_meta(meta) {
        Ok(open) => open,
        Err(e) => {
            stream.reset(ResetCode::BadRequest, &e.to_string()).await;
            return;
        }
    };
    let root = match sync_root(&root, &open.path) {
        Ok(root) => root,
        Err(reason) => {
            stream.reset(ResetCode::BadPath, &reason).await;
            return;
        }
    };
    let ignores = open.ignores;
    let (input, inbox) = tokio::sync::mpsc::channel(64);
    let (outbox, _) = berth_sync::link::attach(stream, input.clone());
    let stages = outbox.stages().clone();
    let settings = Settings {
        root: root.clone(),
        options: berth_sync::ScanOptions { ignores },
        index_file: None,
        watch: true,
    };
    let runtime = tokio::runtime::Handle::current();
    let previous = dev.indexes.lock().remove(&root);
    let folder = root.clone();
    let kept = dev.clone();
    let synced = move || {
        // Where the first sync's time went on this end, for whoever finds
        // it slow.
        (dev.say)(&format!(
            "the first sync of {} is applied; {}",
            folder.display(),
            stages.times()
        ));
        dev.start_once(&folder, &runtime);
    };
    let keep = move |index| {
        kept.indexes.lock().insert(root, index);
    };
    let _ = tokio::task::spawn_blocking(move || {
        engine::serve(
            settings,
            inbox,
            Some(input),
            outbox,
            SharedStatus::default(),
            previous,
            synced,
            keep,
        )
    })
    .await;
}

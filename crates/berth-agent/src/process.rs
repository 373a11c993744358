//! A command the agent runs for a caller, with or without a
//! pseudo-terminal: exec streams and SSH channels both run theirs here, so
//! input, output, terminal sizes and exit codes mean the same on both.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// What to run, where, and on what terminal.
#[derive(Debug, Clone)]
pub(crate) struct Spawn {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Set on top of the agent's own environment.
    pub env: Vec<(String, String)>,
    /// A pseudo-terminal of this size; pipes when none.
    pub tty: Option<Tty>,
}

#[derive(Debug, Clone)]
pub(crate) struct Tty {
    pub term: String,
    pub cols: u16,
    pub rows: u16,
}

/// From the caller to the command.
#[derive(Debug)]
pub(crate) enum Input {
    Stdin(Vec<u8>),
    StdinEnd,
    Resize { cols: u16, rows: u16 },
}

/// From the command to the caller (a terminal's output is all stdout).
#[derive(Debug)]
pub(crate) enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Runs `spawn` until it ends, feeding it `input` (whose end closes its
/// standard input; the command runs on) and sending what it writes to
/// `output`. Answers the exit code (128 + the signal for a command a signal
/// ended) once the command ended and all its output is sent, or why it
/// did not start. Dropping the future kills the command.
pub(crate) async fn run(
    spawn: Spawn,
    input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) -> Result<i32, String> {
    if spawn.argv.is_empty() {
        return Err("no command given".to_owned());
    }
    match spawn.tty.clone() {
        Some(tty) => on_terminal(spawn, tty, input, output).await,
        None => on_pipes(spawn, input, output).await,
    }
}

async fn on_pipes(
    spawn: Spawn,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) -> Result<i32, String> {
    let (program, arguments) = spawn.argv.split_first().expect("checked");
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .current_dir(&spawn.cwd)
        .envs(spawn.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
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
    for (i, stream) in outputs.into_iter().enumerate() {
        let Some(mut stream) = stream else { continue };
        let output = output.clone();
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 32 * 1024];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let bytes = buffer[..n].to_vec();
                        let message = if i == 0 {
                            Output::Stdout(bytes)
                        } else {
                            Output::Stderr(bytes)
                        };
                        if output.send(message).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }));
    }
    drop(output);
    let feeding = async {
        while let Some(message) = input.recv().await {
            match message {
                Input::Stdin(bytes) => {
                    if let Some(pipe) = stdin.as_mut()
                        && pipe.write_all(&bytes).await.is_err()
                    {
                        stdin = None;
                    }
                }
                Input::StdinEnd => stdin = None,
                Input::Resize { .. } => {}
            }
        }
        // Nothing more will come: the command reads the end of its input.
        stdin = None;
        std::future::pending::<Infallible>().await
    };
    let status = tokio::select! {
        status = child.wait() => status,
        never = feeding => match never {},
    };
    for reader in readers {
        let _ = reader.await;
    }
    Ok(match status {
        Ok(status) => status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }),
        Err(_) => 255,
    })
}

async fn on_terminal(
    spawn: Spawn,
    tty: Tty,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) -> Result<i32, String> {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let size = |cols: u16, rows: u16| PtySize {
        cols: if cols > 0 { cols } else { 80 },
        rows: if rows > 0 { rows } else { 24 },
        pixel_width: 0,
        pixel_height: 0,
    };
    let argv = &spawn.argv;
    let (master, mut child, mut reader, mut keys) = (|| -> Result<_, String> {
        let pair = native_pty_system()
            .openpty(size(tty.cols, tty.rows))
            .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
        let mut builder = CommandBuilder::new(&argv[0]);
        builder.args(&argv[1..]);
        builder.cwd(&spawn.cwd);
        for (key, value) in &spawn.env {
            builder.env(key, value);
        }
        builder.env("TERM", &tty.term);
        let child = pair
            .slave
            .spawn_command(builder)
            .map_err(|e| format!("{}: {e}", argv[0]))?;
        let reader = pair.master.try_clone_reader().map_err(|e| e.to_string())?;
        let keys = pair.master.take_writer().map_err(|e| e.to_string())?;
        // The terminal's other end goes with `pair.slave` here, so its
        // output ends once the command and its children closed it.
        Ok((pair.master, child, reader, keys))
    })()?;
    // Shared by reference across awaits: resizes come while output flows.
    let master = parking_lot::Mutex::new(master);
    // The terminal's output, read on a thread (the pty is blocking).
    let reading = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 32 * 1024];
        while let Ok(n) = std::io::Read::read(&mut reader, &mut buffer) {
            if n == 0
                || output
                    .blocking_send(Output::Stdout(buffer[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    let (waited_tx, waited_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = waited_tx.send(child.wait());
    });
    let feeding = async {
        while let Some(message) = input.recv().await {
            match message {
                Input::Stdin(bytes) => {
                    if std::io::Write::write_all(&mut keys, &bytes).is_err() {
                        break;
                    }
                }
                Input::Resize { cols, rows } => {
                    let _ = master.lock().resize(size(cols, rows));
                }
                Input::StdinEnd => {}
            }
        }
        std::future::pending::<Infallible>().await
    };
    let status = tokio::select! {
        status = waited_rx => status,
        never = feeding => match never {},
    };
    drop(master);
    let _ = tokio::task::spawn_blocking(move || reading.join()).await;
    Ok(match status {
        Ok(Ok(status)) => status.exit_code() as i32,
        _ => 255,
    })
}

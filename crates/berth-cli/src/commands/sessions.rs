//! `berth session create|list|end`, `berth exec` and `berth port-forward`:
//! dev sessions through the relay.

use std::io::Write;

use berth_core::session::{SessionCreated, SessionView};
use berth_proto::ExecOpen;
use berth_proto::exec::{Decoder, ExecMessage};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::client::Client;
use crate::manifest::{ForwardTo, Reverse};
use crate::output::{self, Failure, Format};
use crate::relay;

#[derive(Debug, clap::Subcommand)]
pub enum SessionCommand {
    /// Start a dev session in a space; prints the agent's token once.
    Create {
        /// The current space when left out.
        space: Option<String>,
    },
    /// Your live dev sessions (admins: everyone's).
    #[command(alias = "ls")]
    List,
    /// End a dev session: both sides are disconnected.
    End { id: String },
}

pub async fn run(
    client: &Client,
    command: SessionCommand,
    format: Format,
    context: Option<&str>,
) -> Result<(), Failure> {
    match command {
        SessionCommand::Create { space } => {
            let space = crate::commands::spaces::space_or_current(space, context)?;
            let created: SessionCreated = client
                .post("/api/v1/sessions", &json!({"space": space}))
                .await?;
            match format {
                Format::Table => {
                    eprintln!(
                        "Dev session {} in {}. Start the agent with BERTH_AGENT_URL={} and this token (shown once):",
                        created.session.id,
                        created.session.space,
                        client.base()
                    );
                    output::write_stdout(format!("{}\n", created.agent_token).as_bytes())
                }
                _ => output::structured(format, &created),
            }
        }
        SessionCommand::List => {
            let sessions: Vec<SessionView> = client.get("/api/v1/sessions").await?;
            match format {
                Format::Table => output::table(
                    &[
                        "ID", "SPACE", "OWNER", "STATE", "CLIENT", "AGENT", "STREAMS", "SINCE",
                    ],
                    sessions
                        .iter()
                        .map(|s| {
                            vec![
                                s.id.clone(),
                                s.space.clone(),
                                s.owner.clone(),
                                format!("{:?}", s.state).to_lowercase(),
                                yes(s.client_connected),
                                yes(s.agent_connected),
                                s.streams.to_string(),
                                s.created_at.to_string(),
                            ]
                        })
                        .collect(),
                ),
                _ => output::structured(format, &sessions),
            }
        }
        SessionCommand::End { id } => {
            let view: SessionView = client.delete(&format!("/api/v1/sessions/{id}")).await?;
            eprintln!("Session {} ended.", view.id);
            Ok(())
        }
    }
}

/// The terminal in raw mode, restored when dropped.
struct RawMode;

impl RawMode {
    fn enter() -> Option<RawMode> {
        crossterm::terminal::enable_raw_mode()
            .ok()
            .map(|()| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn token(client: &Client) -> Result<String, Failure> {
    client
        .token()
        .map(str::to_owned)
        .ok_or_else(|| Failure::new("you are not signed in", "run `berth login`"))
}

pub async fn attach(client: &Client, session: &str) -> Result<relay::Session, Failure> {
    relay::start(
        client.base().to_owned(),
        token(client)?,
        session.to_owned(),
        |line| eprintln!("berth: {line}"),
    )
    .await
}

/// `berth exec SESSION -- COMMAND...`: runs a command in the dev container,
/// with this terminal's stdin, stdout and stderr; exits with its code.
pub async fn exec(
    client: &Client,
    session: &str,
    command: Vec<String>,
    tty: bool,
) -> Result<i32, Failure> {
    use std::io::IsTerminal;
    let relay = attach(client, session).await?;
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".to_owned());
    let mut stream = relay
        .mux
        .open_with(&ExecOpen {
            command,
            tty,
            cols: Some(cols),
            rows: Some(rows),
            term: Some(term),
        })
        .await
        .map_err(|e| Failure::new(format!("cannot start the command: {e}"), "try again"))?;
    let writer = stream.writer();
    // Keys go through as typed; the terminal is restored however this ends.
    let _raw = (tty && std::io::stdin().is_terminal())
        .then(RawMode::enter)
        .flatten();
    if tty {
        let writer = writer.clone();
        tokio::spawn(async move {
            let Ok(mut resized) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
            else {
                return;
            };
            while resized.recv().await.is_some() {
                if let Ok((cols, rows)) = crossterm::terminal::size()
                    && writer
                        .send(&ExecMessage::Resize { cols, rows }.encode())
                        .await
                        .is_err()
                {
                    return;
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer
                        .send(&ExecMessage::Stdin(buffer[..n].to_vec()).encode())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = writer.send(&ExecMessage::StdinEnd.encode()).await;
    });
    let mut decoder = Decoder::default();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some(data) = stream.recv().await {
        let data = data.map_err(|e| {
            Failure::new(
                format!("the command's stream ended: {e}"),
                "check `berth session list`",
            )
        })?;
        let messages = decoder.push(&data).map_err(|e| {
            Failure::new(
                format!("the agent sent a bad message: {e}"),
                "update berth on both ends",
            )
        })?;
        for message in messages {
            match message {
                ExecMessage::Stdout(bytes) => {
                    let _ = stdout.write_all(&bytes);
                    let _ = stdout.flush();
                }
                ExecMessage::Stderr(bytes) => {
                    let _ = stderr.write_all(&bytes);
                    let _ = stderr.flush();
                }
                ExecMessage::Exit(code) => return Ok(code),
                ExecMessage::Failed(reason) => {
                    return Err(Failure::new(
                        format!("the command did not start: {reason}"),
                        "check the command and the dev container",
                    ));
                }
                _ => {}
            }
        }
    }
    Err(Failure::new(
        "the command's stream ended without an exit status",
        "check the agent's log",
    ))
}

/// `berth port-forward SESSION FORWARD... [--reverse REMOTE:LOCAL]...`:
/// local TCP ports that reach ports in the dev container or services of
/// the space (LOCAL 0 picks a free port), and container ports that reach
/// back to this machine.
pub async fn port_forward(
    client: &Client,
    session: &str,
    forwards: Vec<String>,
    reverses: Vec<String>,
) -> Result<(), Failure> {
    let wrong = |what: String| Failure::new(what, "see `berth port-forward --help`");
    let forwards = forwards
        .iter()
        .map(|f| ForwardTo::parse(f).map_err(wrong))
        .collect::<Result<Vec<_>, _>>()?;
    let reverses = reverses
        .into_iter()
        .map(|r| Reverse::try_from(r).map(|r| r.ports()).map_err(wrong))
        .collect::<Result<Vec<_>, _>>()?;
    if forwards.is_empty() && reverses.is_empty() {
        return Err(wrong("nothing to forward".to_owned()));
    }
    let relay = attach(client, session).await?;
    for to in &forwards {
        let bound = relay.forward(to).await?;
        eprintln!("Forwarding 127.0.0.1:{bound} -> {}", to.remote());
    }
    for (remote, local) in reverses {
        relay.reverse(remote, local).await?;
        eprintln!("Forwarding container port {remote} -> 127.0.0.1:{local}");
    }
    let reason = relay
        .task
        .await
        .unwrap_or_else(|_| "the relay task failed".to_owned());
    Err(Failure::new(
        format!("the session is over: {reason}"),
        "start a new one with `berth session create`",
    ))
}

//! SSH into the dev container, for IDEs (VS Code Remote-SSH, JetBrains
//! Gateway) and for `ssh`, `scp`, `sftp` and `rsync`: an SSH server
//! (`russh`) that runs on each `ssh` stream of the session, so no `sshd`
//! is needed in the image and nothing listens on the network.
//!
//! Who may connect was decided before the first SSH byte: the stream only
//! exists on an attachment the relay paired for the session's owner, who
//! signed in to Berth. So the server takes SSH's `none` authentication and
//! nothing else; the host key is made when the agent starts, one per dev
//! session. Sessions run commands (`exec`) and shells, with or without a
//! pseudo-terminal, the `sftp` subsystem, and local port forwards
//! (`direct-tcpip`, dialled as a port-forward stream is).

use std::path::PathBuf;
use std::sync::Arc;

use berth_proto::PortForwardOpen;
use berth_proto::mux::Stream;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, ChannelOpenFailure};
use tokio::io::AsyncWriteExt;

use crate::process::{self, Input, Output, Spawn, Tty};

/// The agent's SSH server: its host key and where commands run.
#[derive(Clone)]
pub(crate) struct Server {
    config: Arc<russh::server::Config>,
    root: PathBuf,
    workdir: PathBuf,
}

impl Server {
    /// A server with a new Ed25519 host key.
    pub(crate) fn new(root: PathBuf, workdir: PathBuf) -> Server {
        let seed: [u8; 32] = rand::random();
        let key = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed);
        let config = russh::server::Config {
            methods: russh::MethodSet::from(&[russh::MethodKind::None][..]),
            keys: vec![russh::keys::PrivateKey::from(key)],
            // The relay's heartbeats and resume keep the connection; an
            // IDE's idle connection is not ended from here.
            inactivity_timeout: None,
            auth_rejection_time: std::time::Duration::from_millis(0),
            nodelay: true,
            ..Default::default()
        };
        Server {
            config: Arc::new(config),
            root,
            workdir,
        }
    }

    /// Serves one SSH connection carried by `stream` until it ends.
    pub(crate) async fn serve(&self, stream: Stream) {
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        let (read, write) = tokio::io::split(theirs);
        let carrying = tokio::spawn(crate::serve::pump(read, write, stream));
        let handler = Connection {
            root: self.root.clone(),
            workdir: self.workdir.clone(),
            sftp: std::collections::HashSet::new(),
        };
        if let Ok(running) = russh::server::run_stream(self.config.clone(), ours, handler).await {
            let _ = running.await;
        }
        let _ = carrying.await;
    }
}

/// One SSH connection's handler: it accepts channels and says yes to each
/// channel request; each session channel's own task does the work.
struct Connection {
    root: PathBuf,
    workdir: PathBuf,
    /// The channels serving SFTP: their end of input ends them, with
    /// status 0, as `sftp-server` exits.
    sftp: std::collections::HashSet<ChannelId>,
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        tokio::spawn(session_channel(
            channel,
            self.root.clone(),
            self.workdir.clone(),
        ));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Ok(port) = u16::try_from(port_to_connect) else {
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return Ok(());
        };
        let open = PortForwardOpen {
            port,
            host: Some(host_to_connect.to_owned()),
        };
        tokio::spawn(async move {
            match crate::serve::connect(&open).await {
                Ok(mut tcp) => {
                    reply.accept().await;
                    let mut channel = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut channel).await;
                    let _ = channel.shutdown().await;
                }
                Err(_) => reply.reject(ChannelOpenFailure::ConnectFailed).await,
            }
        });
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.sftp.remove(&channel) {
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == "sftp" {
            self.sftp.insert(channel);
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }
}

/// What a session channel runs.
enum Run {
    Command(String),
    Shell,
}

/// A terminal dimension as SSH sends it (`u32`), as a terminal takes it.
fn cells(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// One session channel: its environment and terminal, then a command, a
/// shell or SFTP, until it ends.
async fn session_channel(mut channel: Channel<Msg>, root: PathBuf, workdir: PathBuf) {
    let mut env = Vec::new();
    let mut tty = None;
    let run = loop {
        match channel.wait().await {
            Some(ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            }) => env.push((variable_name, variable_value)),
            Some(ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            }) => {
                tty = Some(Tty {
                    term,
                    cols: cells(col_width),
                    rows: cells(row_height),
                });
            }
            Some(ChannelMsg::Exec { command, .. }) => {
                break Run::Command(String::from_utf8_lossy(&command).into_owned());
            }
            Some(ChannelMsg::RequestShell { .. }) => break Run::Shell,
            Some(ChannelMsg::RequestSubsystem { name, .. }) if name == "sftp" => {
                crate::sftp::serve(channel.into_stream(), root, workdir).await;
                return;
            }
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return,
            Some(_) => {}
        }
    };
    // As sshd does: the command through a shell, the shell as a login one.
    let argv = match run {
        Run::Command(line) => vec!["sh".to_owned(), "-c".to_owned(), line],
        Run::Shell => vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "exec \"${SHELL:-/bin/sh}\" -l".to_owned(),
        ],
    };
    let spawn = Spawn {
        argv,
        cwd: workdir,
        env,
        tty,
    };
    let (mut read, write) = channel.split();
    let (input, inputs) = tokio::sync::mpsc::channel(16);
    let (output, mut outputs) = tokio::sync::mpsc::channel(16);
    let running = process::run(spawn, inputs, output);
    let sending = async {
        let mut stdout = write.make_writer();
        let mut stderr = write.make_writer_ext(Some(1));
        while let Some(out) = outputs.recv().await {
            let written = match out {
                Output::Stdout(bytes) => stdout.write_all(&bytes).await,
                Output::Stderr(bytes) => stderr.write_all(&bytes).await,
            };
            if written.is_err() {
                return;
            }
        }
        let _ = stdout.flush().await;
        let _ = stderr.flush().await;
    };
    // The client closing the channel abandons the command.
    let feeding = async {
        while let Some(message) = read.wait().await {
            let message = match message {
                ChannelMsg::Data { data } => Input::Stdin(data.to_vec()),
                ChannelMsg::Eof => Input::StdinEnd,
                ChannelMsg::WindowChange {
                    col_width,
                    row_height,
                    ..
                } => Input::Resize {
                    cols: cells(col_width),
                    rows: cells(row_height),
                },
                ChannelMsg::Close => return,
                _ => continue,
            };
            let _ = input.send(message).await;
        }
    };
    let ended = tokio::select! {
        (ended, ()) = async { tokio::join!(running, sending) } => ended,
        () = feeding => return,
    };
    let code = match ended {
        Ok(code) => code,
        Err(reason) => {
            let mut stderr = write.make_writer_ext(Some(1));
            let _ = stderr.write_all(format!("{reason}\r\n").as_bytes()).await;
            let _ = stderr.flush().await;
            127
        }
    };
    let _ = write.exit_status(u32::try_from(code).unwrap_or(255)).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

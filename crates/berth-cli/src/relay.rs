//! The CLI's side of the relay: [`berth_dial`] with the CLI's errors, the
//! port forwards that ride on a session (local ports into the space, and
//! container ports back to this machine), and the streams the agent opens
//! toward the CLI (only connections of the reverse forwards asked for).

use std::collections::HashMap;
use std::sync::Arc;

pub use berth_dial::{Refused, Role, first, run};
use berth_proto::mux::{Incoming, Mux, StreamError};
use berth_proto::{ListenOpen, Listening, OpenMeta, ResetCode, ReverseOpen, StreamKind};
use parking_lot::Mutex;

use crate::manifest::ForwardTo;
use crate::output::Failure;

/// An attachment to a dev session, as the CLI uses it.
pub struct Session {
    pub mux: Mux,
    /// Ends with the reason the attachment is over.
    pub task: tokio::task::JoinHandle<String>,
    /// Reverse forwards asked for: the container's port and the local one.
    reverses: Arc<Mutex<HashMap<u16, u16>>>,
}

/// The CLI's side: connects (the first connection must work) and keeps the
/// attachment going.
pub async fn start(
    base: String,
    token: String,
    session: String,
    say: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Session, Failure> {
    let connected = first(&base, Role::Client, &token, Some(&session), &say)
        .await
        .map_err(|e| match e {
            Refused::Relay(reason) => Failure::new(
                format!("the relay refused: {reason}"),
                "check the session id and that it has not ended (`berth session list`)",
            ),
            Refused::Network(reason) => Failure::new(
                format!("cannot reach the relay: {reason}"),
                "check that berthd runs there and the URL is right",
            ),
        })?;
    let berth_dial::Session {
        mux,
        incoming,
        task,
    } = run(base, Role::Client, token, Some(session), connected, say);
    let reverses = Arc::default();
    tokio::spawn(accept(incoming, Arc::clone(&reverses)));
    Ok(Session {
        mux,
        task,
        reverses,
    })
}

impl Session {
    /// Listens on `127.0.0.1:LOCAL` and carries each connection to the
    /// forward's target (the agent dials it); answers the port bound
    /// (LOCAL 0 picks one). A target that refuses is said on stderr, per
    /// connection, by name.
    pub async fn forward(&self, to: &ForwardTo) -> Result<u16, Failure> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", to.local))
            .await
            .map_err(|e| {
                Failure::new(
                    format!("cannot listen on 127.0.0.1:{}: {e}", to.local),
                    "pick another local port",
                )
            })?;
        let bound = listener.local_addr().map_or(to.local, |a| a.port());
        let mux = self.mux.clone();
        let open = to.open();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let mux = mux.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    let refused = match mux.open_with(&open).await {
                        Ok(stream) => berth_agent::pump_tcp(tcp, stream).await,
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(reason) = refused {
                        eprintln!("berth: cannot forward to {}: {reason}", open.target());
                    }
                });
            }
        });
        Ok(bound)
    }

    /// Has the agent listen on the container's loopback port `remote` and
    /// carries each connection to `127.0.0.1:LOCAL` here, for as long as
    /// the attachment lasts. Answers once the agent listens.
    pub async fn reverse(&self, remote: u16, local: u16) -> Result<(), Failure> {
        let failed = |reason: String| {
            Failure::new(
                format!("cannot forward container port {remote} back to {local}: {reason}"),
                "pick another container port",
            )
        };
        if let Some(taken) = self.reverses.lock().insert(remote, local) {
            return Err(failed(format!("it leads to {taken} already")));
        }
        let mut stream = self
            .mux
            .open_with(&ListenOpen { port: remote })
            .await
            .map_err(|e| failed(e.to_string()))?;
        let answer = match stream.recv().await {
            Some(Ok(data)) => serde_json::from_slice::<Listening>(&data)
                .map_err(|e| format!("the agent's answer does not parse: {e}")),
            Some(Err(StreamError::Reset { reason, .. })) => Err(reason),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("the agent closed the stream".to_owned()),
        };
        if let Err(reason) = answer {
            self.reverses.lock().remove(&remote);
            return Err(failed(reason));
        }
        // The listener lasts as long as this stream.
        let reverses = Arc::clone(&self.reverses);
        tokio::spawn(async move {
            while let Some(Ok(_)) = stream.recv().await {}
            reverses.lock().remove(&remote);
        });
        Ok(())
    }
}

/// Serves what the agent opens: a connection on a reverse forward's
/// container port goes to its local port; anything else is refused.
async fn accept(mut incoming: Incoming, reverses: Arc<Mutex<HashMap<u16, u16>>>) {
    while let Some((stream, kind, meta)) = incoming.accept().await {
        let local = match kind {
            StreamKind::Reverse => match ReverseOpen::from_meta(meta) {
                Ok(open) => reverses.lock().get(&open.port).copied().ok_or((
                    ResetCode::Refused,
                    format!("no reverse forward from container port {}", open.port),
                )),
                Err(e) => Err((ResetCode::BadRequest, e.to_string())),
            },
            other => Err((
                ResetCode::UnsupportedKind,
                format!("the CLI does not serve {other:?} streams"),
            )),
        };
        tokio::spawn(async move {
            let local = match local {
                Ok(local) => local,
                Err((code, reason)) => return stream.reset(code, &reason).await,
            };
            match tokio::net::TcpStream::connect(("127.0.0.1", local)).await {
                Ok(tcp) => {
                    berth_agent::pump_tcp(tcp, stream).await;
                }
                Err(e) => {
                    let reason = format!("nothing answers on 127.0.0.1:{local} here: {e}");
                    eprintln!("berth: a reverse forward's connection: {reason}");
                    stream.reset(ResetCode::Refused, &reason).await;
                }
            }
        });
    }
}

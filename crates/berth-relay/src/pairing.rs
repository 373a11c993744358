//! Pairing: a new connection's HELLO is read and checked (the owner's API
//! token, or the session's agent token), and the connection is paired with
//! a waiting one of the other side, or resumes its attachment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_audit::{ActorKind, EventActor, NewEvent, Outcome};
use berth_proto::messages::VERSION;
use berth_proto::{CloseReason, Frame, Handshake, Hello};

use crate::Relay;
use crate::live::{Attachment, Live, Role, Waiting};
use crate::records::{AGENT_TOKENS, target};
use crate::socket::{Credentials, SocketRx, SocketTx};

impl Relay {
    /// Handles a new connection: reads its HELLO, checks who it is, and
    /// pairs it with the session's other side. Refusals close the socket
    /// with the reason.
    pub async fn attach(
        self: &Arc<Self>,
        credentials: Credentials,
        mut tx: Box<dyn SocketTx>,
        mut rx: Box<dyn SocketRx>,
    ) {
        match self.admit(credentials, &mut rx).await {
            Ok((live, role, hello)) => self.join(live, role, hello, tx, rx).await,
            Err(reason) => {
                tracing::info!(%reason, "a relay connection was refused");
                tx.close(reason).await;
            }
        }
    }

    async fn admit(
        &self,
        credentials: Credentials,
        rx: &mut Box<dyn SocketRx>,
    ) -> Result<(Arc<Live>, Role, Hello), String> {
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .map_err(|_| "no HELLO within 10s".to_owned())?
            .ok_or_else(|| "closed before HELLO".to_owned())??;
        let hello = match Frame::decode(&first) {
            Ok(Frame::Hello(value)) => Hello::from_json(value).map_err(|e| e.to_string())?,
            Ok(_) => return Err("the first frame must be HELLO".to_owned()),
            Err(e) => return Err(e.to_string()),
        };
        if hello.version != VERSION {
            return Err(format!(
                "protocol version {} is not spoken here (this relay speaks {VERSION})",
                hello.version
            ));
        }
        let (id, role) = match credentials {
            Credentials::Client(actor) => {
                let id = hello
                    .session
                    .clone()
                    .ok_or("a client HELLO must name its session")?;
                let record = self
                    .authorized(&actor, &id, "session.attach")
                    .await
                    .map_err(|e| e.message)?;
                if record.owner_id != actor.user.id {
                    return Err("only the session's owner attaches to it".to_owned());
                }
                (id, Role::Client)
            }
            Credentials::Agent(token) => {
                let id = self
                    .store
                    .get(AGENT_TOKENS, &self.hasher.hash(&token))
                    .map_err(|e| e.to_string())?
                    .ok_or("this agent token is not valid")?;
                if hello.session.as_ref().is_some_and(|s| s != &id) {
                    self.auth
                        .record(
                            NewEvent::new(
                                EventActor {
                                    kind: ActorKind::Token,
                                    id: None,
                                    name: format!("agent of {id}"),
                                },
                                "session.attach",
                                target(hello.session.as_deref().unwrap_or(""), ""),
                                Outcome::Denied,
                            )
                            .reason("an agent token used for another session"),
                        )
                        .await;
                    return Err("this agent token is for another session".to_owned());
                }
                (id, Role::Agent)
            }
        };
        let live = self
            .live
            .lock()
            .get(&id)
            .cloned()
            .ok_or_else(|| "the session has ended".to_owned())?;
        Ok((live, role, hello))
    }

    async fn join(
        self: &Arc<Self>,
        live: Arc<Live>,
        role: Role,
        hello: Hello,
        tx: Box<dyn SocketTx>,
        rx: Box<dyn SocketRx>,
    ) {
        enum Next {
            Refuse(Box<dyn SocketTx>, String),
            Wait(Option<Waiting>),
            Pair(u64, Waiting, Waiting, Option<Waiting>),
        }
        let next = {
            let mut state = live.state.lock();
            let arrived = Waiting {
                tx,
                rx,
                last_received: hello.resume.as_ref().map_or(0, |r| r.last_received),
            };
            if let Some(ended) = &state.ended {
                Next::Refuse(
                    arrived.tx,
                    CloseReason::SessionEnded(ended.clone()).to_string(),
                )
            } else if let Some(resume) = &hello.resume {
                match state.tokens.get(&resume.token).copied() {
                    Some((id, side)) if side == role => {
                        state.tokens.remove(&resume.token);
                        let attachment = state.attachments.entry(id).or_default();
                        // A reconnect while the old connection still looks
                        // alive: the old one is stale (a laptop that
                        // slept). Stop the splice; the other side
                        // reconnects too.
                        if attachment.connected {
                            if let Some(splice) = attachment.splice.take() {
                                let _ = splice.stop.send(format!("the {} reconnected; resume", role.name()));
                            }
                            attachment.connected = false;
                            attachment.apart_since = Some(Instant::now());
                        }
                        let replaced = attachment.waiting[role as usize].replace(arrived);
                        match attachment.waiting[role.other() as usize].take() {
                            Some(other) => {
                                let mine = attachment.waiting[role as usize].take();
                                match mine {
                                    Some(mine) => Next::Pair(id, mine, other, replaced),
                                    None => Next::Wait(replaced),
                                }
                            }
                            None => Next::Wait(replaced),
                        }
                    }
                    _ => Next::Refuse(arrived.tx, "the resume token is not valid (the attachment ended, or it is another side's)".to_owned()),
                }
            } else {
                // A fresh connection: pair it with a fresh one of the other
                // side, or wait for one.
                let other = match role {
                    Role::Client => state.idle_agents.pop_front(),
                    Role::Agent => state.waiting_clients.pop_front(),
                };
                match other {
                    Some(other) => {
                        state.next_attachment += 1;
                        let id = state.next_attachment;
                        state.attachments.insert(id, Attachment::default());
                        Next::Pair(id, arrived, other, None)
                    }
                    None => {
                        match role {
                            Role::Client => state.waiting_clients.push_back(arrived),
                            Role::Agent => state.idle_agents.push_back(arrived),
                        }
                        Next::Wait(None)
                    }
                }
            }
        };
        match next {
            Next::Refuse(mut tx, reason) => {
                tracing::info!(%reason, "a relay connection was refused");
                tx.close(reason).await;
            }
            Next::Wait(replaced) => {
                if let Some(mut old) = replaced {
                    old.tx
                        .close("replaced by a newer connection".to_owned())
                        .await;
                }
            }
            Next::Pair(id, mine, other, replaced) => {
                if let Some(mut old) = replaced {
                    old.tx
                        .close("replaced by a newer connection".to_owned())
                        .await;
                }
                let (client, agent) = match role {
                    Role::Client => (mine, other),
                    Role::Agent => (other, mine),
                };
                self.splice(live, id, client, agent).await;
            }
        }
    }
}

//! The splice: once paired, each side gets its WELCOME and frames move
//! between the two connections, one task per direction, reading only
//! headers (stream opens are audited, bytes counted, activity noted).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use berth_audit::{ActorKind, EventActor, NewEvent, Outcome};
use berth_auth::secrets::random_secret;
use berth_proto::messages::{VERSION, describe_open};
use berth_proto::{Frame, Handshake, Header, Welcome};

use crate::Relay;
use crate::live::{Live, Role, Splice, Waiting};
use crate::records::target;
use crate::socket::{SocketRx, SocketTx};

impl Relay {
    pub(crate) async fn splice(
        self: &Arc<Self>,
        live: Arc<Live>,
        attachment: u64,
        mut client: Waiting,
        mut agent: Waiting,
    ) {
        let (client_token, agent_token) = (random_secret(), random_secret());
        {
            let mut state = live.state.lock();
            state
                .tokens
                .insert(client_token.clone(), (attachment, Role::Client));
            state
                .tokens
                .insert(agent_token.clone(), (attachment, Role::Agent));
        }
        let welcome = |token: &str, peer: u64| {
            Frame::Welcome(
                Welcome {
                    version: VERSION,
                    session: live.record.id.clone(),
                    attachment,
                    resume_token: token.to_owned(),
                    peer_last_received: peer,
                }
                .to_json(),
            )
            .encode()
        };
        let to_client = welcome(&client_token, agent.last_received);
        let to_agent = welcome(&agent_token, client.last_received);
        let sent = client.tx.send(to_client.into()).await.is_ok()
            & agent.tx.send(to_agent.into()).await.is_ok();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<String>();
        let epoch = {
            let mut state = live.state.lock();
            let Some(entry) = state.attachments.get_mut(&attachment) else {
                return;
            };
            entry.epoch += 1;
            if sent {
                entry.connected = true;
                entry.apart_since = None;
                entry.splice = Some(Splice { stop: stop_tx });
            } else {
                entry.apart_since = Some(Instant::now());
            }
            entry.epoch
        };
        if !sent {
            // One side went before it heard back; the other resumes.
            client
                .tx
                .close("the other side went away; resume".to_owned())
                .await;
            agent
                .tx
                .close("the other side went away; resume".to_owned())
                .await;
            return;
        }
        tracing::info!(session = %live.record.id, attachment, "dev session attachment connected");
        let this = self.clone();
        tokio::spawn(async move {
            let Waiting {
                tx: client_tx,
                rx: client_rx,
                ..
            } = client;
            let Waiting {
                tx: agent_tx,
                rx: agent_rx,
                ..
            } = agent;
            let mut closers = [client_tx.handle(), agent_tx.handle()];
            let up = this
                .clone()
                .pump(live.clone(), attachment, Role::Client, client_rx, agent_tx);
            let down =
                this.clone()
                    .pump(live.clone(), attachment, Role::Agent, agent_rx, client_tx);
            // When one direction ends (or the session is stopped), the other
            // is dropped with it, and both sides are told why.
            let reason = tokio::select! {
                reason = up => reason,
                reason = down => reason,
                reason = stop_rx => reason.unwrap_or_else(|_| "the relay stopped the session".to_owned()),
            };
            for closer in &mut closers {
                closer.close(reason.clone()).await;
            }
            let mut state = live.state.lock();
            if let Some(entry) = state.attachments.get_mut(&attachment)
                && entry.epoch == epoch
            {
                entry.connected = false;
                entry.splice = None;
                entry.apart_since = Some(Instant::now());
            }
            tracing::info!(session = %live.record.id, attachment, %reason, "dev session attachment disconnected");
        });
    }

    /// Moves frames from one side to the other, reading only headers;
    /// returns why it stopped.
    async fn pump(
        self: Arc<Self>,
        live: Arc<Live>,
        attachment: u64,
        from: Role,
        mut rx: Box<dyn SocketRx>,
        mut tx: Box<dyn SocketTx>,
    ) -> String {
        let counter = match from {
            Role::Client => &live.to_agent,
            Role::Agent => &live.to_client,
        };
        loop {
            let frame = match rx.recv().await {
                None => {
                    return format!("the {} disconnected; resume to continue", from.name());
                }
                Some(Err(e)) => {
                    return format!(
                        "the {} connection failed ({e}); resume to continue",
                        from.name()
                    );
                }
                Some(Ok(frame)) => frame,
            };
            match Header::peek(&frame) {
                Err(e) => {
                    let reason = format!("the {} sent a bad frame: {e}", from.name());
                    let _ = self.end(&live.record.id, &reason, None).await;
                    return reason;
                }
                Ok(Header::Open {
                    stream, kind, meta, ..
                }) => {
                    let over = {
                        let mut state = live.state.lock();
                        state.open_streams.insert((attachment, stream));
                        state.open_streams.len() > self.config.max_streams_per_session
                    };
                    if over {
                        let reason = format!(
                            "more than {} streams open at once",
                            self.config.max_streams_per_session
                        );
                        let _ = self.end(&live.record.id, &reason, None).await;
                        return reason;
                    }
                    let actor = EventActor {
                        kind: ActorKind::User,
                        id: Some(live.record.owner_id.clone()),
                        name: live.record.owner.clone(),
                    };
                    let event = NewEvent::new(
                        actor,
                        "session.stream",
                        target(&live.record.id, &live.record.space),
                        Outcome::Success,
                    )
                    .reason(format!(
                        "{} opened {}",
                        from.name(),
                        describe_open(kind, &meta)
                    ));
                    self.auth.record(event).await;
                }
                Ok(Header::Reset { stream, .. }) => {
                    live.state.lock().open_streams.remove(&(attachment, stream));
                }
                Ok(_) => {}
            }
            counter.fetch_add(frame.len() as u64, Ordering::Relaxed);
            *live.last_traffic.lock() = Instant::now();
            self.note_activity(&live).await;
            if let Err(e) = tx.send(frame).await {
                return format!(
                    "the {} connection failed ({e}); resume to continue",
                    from.other().name()
                );
            }
        }
    }

    /// Relay traffic keeps the space awake; noted at most once a minute.
    async fn note_activity(&self, live: &Live) {
        let due = {
            let mut last = live.last_activity_note.lock();
            let due = last.is_none_or(|t| t.elapsed() > Duration::from_secs(60));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let what = format!("dev session of {}", live.record.owner);
            if let Err(e) = self.spaces.activity(&live.record.space, &what, false).await {
                tracing::warn!(error = %e.message, "cannot note a space's activity");
            }
        }
    }
}

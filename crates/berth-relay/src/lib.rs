//! The relay: dev sessions that pair a `berth` CLI and a `berth agent`, both
//! dialling out to `berthd` over WebSockets, and splice their frames.
//!
//! The relay reads only frame headers ([`berth_proto::Header`]): it audits
//! stream opens, counts streams and bytes, and enforces limits; payloads
//! pass untouched. Each direction is its own task, so a slow reader on one
//! side holds back only the writer on the other (through TCP), never the
//! relay or another session. When either side drops, the relay closes the
//! other too; both reconnect within the grace period with their resume
//! tokens, learn in the WELCOME how far the other got, and resend the rest
//! from their replay buffers (see `docs/protocol.md`).
//!
//! Invariant: a session's two sides are its owner's CLI (with the owner's
//! API token) and an agent holding that session's own agent token (stored
//! hashed); nothing else attaches, and every stream open is audited.

pub mod config;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_audit::{ActorKind, Audit, EventActor, EventResource, NewEvent, Outcome};
use berth_auth::secrets::{Hasher, random_id, random_secret};
use berth_auth::{Action, Actor, Auth, actor_of};
use berth_core::session::{NewSession, SessionCreated, SessionState, SessionView};
use berth_core::{Clock, Error, Timestamp};
use berth_proto::{Frame, Header, StreamKind};
use berth_spaces::Spaces;
use berth_store::{Store, Table};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::RelayConfig;

/// Agent tokens start with this, so leaked ones can be found by scanners.
pub const AGENT_PREFIX: &str = "berth_agt_";
/// The protocol version this relay speaks.
pub const VERSION: u64 = 1;

const SESSIONS: Table<SessionRecord> = Table::new("relay.sessions");
/// Agent token hash to session id.
const AGENT_TOKENS: Table<String> = Table::new("relay.agent_tokens");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SessionRecord {
    id: String,
    space: String,
    owner_id: String,
    owner: String,
    created_at: Timestamp,
    ended_at: Option<Timestamp>,
    ended_reason: Option<String>,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The sending half of a WebSocket, as the relay uses it.
pub trait SocketTx: Send {
    fn send(&mut self, frame: Bytes) -> BoxFuture<'_, Result<(), String>>;
    /// Closes the connection with a reason the peer is shown.
    fn close(&mut self, reason: String) -> BoxFuture<'_, ()>;
    /// Another handle to the same connection (to close it from elsewhere).
    fn handle(&self) -> Box<dyn SocketTx>;
}

/// The receiving half: whole binary messages. A text message, a message
/// over the size limit, or a peer that stops answering pings is an error.
pub trait SocketRx: Send {
    fn recv(&mut self) -> BoxFuture<'_, Option<Result<Bytes, String>>>;
}

/// Who is attaching.
pub enum Credentials {
    /// The CLI, authenticated by the owner's API token.
    Client(Box<Actor>),
    /// `berth agent`, with the session's agent token.
    Agent(String),
}

#[derive(Debug, Deserialize)]
struct Hello {
    version: u64,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    resume: Option<Resume>,
}

#[derive(Debug, Deserialize)]
struct Resume {
    token: String,
    last_received: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Client = 0,
    Agent = 1,
}

impl Role {
    fn other(self) -> Role {
        match self {
            Role::Client => Role::Agent,
            Role::Agent => Role::Client,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Agent => "agent",
        }
    }
}

/// A connection that said HELLO and waits for its other side.
struct Waiting {
    tx: Box<dyn SocketTx>,
    rx: Box<dyn SocketRx>,
    last_received: u64,
}

/// A running splice, and how to stop it with a reason both sides are told.
struct Splice {
    stop: tokio::sync::oneshot::Sender<String>,
}

/// One CLI connection paired with one agent connection. A session has as
/// many as the CLI commands using it at once (`berth exec` in one
/// terminal, `berth port-forward` in another); each resumes on its own.
#[derive(Default)]
struct Attachment {
    /// A side that reconnected and waits for the other to.
    waiting: [Option<Waiting>; 2],
    connected: bool,
    /// Bumped each time a splice starts; a splice that ends checks it is
    /// still the current one before touching the state.
    epoch: u64,
    splice: Option<Splice>,
    /// When the attachment was last without both sides (for the grace
    /// period).
    apart_since: Option<Instant>,
}

#[derive(Default)]
struct LiveState {
    /// Agent connections ready for the next CLI.
    idle_agents: VecDeque<Waiting>,
    /// CLI connections waiting for an agent.
    waiting_clients: VecDeque<Waiting>,
    attachments: HashMap<u64, Attachment>,
    next_attachment: u64,
    /// Resume token to the attachment and side it resumes.
    tokens: HashMap<String, (u64, Role)>,
    open_streams: HashSet<(u64, u32)>,
    ended: Option<String>,
}

struct Live {
    record: SessionRecord,
    state: Mutex<LiveState>,
    to_agent: AtomicU64,
    to_client: AtomicU64,
    last_traffic: Mutex<Instant>,
    last_activity_note: Mutex<Option<Instant>>,
}

impl Live {
    fn state(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The relay service.
pub struct Relay {
    store: Arc<Store>,
    audit: Arc<Audit>,
    auth: Arc<Auth>,
    spaces: Arc<Spaces>,
    config: RelayConfig,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

fn target(id: &str, space: &str) -> EventResource {
    EventResource {
        kind: "session".to_owned(),
        id: Some(id.to_owned()),
        name: Some(id.to_owned()),
        space: Some(space.to_owned()),
    }
}

/// A short description of a stream for the audit log: the port-forward
/// target or the exec command line.
fn describe_open(kind: StreamKind, meta: &Value) -> String {
    match kind {
        StreamKind::PortForward => format!("port-forward to port {}", meta["port"]),
        StreamKind::Exec => {
            let words: Vec<String> = meta["command"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|w| w.as_str().unwrap_or("?").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "exec{}: {}",
                if meta["tty"] == true { " (tty)" } else { "" },
                words.join(" ")
            )
        }
        StreamKind::Control => "control".to_owned(),
        StreamKind::Sync => format!("sync of {}", meta["path"]),
    }
}

impl Relay {
    pub fn new(
        auth: Arc<Auth>,
        spaces: Arc<Spaces>,
        config: RelayConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Relay>, Error> {
        config.validate().map_err(|e| Error::invalid("relay", e))?;
        let store = auth.audit().store().clone();
        let hasher = Hasher::new(store.secret_key("relay-hash").map_err(Error::from)?);
        Ok(Arc::new(Relay {
            audit: auth.audit().clone(),
            store,
            auth,
            spaces,
            config,
            clock,
            hasher,
            live: Mutex::default(),
        }))
    }

    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    fn lives(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn view(&self, record: &SessionRecord) -> SessionView {
        let live = self.lives().get(&record.id).cloned();
        let (state, client, agent, streams, to_agent, to_client) = match &live {
            Some(live) => {
                let s = live.state();
                let connected = s.attachments.values().any(|a| a.connected);
                let state = if s.ended.is_some() {
                    SessionState::Ended
                } else if connected {
                    SessionState::Connected
                } else if !s.attachments.is_empty() {
                    SessionState::Resuming
                } else {
                    SessionState::Waiting
                };
                (
                    state,
                    connected || !s.waiting_clients.is_empty(),
                    connected || !s.idle_agents.is_empty(),
                    s.open_streams.len() as u64,
                    live.to_agent.load(Ordering::Relaxed),
                    live.to_client.load(Ordering::Relaxed),
                )
            }
            None => (SessionState::Ended, false, false, 0, 0, 0),
        };
        SessionView {
            id: record.id.clone(),
            space: record.space.clone(),
            owner: record.owner.clone(),
            owner_id: record.owner_id.clone(),
            created_at: record.created_at,
            state,
            client_connected: client,
            agent_connected: agent,
            streams,
            bytes_to_agent: to_agent,
            bytes_to_client: to_client,
            ended_reason: record.ended_reason.clone(),
            ended_at: record.ended_at,
        }
    }

    /// Starts a dev session in a space the caller may use; the agent token
    /// is in the answer only.
    pub async fn create(
        self: &Arc<Self>,
        actor: &Actor,
        req: NewSession,
    ) -> Result<SessionCreated, Error> {
        self.spaces
            .check_use(actor, &req.space, "session.create")
            .await?;
        let live_for_user = self
            .lives()
            .values()
            .filter(|l| l.record.owner_id == actor.user.id && l.state().ended.is_none())
            .count();
        if live_for_user >= self.config.max_sessions_per_user {
            return Err(Error::forbidden(format!(
                "you have {live_for_user} live dev sessions, the most allowed; end one first"
            )));
        }
        let record = SessionRecord {
            id: format!("s-{}", random_id()),
            space: req.space.clone(),
            owner_id: actor.user.id.clone(),
            owner: actor.user.username.to_string(),
            created_at: self.clock.now(),
            ended_at: None,
            ended_reason: None,
        };
        let token = format!("{AGENT_PREFIX}{}", random_secret());
        let hash = self.hasher.hash(&token);
        let event = NewEvent::new(
            actor_of(actor),
            "session.create",
            target(&record.id, &record.space),
            Outcome::Success,
        )
        .origin(actor.origin.clone());
        let (_, sealed) = self
            .audit
            .commit(&[SESSIONS.name, AGENT_TOKENS.name], |tx| {
                tx.put(SESSIONS, &record.id, &record)?;
                tx.put(AGENT_TOKENS, &hash, &record.id)?;
                Ok(((), event.clone()))
            })?;
        self.audit.durable(sealed.seq).await?;
        let live = Arc::new(Live {
            record: record.clone(),
            state: Mutex::new(LiveState::default()),
            to_agent: AtomicU64::new(0),
            to_client: AtomicU64::new(0),
            last_traffic: Mutex::new(Instant::now()),
            last_activity_note: Mutex::new(None),
        });
        self.lives().insert(record.id.clone(), live.clone());
        tokio::spawn(self.clone().watch(live));
        let _ = self
            .spaces
            .activity(
                &record.space,
                &format!("dev session of {} started", record.owner),
                true,
            )
            .await;
        Ok(SessionCreated {
            session: self.view(&record),
            agent_token: token,
        })
    }

    fn load(&self, id: &str) -> Result<SessionRecord, Error> {
        self.store
            .get(SESSIONS, id)
            .map_err(Error::from)?
            .ok_or_else(|| Error::not_found("session", id))
    }

    async fn authorized(
        &self,
        actor: &Actor,
        id: &str,
        audit_action: &str,
    ) -> Result<SessionRecord, Error> {
        let record = self.store.get(SESSIONS, id).map_err(Error::from)?;
        let own = record.as_ref().is_some_and(|r| r.owner_id == actor.user.id);
        let space = record.as_ref().map(|r| r.space.clone()).unwrap_or_default();
        self.auth
            .allow(
                actor,
                Action::UseSession { id, own },
                audit_action,
                target(id, &space),
            )
            .await?;
        record.ok_or_else(|| Error::not_found("session", id))
    }

    /// Your live sessions; every live session for admins.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SessionView>, Error> {
        let all = berth_auth::policy::authorize(actor, Action::ListAllSessions).is_ok();
        // Collected first: `view` takes the same lock.
        let records: Vec<SessionRecord> = self
            .lives()
            .values()
            .filter(|l| all || l.record.owner_id == actor.user.id)
            .map(|l| l.record.clone())
            .collect();
        let mut views: Vec<SessionView> = records.iter().map(|r| self.view(r)).collect();
        views.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(views)
    }

    pub async fn get(&self, actor: &Actor, id: &str) -> Result<SessionView, Error> {
        let record = self.authorized(actor, id, "session.get").await?;
        Ok(self.view(&record))
    }

    /// Ends a session now: both sides are disconnected and cannot resume.
    pub async fn terminate(&self, actor: &Actor, id: &str) -> Result<SessionView, Error> {
        let record = self.authorized(actor, id, "session.terminate").await?;
        let reason = format!("terminated by {}", actor.user.username);
        let event = NewEvent::new(
            actor_of(actor),
            "session.terminate",
            target(id, &record.space),
            Outcome::Success,
        )
        .origin(actor.origin.clone());
        self.end(id, &reason, Some(event)).await?;
        Ok(self.view(&self.load(id)?))
    }

    /// Marks a session over, disconnects both sides, and forgets its agent
    /// token's use (the token stops working).
    async fn end(&self, id: &str, reason: &str, event: Option<NewEvent>) -> Result<(), Error> {
        let live = self.lives().remove(id);
        if let Some(live) = &live {
            let waiting: Vec<Waiting> = {
                let mut state = live.state();
                if state.ended.is_some() {
                    return Ok(());
                }
                state.ended = Some(reason.to_owned());
                let mut waiting: Vec<Waiting> = state.idle_agents.drain(..).collect();
                waiting.extend(state.waiting_clients.drain(..));
                for (_, attachment) in state.attachments.drain() {
                    if let Some(splice) = attachment.splice {
                        let _ = splice.stop.send(format!("session ended: {reason}"));
                    }
                    waiting.extend(attachment.waiting.into_iter().flatten());
                }
                waiting
            };
            for mut w in waiting {
                w.tx.close(format!("session ended: {reason}")).await;
            }
        }
        let now = self.clock.now();
        let space = live
            .as_ref()
            .map(|l| l.record.space.clone())
            .unwrap_or_default();
        let event = event.unwrap_or_else(|| {
            NewEvent::new(
                EventActor::system(),
                "session.end",
                target(id, &space),
                Outcome::Success,
            )
            .reason(reason)
        });
        let (_, sealed) = self.audit.commit(&[SESSIONS.name], |tx| {
            if let Some(mut record) = tx.get(SESSIONS, id)?
                && record.ended_at.is_none()
            {
                record.ended_at = Some(now);
                record.ended_reason = Some(reason.to_owned());
                tx.put(SESSIONS, id, &record)?;
            }
            Ok(((), event.clone()))
        })?;
        self.audit.durable(sealed.seq).await?;
        tracing::info!(session = id, reason, "dev session ended");
        Ok(())
    }

    /// Ends the session when a side stays away past the grace period or
    /// nothing travels for the idle timeout.
    async fn watch(self: Arc<Self>, live: Arc<Live>) {
        let tick = (self.config.grace / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::time::sleep(tick).await;
            // Attachments whose side did not come back in time end; the
            // session goes on.
            let expired: Vec<Waiting> = {
                let mut state = live.state();
                if state.ended.is_some() {
                    return;
                }
                let gone: Vec<u64> = state
                    .attachments
                    .iter()
                    .filter(|(_, a)| {
                        !a.connected
                            && a.apart_since
                                .is_some_and(|t| t.elapsed() > self.config.grace)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                let mut closing = Vec::new();
                for id in gone {
                    if let Some(attachment) = state.attachments.remove(&id) {
                        closing.extend(attachment.waiting.into_iter().flatten());
                    }
                    state.tokens.retain(|_, (a, _)| *a != id);
                    state.open_streams.retain(|(a, _)| *a != id);
                }
                closing
            };
            for mut w in expired {
                w.tx.close(format!(
                    "the other side did not come back within {}s",
                    self.config.grace.as_secs()
                ))
                .await;
            }
            let idle = live
                .last_traffic
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed();
            if idle > self.config.idle_timeout {
                let reason = format!("no traffic for {}s", self.config.idle_timeout.as_secs());
                if let Err(e) = self.end(&live.record.id, &reason, None).await {
                    tracing::error!(error = %e.message, "cannot end a dev session");
                }
                return;
            }
        }
    }

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
            Ok(Frame::Hello(value)) => serde_json::from_value::<Hello>(value)
                .map_err(|e| format!("a HELLO that does not parse: {e}"))?,
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
            .lives()
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
            let mut state = live.state();
            let arrived = Waiting {
                tx,
                rx,
                last_received: hello.resume.as_ref().map_or(0, |r| r.last_received),
            };
            if let Some(ended) = &state.ended {
                Next::Refuse(arrived.tx, format!("session ended: {ended}"))
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

    async fn splice(
        self: &Arc<Self>,
        live: Arc<Live>,
        attachment: u64,
        mut client: Waiting,
        mut agent: Waiting,
    ) {
        let (client_token, agent_token) = (random_secret(), random_secret());
        {
            let mut state = live.state();
            state
                .tokens
                .insert(client_token.clone(), (attachment, Role::Client));
            state
                .tokens
                .insert(agent_token.clone(), (attachment, Role::Agent));
        }
        let welcome = |token: &str, peer: u64| {
            Frame::Welcome(json!({
                "version": VERSION,
                "session": live.record.id,
                "attachment": attachment,
                "resume_token": token,
                "peer_last_received": peer,
            }))
            .encode()
        };
        let to_client = welcome(&client_token, agent.last_received);
        let to_agent = welcome(&agent_token, client.last_received);
        let sent = client.tx.send(to_client.into()).await.is_ok()
            & agent.tx.send(to_agent.into()).await.is_ok();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<String>();
        let epoch = {
            let mut state = live.state();
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
            let mut state = live.state();
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
                        let mut state = live.state();
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
                    live.state().open_streams.remove(&(attachment, stream));
                }
                Ok(_) => {}
            }
            counter.fetch_add(frame.len() as u64, Ordering::Relaxed);
            *live.last_traffic.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
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
            let mut last = live
                .last_activity_note
                .lock()
                .unwrap_or_else(|p| p.into_inner());
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

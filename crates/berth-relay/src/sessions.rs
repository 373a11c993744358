//! The session lifecycle: create (with its agent token), list, read,
//! terminate, end, and the watch that ends attachments past the grace
//! period and sessions past the idle timeout.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use berth_audit::{EventActor, NewEvent, Outcome};
use berth_auth::secrets::{random_id, random_secret};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_core::session::{NewSession, SessionCreated, SessionState, SessionView};
use berth_proto::CloseReason;

use crate::live::{Live, LiveState, Waiting};
use crate::records::{AGENT_TOKENS, SESSIONS, SessionRecord, target};
use crate::{AGENT_PREFIX, Relay};

impl Relay {
    fn view(&self, record: &SessionRecord) -> SessionView {
        let live = self.live.lock().get(&record.id).cloned();
        let (state, client, agent, streams, to_agent, to_client) = match &live {
            Some(live) => {
                let s = live.state.lock();
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
            .live
            .lock()
            .values()
            .filter(|l| l.record.owner_id == actor.user.id && l.state.lock().ended.is_none())
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
        self.audit
            .commit_durable(&[SESSIONS.name, AGENT_TOKENS.name], |tx| {
                tx.put(SESSIONS, &record.id, &record)?;
                tx.put(AGENT_TOKENS, &hash, &record.id)?;
                Ok(((), event.clone()))
            })
            .await?;
        let live = Arc::new(Live {
            record: record.clone(),
            state: Mutex::new(LiveState::default()),
            to_agent: AtomicU64::new(0),
            to_client: AtomicU64::new(0),
            last_traffic: Mutex::new(Instant::now()),
            last_activity_note: Mutex::new(None),
        });
        self.live.lock().insert(record.id.clone(), live.clone());
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

    pub(crate) fn load(&self, id: &str) -> Result<SessionRecord, Error> {
        self.store
            .get(SESSIONS, id)
            .map_err(Error::from)?
            .ok_or_else(|| Error::not_found("session", id))
    }

    pub(crate) async fn authorized(
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
            .live
            .lock()
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
    pub(crate) async fn end(
        &self,
        id: &str,
        reason: &str,
        event: Option<NewEvent>,
    ) -> Result<(), Error> {
        let live = self.live.lock().remove(id);
        if let Some(live) = &live {
            let waiting: Vec<Waiting> = {
                let mut state = live.state.lock();
                if state.ended.is_some() {
                    return Ok(());
                }
                state.ended = Some(reason.to_owned());
                let mut waiting: Vec<Waiting> = state.idle_agents.drain(..).collect();
                waiting.extend(state.waiting_clients.drain(..));
                for (_, attachment) in state.attachments.drain() {
                    if let Some(splice) = attachment.splice {
                        let _ = splice
                            .stop
                            .send(CloseReason::SessionEnded(reason.to_owned()).to_string());
                    }
                    waiting.extend(attachment.waiting.into_iter().flatten());
                }
                waiting
            };
            for mut w in waiting {
                w.tx.close(CloseReason::SessionEnded(reason.to_owned()).to_string())
                    .await;
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
        self.audit
            .commit_durable(&[SESSIONS.name], |tx| {
                if let Some(mut record) = tx.get(SESSIONS, id)?
                    && record.ended_at.is_none()
                {
                    record.ended_at = Some(now);
                    record.ended_reason = Some(reason.to_owned());
                    tx.put(SESSIONS, id, &record)?;
                }
                Ok(((), event.clone()))
            })
            .await?;
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
                let mut state = live.state.lock();
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
            let idle = live.last_traffic.lock().elapsed();
            if idle > self.config.idle_timeout {
                let reason = format!("no traffic for {}s", self.config.idle_timeout.as_secs());
                if let Err(e) = self.end(&live.record.id, &reason, None).await {
                    tracing::error!(error = %e.message, "cannot end a dev session");
                }
                return;
            }
        }
    }
}

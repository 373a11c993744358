//! Sleep and wake through the API, and activity from other subsystems,
//! which restarts a space's idle clock and may wake it. Each records what
//! the space should be and kicks the reconciler, which brings the
//! workloads there. A sleep or wake asked for through the API is a new
//! round even when the space already is so, so asking again goes over
//! every workload once more (after a kind was skipped, or to bring back
//! what an interrupted sleep left behind).

use std::time::Duration;

use berth_audit::{EventActor, NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_core::space::{SpaceView, Wakefulness};
use serde_json::json;

use super::{Spaces, target};
use crate::records::{SPACES, SpaceRecord, StatusRecord};
use crate::workloads;

impl Spaces {
    pub async fn sleep(&self, actor: &Actor, name: &str) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.sleep", |role| Action::UseSpace {
            name,
            role,
        })
        .await?;
        let by = actor.user.username.to_string();
        let now = self.now();
        let record = self
            .edit(name, |record| {
                let event = NewEvent::new(
                    actor_of(actor),
                    "space.sleep",
                    target(name),
                    Outcome::Success,
                )
                .origin(actor.origin.clone())
                .change("asleep", json!(record.wakefulness.asleep), json!(true));
                record.set_wakefulness(Wakefulness {
                    asleep: true,
                    reason: format!("put to sleep by {by} at {}", now.clock_time()),
                    by: by.clone(),
                    since: now,
                });
                Ok(event)
            })
            .await?;
        self.view_of(&record, actor)
    }

    pub async fn wake(&self, actor: &Actor, name: &str) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.wake", |role| Action::UseSpace {
            name,
            role,
        })
        .await?;
        let by = actor.user.username.to_string();
        let record = self
            .wake_as(
                name,
                actor_of(actor),
                actor.origin.clone(),
                &by,
                &format!("woken by {by}"),
            )
            .await?;
        self.view_of(&record, actor)
    }

    async fn wake_as(
        &self,
        name: &str,
        who: EventActor,
        origin: berth_audit::Origin,
        by: &str,
        why: &str,
    ) -> Result<SpaceRecord, Error> {
        let now = self.now();
        self.edit(name, |record| {
            let event = NewEvent::new(who.clone(), "space.wake", target(name), Outcome::Success)
                .origin(origin.clone())
                .change("asleep", json!(record.wakefulness.asleep), json!(false))
                .reason(why);
            record.set_wakefulness(Wakefulness {
                asleep: false,
                reason: format!("{why} at {}", now.clock_time()),
                by: by.to_owned(),
                since: now,
            });
            record.last_activity = now;
            record.last_activity_reason = why.to_owned();
            Ok(event)
        })
        .await
    }

    /// Activity on a space from another subsystem (a dev session, relay
    /// traffic, a catalog action): restarts its idle clock, and wakes it
    /// when `wake` is set and it is asleep, or its last wake stopped short.
    /// Written at most once a minute unless it wakes.
    pub async fn activity(&self, name: &str, what: &str, wake: bool) -> Result<(), Error> {
        let record = self.load(name)?;
        let short = || Ok::<_, Error>(stopped_short(&record, self.status(name)?.as_ref()));
        if wake && (record.wakefulness.asleep || short()?) {
            self.wake_as(
                name,
                EventActor::system(),
                berth_audit::Origin::default(),
                "berth",
                what,
            )
            .await?;
            return Ok(());
        }
        let now = self.now();
        if now.since(record.last_activity) < ACTIVITY_EVERY {
            return Ok(());
        }
        self.store
            .transact(&[SPACES.name], |tx| {
                if let Some(mut record) = tx.get(SPACES, name)? {
                    record.last_activity = now;
                    record.last_activity_reason = what.to_owned();
                    tx.put(SPACES, name, &record)?;
                }
                Ok(())
            })
            .map_err(Error::from)
    }
}

/// How often activity on a space is written: its idle clock is counted in
/// minutes, so a busier space costs no more writes.
pub(super) const ACTIVITY_EVERY: Duration = Duration::from_secs(60);

/// Whether the last sleep or wake of `record` stopped short for good (a
/// kind skipped): asking for it again starts it over.
fn stopped_short(record: &SpaceRecord, status: Option<&StatusRecord>) -> bool {
    status.is_some_and(|s| workloads::stopped_short(record, s))
}

impl Spaces {
    /// Wakes space `name` for `what` (such as `berth up`, which needs its
    /// workloads) and waits, up to `within`, until every workload is back.
    /// None when it was wholly awake; otherwise what waking did, or what
    /// is still pending, in words for the developer.
    pub async fn wake_fully(
        &self,
        name: &str,
        what: &str,
        within: Duration,
    ) -> Result<Option<String>, Error> {
        let record = self.load(name)?;
        let status = self.status(name)?;
        if status
            .as_ref()
            .is_none_or(|s| workloads::wholly_awake(&record, s))
        {
            self.activity(name, what, true).await?;
            return Ok(None);
        }
        let deadline = tokio::time::Instant::now() + within;
        let mut written = self.statuses.subscribe();
        self.activity(name, what, true).await?;
        // Retries wait for their backoff; this one is asked for now.
        self.kick(name);
        loop {
            let record = self.load(name)?;
            let status = self
                .status(name)?
                .unwrap_or_else(|| StatusRecord::pending(&record.quota_profile));
            if let Some(report) = workloads::woke(&record, &status) {
                return Ok(Some(report));
            }
            // A written status wakes this; the sender lives as long as
            // `self`, so `changed` fails only by the deadline.
            if tokio::time::timeout_at(deadline, written.changed())
                .await
                .is_err()
            {
                return Ok(Some(workloads::still_waking(&record, &status)));
            }
        }
    }
}

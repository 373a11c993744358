//! Sleep and wake through the API, and activity from other subsystems,
//! which restarts a space's idle clock and may wake it.

use berth_audit::{EventActor, NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_core::space::{SpaceView, Wakefulness};
use serde_json::json;

use super::{Spaces, target};
use crate::records::{SPACES, SpaceRecord};

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
                if !record.wakefulness.asleep {
                    record.wakefulness = Wakefulness {
                        asleep: true,
                        reason: format!("put to sleep by {by} at {}", now.clock_time()),
                        by: by.clone(),
                        since: now,
                    };
                }
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
            if record.wakefulness.asleep {
                record.wakefulness = Wakefulness {
                    asleep: false,
                    reason: format!("{why} at {}", now.clock_time()),
                    by: by.to_owned(),
                    since: now,
                };
            }
            record.last_activity = now;
            record.last_activity_reason = why.to_owned();
            Ok(event)
        })
        .await
    }

    /// Activity on a space from another subsystem (a dev session, relay
    /// traffic, a catalog action): restarts its idle clock, and wakes it
    /// when `wake` is set. Written at most once a minute unless it wakes.
    pub async fn activity(&self, name: &str, what: &str, wake: bool) -> Result<(), Error> {
        let record = self.load(name)?;
        if wake && record.wakefulness.asleep {
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
        if now.since(record.last_activity) < std::time::Duration::from_secs(60) {
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

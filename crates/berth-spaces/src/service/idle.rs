//! The idle clock: spaces idle past `idle_sleep` are put to sleep, and
//! those idle past `idle_delete` deleted.

use berth_audit::{EventActor, NewEvent, Outcome};
use berth_core::Error;
use berth_core::space::Wakefulness;
use serde_json::json;

use super::{Spaces, target};
use crate::records::SPACES;

impl Spaces {
    /// Puts idle spaces to sleep and deletes those idle past `idle_delete`;
    /// returns how many it changed. Persistent spaces are left alone.
    pub async fn check_idle(&self) -> Result<usize, Error> {
        let now = self.now();
        let mut changed = 0;
        for (name, record) in self.store.scan(SPACES, "").map_err(Error::from)? {
            if record.persistent || record.deleting.is_some() {
                continue;
            }
            let idle = now.since(record.last_activity);
            let since = record.last_activity.clock_time();
            if let Some(limit) = self.config.idle_delete
                && idle >= limit
            {
                let reason = format!(
                    "idle for {} (no activity since {})",
                    humantime::format_duration(limit),
                    record.last_activity
                );
                self.edit(&name, |r| {
                    r.deleting = Some(now);
                    Ok(NewEvent::new(
                        EventActor::system(),
                        "space.delete",
                        target(&name),
                        Outcome::Success,
                    )
                    .reason(reason.clone()))
                })
                .await?;
                changed += 1;
            } else if !record.wakefulness.asleep && idle >= self.config.idle_sleep {
                let reason = format!("idle since {since}");
                self.edit(&name, |r| {
                    r.set_wakefulness(Wakefulness {
                        asleep: true,
                        reason: reason.clone(),
                        by: "berth".to_owned(),
                        since: now,
                    });
                    Ok(NewEvent::new(
                        EventActor::system(),
                        "space.sleep",
                        target(&name),
                        Outcome::Success,
                    )
                    .reason(reason.clone())
                    .change("asleep", json!(false), json!(true)))
                })
                .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }
}

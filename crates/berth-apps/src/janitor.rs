//! Keeping the records true over time: at start, operations left running
//! are followed again (a Job) or recorded as failed (a local Helm that died
//! with the daemon); every minute, the records of deleted spaces are
//! forgotten.

use std::sync::Arc;
use std::time::Duration;

use berth_core::Error;
use berth_core::app::OperationState;
use berth_core::audit::{EventActor, NewEvent, Outcome};

use crate::logs::Live;
use crate::records::{APPS, AppRecord, resource};
use crate::{Apps, run};

/// How often the apps of deleted spaces are looked for.
const FORGET_EVERY: Duration = Duration::from_secs(60);

impl Apps {
    /// Operations recorded as running when the daemon stopped: a Job is
    /// followed again; a local Helm process died with the daemon, so its
    /// operation is recorded as failed.
    pub fn start(self: &Arc<Self>) -> Result<(), Error> {
        let records: Vec<(String, AppRecord)> = self.audit.store().scan(APPS, "")?;
        for (id, record) in records {
            if record.operation.state != OperationState::Running {
                continue;
            }
            let live = Live::new();
            self.running.lock().insert(id.clone(), live.clone());
            let apps = self.clone();
            let job = run::Operation {
                record,
                prepared: None,
                live,
                actor: EventActor::system(),
                origin: berth_audit::Origin::default(),
            };
            tokio::spawn(async move { apps.resume(job).await });
        }
        let apps = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FORGET_EVERY).await;
                if let Err(e) = apps.forget_deleted_spaces().await {
                    tracing::warn!(error = %e.message, "cannot forget the apps of deleted spaces");
                }
            }
        });
        Ok(())
    }

    /// A deleted space took its releases with its namespace: their
    /// records go too (audited), so a new space of that name starts empty.
    pub async fn forget_deleted_spaces(&self) -> Result<usize, Error> {
        let records: Vec<(String, AppRecord)> = self.audit.store().scan(APPS, "")?;
        let mut forgotten = 0;
        for (id, record) in records {
            if self.stale(&record)? && self.forget(&id, &record).await? {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Forgets the record of a release whose space is gone; not while an
    /// operation runs on it (it ends recorded first). Answers whether it
    /// was forgotten.
    pub(crate) async fn forget(&self, id: &str, record: &AppRecord) -> Result<bool, Error> {
        let event = NewEvent::new(
            EventActor::system(),
            "app.forget",
            resource(&record.space, &record.name),
            Outcome::Success,
        )
        .reason(format!(
            "space {} was deleted (installed {})",
            record.space, record.installed_at
        ));
        let sealed = {
            let running = self.running.lock();
            if running.contains_key(id) {
                return Ok(false);
            }
            self.audit.commit(&[APPS.name], |tx| {
                tx.delete(APPS, id)?;
                Ok(((), event.clone()))
            })
        };
        let (_, sealed) = sealed?;
        self.audit.durable(sealed.seq).await?;
        Ok(true)
    }
}

//! Helm operations on a release: install, upgrade and uninstall check the
//! caller and the values, record the release as running with the
//! operation's start event (one operation per release at a time), run it
//! in the background (`run`), and record how it ended.

use std::sync::Arc;

use berth_auth::{Actor, actor_of};
use berth_core::Error;
use berth_core::app::{
    AppView, InstallRequest, OperationKind, OperationState, OperationView, UpgradeRequest, merge,
};
use berth_core::audit::{EventActor, NewEvent, Outcome};
use berth_core::time::Timestamp;
use serde_json::Value;

use crate::config::Runner;
use crate::logs::{Live, tail_start};
use crate::records::{APPS, AppRecord, key, resource, status};
use crate::{Apps, run};

/// Operations ended, by kind and outcome, for the daemon's metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// [install, upgrade, uninstall] × [succeeded, failed]
    ended: [[std::sync::atomic::AtomicU64; 2]; 3],
}

impl Counters {
    fn slot(kind: OperationKind) -> usize {
        match kind {
            OperationKind::Install => 0,
            OperationKind::Upgrade => 1,
            OperationKind::Uninstall => 2,
        }
    }

    fn count(&self, kind: OperationKind, succeeded: bool) {
        self.ended[Self::slot(kind)][usize::from(!succeeded)]
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many operations of `kind` ended so, since the daemon started.
    pub fn ended(&self, kind: OperationKind, succeeded: bool) -> u64 {
        self.ended[Self::slot(kind)][usize::from(!succeeded)]
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Five random lowercase letters and digits.
fn suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

fn action_of(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Install => "app.install",
        OperationKind::Upgrade => "app.upgrade",
        OperationKind::Uninstall => "app.uninstall",
    }
}

/// A release name: a DNS label short enough for the Job and Secret names
/// made from it.
fn check_name(name: &str) -> Result<(), Error> {
    berth_core::name::AppName::parse(name).map(drop)
}

impl Apps {
    /// Installs a catalog item into a space. The values are checked first
    /// (a 422 names the value); Helm then runs in the background.
    pub async fn install(
        self: &Arc<Self>,
        actor: &Actor,
        space: &str,
        req: InstallRequest,
    ) -> Result<AppView, Error> {
        let name = req.name.clone().unwrap_or_else(|| req.item.clone());
        self.spaces.check_use(actor, space, "app.install").await?;
        let given = req
            .values
            .unwrap_or_else(|| Value::Object(Default::default()));
        let result = async {
            check_name(&name)?;
            match self.current_one(space, &name).await {
                Ok(existing) => {
                    return Err(Error::conflict(format!(
                        "an app named {name} is in space {space} already ({} from {}); upgrade or uninstall it",
                        status(&existing.operation), existing.item
                    )));
                }
                Err(e) if e.code == berth_core::ErrorCode::NotFound => {}
                Err(e) => return Err(e),
            }
            self.runnable()?;
            let prepared = self.catalog.prepare(&req.item, &given, false).await?;
            let now = self.clock.now();
            let record = AppRecord {
                space: space.to_owned(),
                name: name.clone(),
                item: prepared.item.clone(),
                chart: prepared.chart.clone(),
                chart_version: prepared.version.clone(),
                values: given.clone(),
                operation: self.operation(actor, 1, OperationKind::Install, &prepared.version, &name, now),
                log: String::new(),
                release: None,
                installed_by: actor.user.username.to_string(),
                installed_at: now,
            };
            self.begin(actor, record, Some(prepared), true).await
        }
        .await;
        self.auth
            .audited(actor, "app.install", resource(space, &name), result)
            .await
    }

    /// Upgrades a release to the newest chart version its item's range
    /// takes, with `values` laid over those given before.
    pub async fn upgrade(
        self: &Arc<Self>,
        actor: &Actor,
        space: &str,
        name: &str,
        req: UpgradeRequest,
    ) -> Result<AppView, Error> {
        self.spaces.check_use(actor, space, "app.upgrade").await?;
        let result = async {
            let mut record = self.current_one(space, name).await?;
            self.runnable()?;
            let mut values = if req.reset_values {
                Value::Object(Default::default())
            } else {
                record.values.clone()
            };
            if let Some(given) = &req.values {
                if !given.is_object() {
                    return Err(Error::invalid("values", "values must be a map"));
                }
                merge(&mut values, given);
            }
            let prepared = match self.catalog.prepare(&record.item, &values, true).await {
                Err(e) if e.code == berth_core::ErrorCode::NotFound => {
                    return Err(Error::conflict(format!(
                        "catalog item {} was deleted: {name} can be uninstalled, not upgraded",
                        record.item
                    )));
                }
                other => other?,
            };
            record.values = values;
            // An admin may have moved the item to another chart.
            record.chart = prepared.chart.clone();
            record.operation = self.operation(
                actor,
                record.operation.number + 1,
                OperationKind::Upgrade,
                &prepared.version,
                name,
                self.clock.now(),
            );
            self.begin(actor, record, Some(prepared), false).await
        }
        .await;
        self.auth
            .audited(actor, "app.upgrade", resource(space, name), result)
            .await
    }

    /// Uninstalls a release; once Helm is done, it is gone from the space
    /// and from Berth.
    pub async fn uninstall(
        self: &Arc<Self>,
        actor: &Actor,
        space: &str,
        name: &str,
    ) -> Result<AppView, Error> {
        self.spaces.check_use(actor, space, "app.uninstall").await?;
        let result = async {
            let mut record = self.current_one(space, name).await?;
            self.runnable()?;
            record.operation = self.operation(
                actor,
                record.operation.number + 1,
                OperationKind::Uninstall,
                &record.chart_version.clone(),
                name,
                self.clock.now(),
            );
            self.begin(actor, record, None, false).await
        }
        .await;
        self.auth
            .audited(actor, "app.uninstall", resource(space, name), result)
            .await
    }

    fn operation(
        &self,
        actor: &Actor,
        number: u32,
        kind: OperationKind,
        version: &str,
        name: &str,
        now: Timestamp,
    ) -> OperationView {
        OperationView {
            number,
            kind,
            state: OperationState::Running,
            chart_version: version.to_owned(),
            started_by: actor.user.username.to_string(),
            started_at: now,
            finished_at: None,
            error: None,
            runner: match self.runner {
                Runner::Local(_) => "helm".to_owned(),
                Runner::Job => berth_kube::helm::job_name(name, number, &suffix()),
            },
        }
    }

    /// Whether Helm can run here: with a local runner, the binary must be
    /// there.
    fn runnable(&self) -> Result<(), Error> {
        match self.runner {
            Runner::Local(_) => self.helm_binary().map(|_| ()),
            Runner::Job => Ok(()),
        }
    }

    /// Records the operation as running (one per release: a second is
    /// refused while one runs), then runs it in the background.
    async fn begin(
        self: &Arc<Self>,
        actor: &Actor,
        mut record: AppRecord,
        prepared: Option<berth_catalog::Prepared>,
        new: bool,
    ) -> Result<AppView, Error> {
        let id = key(&record.space, &record.name);
        let kind = record.operation.kind;
        let live = {
            let mut running = self.running.lock();
            if running.contains_key(&id) {
                return Err(Error::conflict(format!(
                    "{} is {} now; wait for it to finish (berth app status {})",
                    record.name,
                    self.record(&record.space, &record.name)?
                        .map_or("busy", |r| status(&r.operation)),
                    record.name
                )));
            }
            let live = Live::new();
            running.insert(id.clone(), live.clone());
            live
        };
        record.log = String::new();
        let event = NewEvent::new(
            actor_of(actor),
            action_of(kind),
            resource(&record.space, &record.name),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .reason(format!(
            "started: {} {} {}",
            record.item, record.chart, record.operation.chart_version
        ));
        let committed = self.audit.commit(&[APPS.name], |tx| {
            let stored = tx.get(APPS, &id)?;
            let mut record = record.clone();
            match (&stored, new) {
                (Some(_), true) => {
                    return Err(Error::conflict(format!(
                        "an app named {} is in space {} already",
                        record.name, record.space
                    ))
                    .into());
                }
                (None, false) => return Err(Error::not_found("app", &record.name).into()),
                // Another operation began (and perhaps ended) since the
                // caller read the record, or the app was made again.
                (Some(stored), false)
                    if stored.operation.number + 1 != record.operation.number
                        || stored.installed_at != record.installed_at =>
                {
                    return Err(Error::conflict(format!(
                        "{} changed while this was asked; look at it again (berth app status {})",
                        record.name, record.name
                    ))
                    .into());
                }
                // What the last operation's end recorded (it may have ended
                // since the caller read the record).
                (Some(stored), false) => {
                    record.chart_version = stored.chart_version.clone();
                    record.release = stored.release.clone();
                }
                (None, true) => {}
            }
            tx.put(APPS, &id, &record)?;
            Ok((record, event.clone()))
        });
        let (record, sealed) = match committed {
            Ok(committed) => committed,
            Err(e) => {
                self.running.lock().remove(&id);
                return Err(e);
            }
        };
        // Recorded as running: it runs, whatever happens to this request.
        let view = Self::view(record.clone());
        let job = run::Operation {
            record,
            prepared,
            live,
            actor: actor_of(actor),
            origin: actor.origin.clone(),
        };
        let apps = self.clone();
        // A span of its own, under the request's trace: the Helm run
        // outlives the request.
        let span = tracing::info_span!("app.operation", space = %view.space, app = %view.name,
            kind = ?view.operation.kind, runner = %view.operation.runner);
        tokio::spawn(tracing::Instrument::instrument(
            async move { apps.run(job).await },
            span,
        ));
        self.audit.durable(sealed.seq).await?;
        Ok(view)
    }

    /// Records how an operation ended (and Helm's record of the release,
    /// when it was read); an uninstall that succeeded removes the release.
    pub(crate) async fn finish(
        &self,
        mut record: AppRecord,
        ended: run::Ended,
        actor: EventActor,
        origin: berth_audit::Origin,
    ) {
        let run::Ended {
            outcome,
            log,
            release,
        } = ended;
        if let Some(release) = release {
            record.release = release;
        }
        let id = key(&record.space, &record.name);
        let kind = record.operation.kind;
        record.operation.finished_at = Some(self.clock.now());
        record.log = log[tail_start(&log)..].to_owned();
        let remove = kind == OperationKind::Uninstall && outcome.is_ok();
        self.counters.count(kind, outcome.is_ok());
        match &outcome {
            Ok(()) => {
                record.operation.state = OperationState::Succeeded;
                record.chart_version = record.operation.chart_version.clone();
            }
            Err(error) => {
                record.operation.state = OperationState::Failed;
                record.operation.error = Some(error.clone());
            }
        }
        let event = NewEvent::new(
            actor,
            action_of(kind),
            resource(&record.space, &record.name),
            if outcome.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        )
        .origin(origin)
        .reason(match &outcome {
            Ok(()) => format!("done: {} {}", record.chart, record.operation.chart_version),
            Err(error) => error.clone(),
        });
        // The end is recorded and the release freed together: a caller
        // that reads the end may start the next operation at once.
        let (committed, live) = {
            let mut running = self.running.lock();
            let committed = self.audit.commit(&[APPS.name], |tx| {
                if remove {
                    tx.delete(APPS, &id)?;
                } else {
                    tx.put(APPS, &id, &record)?;
                }
                Ok(((), event.clone()))
            });
            (committed, running.remove(&id))
        };
        if let Some(live) = live {
            live.finish();
        }
        match committed {
            Ok((_, sealed)) => {
                if let Err(e) = self.audit.durable(sealed.seq).await {
                    tracing::error!(app = %id, error = %e.message, "an app's audit event may not be durable");
                }
            }
            Err(e) => {
                tracing::error!(app = %id, error = %e.detail(), "cannot record how an app's operation ended")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_fit_the_names_made_from_them() {
        assert!(check_name("cache-2").is_ok());
        for bad in ["", "-x", "x-", "Cache", "a_b", &"a".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}

//! The reconciler: makes the cluster hold what the space records say.
//!
//! Desired state comes from the store; observed state from watches on the
//! objects Berth owns, cached by space, so checking a converged space costs
//! no API request and writing happens only for what differs. A space is
//! reconciled when its record changes, when one of its objects changes,
//! and at every resync; one worker at a time per space; failures are
//! retried with exponential backoff and jitter and shown as conditions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::{Error, Timestamp};
use berth_kube::{Cluster, NamespaceState, SpaceSpec, changes};
use rand::Rng;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::config::SpacesConfig;
use crate::records::{SpaceRecord, StatusRecord};
use crate::service::Spaces;
use crate::status::{Observed, next_status};

pub use crate::status::{ASLEEP, READY};

const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The spec the planner needs, from a record and its owner's user name.
pub(crate) fn spec_of(
    record: &SpaceRecord,
    owner: &str,
    config: &SpacesConfig,
) -> Result<SpaceSpec, Error> {
    let quota = config.profile(&record.quota_profile).ok_or_else(|| {
        Error::invalid(
            "quota_profile",
            format!(
                "space {} uses the quota profile {:?}, which the configuration no longer has",
                record.name, record.quota_profile
            ),
        )
    })?;
    Ok(SpaceSpec {
        name: record.name.clone(),
        owner: owner.to_owned(),
        quota,
        isolated: config.network_isolation,
        labels: record.labels.clone(),
    })
}

/// Spaces waiting for a worker, with at most one worker per space: a
/// change that arrives while its space is being reconciled runs it again
/// afterwards.
#[derive(Default)]
struct QueueState {
    queued: HashSet<String>,
    running: HashSet<String>,
    again: HashSet<String>,
}

struct Queue {
    state: Mutex<QueueState>,
    tx: UnboundedSender<String>,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, name: String) {
        let mut state = self.lock();
        if state.running.contains(&name) {
            state.again.insert(name);
        } else if state.queued.insert(name.clone()) {
            let _ = self.tx.send(name);
        }
    }

    fn start(&self, name: &str) {
        let mut state = self.lock();
        state.queued.remove(name);
        state.running.insert(name.to_owned());
    }

    fn finish(&self, name: &str) {
        let again = {
            let mut state = self.lock();
            state.running.remove(name);
            state.again.remove(name)
        };
        if again {
            self.push(name.to_owned());
        }
    }
}

/// What one pass over a space came to.
enum Outcome {
    /// Converged (or removed); nothing to retry.
    Done,
    /// Waiting on the cluster (a namespace going away); look again soon.
    Waiting,
}

/// Counts of what the reconciler did, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub passes: std::sync::atomic::AtomicU64,
    pub writes: std::sync::atomic::AtomicU64,
    pub errors: std::sync::atomic::AtomicU64,
}

pub struct Reconciler {
    spaces: Arc<Spaces>,
    cluster: Cluster,
    queue: Arc<Queue>,
    rx: tokio::sync::Mutex<UnboundedReceiver<String>>,
    attempts: Mutex<HashMap<String, u32>>,
    counters: Counters,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler").finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A channel whose sender the spaces service (and the watches) use to
    /// ask for a reconcile; give its receiver to [`Reconciler::run`].
    pub fn inbox() -> (UnboundedSender<String>, UnboundedReceiver<String>) {
        unbounded_channel()
    }

    pub fn new(spaces: Arc<Spaces>, cluster: Cluster) -> Arc<Reconciler> {
        let (tx, rx) = unbounded_channel();
        Arc::new(Reconciler {
            spaces,
            cluster,
            queue: Arc::new(Queue {
                state: Mutex::default(),
                tx,
            }),
            rx: tokio::sync::Mutex::new(rx),
            attempts: Mutex::default(),
            counters: Counters::default(),
        })
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Runs until the task is dropped: watches, workers, resyncs and the
    /// idle clock. `inbox` is the receiver of [`Reconciler::inbox`]; its
    /// sender also goes to the watches.
    pub async fn run(
        self: Arc<Self>,
        inbox_tx: UnboundedSender<String>,
        mut inbox: UnboundedReceiver<String>,
    ) {
        let config = self.spaces.config().clone();
        let watches = self.cluster.start_watches(inbox_tx);
        let mut tasks = Vec::new();
        for _ in 0..config.workers {
            let this = self.clone();
            tasks.push(tokio::spawn(async move { this.work().await }));
        }
        let feeder = {
            let queue = self.queue.clone();
            tokio::spawn(async move {
                while let Some(name) = inbox.recv().await {
                    queue.push(name);
                }
            })
        };
        let mut resync = tokio::time::interval(config.resync_interval);
        let mut idle = tokio::time::interval(config.idle_check_interval);
        loop {
            tokio::select! {
                _ = resync.tick() => self.resync(),
                _ = idle.tick() => {
                    if let Err(err) = self.spaces.check_idle().await {
                        tracing::error!(error = %err.detail(), "the idle check failed");
                    }
                }
            }
            if feeder.is_finished() {
                break;
            }
        }
        for task in tasks.into_iter().chain(watches) {
            task.abort();
        }
    }

    /// Queues every space.
    pub fn resync(&self) {
        match self.spaces.names() {
            Ok(names) => names.into_iter().for_each(|n| self.queue.push(n)),
            Err(err) => tracing::error!(error = %err.message, "cannot list spaces to resync"),
        }
    }

    async fn work(self: Arc<Self>) {
        loop {
            let Some(name) = self.rx.lock().await.recv().await else {
                return;
            };
            // Wait for the watches' first lists: before them the cache
            // would say every object is missing.
            while !self.cluster.synced() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.queue.start(&name);
            let result = self.reconcile(&name).await;
            self.counters
                .passes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let retry = match result {
                Ok(Outcome::Done) => {
                    self.attempts_mut().remove(&name);
                    None
                }
                Ok(Outcome::Waiting) => Some(Duration::from_secs(1)),
                Err(err) => {
                    self.counters
                        .errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let attempt = {
                        let mut attempts = self.attempts_mut();
                        let n = attempts.entry(name.clone()).or_insert(0);
                        *n += 1;
                        *n
                    };
                    // The whole chain goes to the log; the status shows
                    // only the external message.
                    tracing::warn!(space = %name, attempt, error = %err.detail(), "reconcile failed; retrying");
                    self.failed(&name, err, attempt);
                    Some(backoff(attempt))
                }
            };
            self.queue.finish(&name);
            if let Some(after) = retry {
                let queue = self.queue.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    queue.push(name);
                });
            }
        }
    }

    fn attempts_mut(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Shows a failure in the space's conditions: its external message,
    /// which every member reads (the internal detail is only logged).
    fn failed(&self, name: &str, error: Error, attempt: u32) {
        let now = self.spaces.now();
        let Ok(Some(record)) = self.spaces.record(name) else {
            return;
        };
        let status = self
            .spaces
            .status(name)
            .ok()
            .flatten()
            .unwrap_or_else(|| StatusRecord::pending(&record.quota_profile));
        let status = next_status(&record, &status, &Observed::Failed { attempt, error }, now);
        if let Err(e) = self.spaces.put_status(name, &status) {
            tracing::error!(space = %name, error = %e.message, "cannot record a space's status");
        }
    }

    async fn reconcile(&self, name: &str) -> Result<Outcome, Error> {
        let Some(record) = self.spaces.record(name)? else {
            return Ok(Outcome::Done);
        };
        let now = self.spaces.now();
        let mut status = self
            .spaces
            .status(name)?
            .unwrap_or_else(|| StatusRecord::pending(&record.quota_profile));
        let observed = self.cluster.observation(name);
        // Not in the cache: new, deleted by hand, or not ours. Ask the API.
        let namespace = match observed.namespace.clone() {
            Some(ns) => Some(ns),
            None => self.cluster.namespace(name).await.map_err(kube_err)?,
        };

        if record.deleting.is_some() {
            return self.delete(&record, namespace, status, now).await;
        }

        if let Some(ns) = &namespace {
            let seen = if !ns.made_by_berth() && !record.adopt {
                Some((Observed::ForeignNamespace, Outcome::Done))
            } else if ns.terminating {
                Some((Observed::NamespaceTerminating, Outcome::Waiting))
            } else {
                None
            };
            if let Some((seen, outcome)) = seen {
                self.spaces
                    .put_status(name, &next_status(&record, &status, &seen, now))?;
                return Ok(outcome);
            }
        }

        let spec = self.spaces.spec(&record)?;
        let desired = berth_kube::space(&spec, &self.spaces.config().cluster_policy());
        let needed =
            changes(&desired, &observed.objects).map_err(|e| Error::conflict(e.to_string()))?;
        if !needed.is_empty() {
            let written = self.cluster.apply(&needed).await.map_err(kube_err)?;
            self.counters
                .writes
                .fetch_add(written as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(space = %name, written, "space objects applied");
        }

        let mut workloads_asleep = status.workloads_asleep;
        if record.wakefulness.asleep && !workloads_asleep {
            let report = self.cluster.sleep(name).await.map_err(kube_err)?;
            tracing::info!(space = %name, scaled = ?report.scaled, cronjobs = ?report.cronjobs, left_running = ?report.left_running, "space asleep");
            workloads_asleep = true;
        } else if !record.wakefulness.asleep && workloads_asleep {
            status = next_status(&record, &status, &Observed::Waking, now);
            self.spaces.put_status(name, &status)?;
            let report = self.cluster.wake(name).await.map_err(kube_err)?;
            tracing::info!(space = %name, scaled = ?report.scaled, cronjobs = ?report.cronjobs, "space awake");
            workloads_asleep = false;
        }

        let seen = Observed::Converged {
            objects: desired.len(),
            applied: needed.len(),
            workloads_asleep,
            quota: observed.quota,
        };
        self.spaces
            .put_status(name, &next_status(&record, &status, &seen, now))?;
        Ok(Outcome::Done)
    }

    async fn delete(
        &self,
        record: &SpaceRecord,
        namespace: Option<NamespaceState>,
        status: StatusRecord,
        now: Timestamp,
    ) -> Result<Outcome, Error> {
        let name = record.name.as_str();
        match namespace {
            // A namespace that is not ours is never deleted.
            Some(ns) if ns.made_by_berth() => {
                if !ns.terminating {
                    self.cluster
                        .delete_namespace(name)
                        .await
                        .map_err(kube_err)?;
                    tracing::info!(space = %name, "namespace deletion asked for");
                }
                self.spaces.put_status(
                    name,
                    &next_status(record, &status, &Observed::Deleting, now),
                )?;
                Ok(Outcome::Waiting)
            }
            _ => {
                self.spaces.remove(name).await?;
                tracing::info!(space = %name, "space removed");
                Ok(Outcome::Done)
            }
        }
    }
}

fn kube_err(err: berth_kube::ApplyError) -> Error {
    Error {
        internal: Some(berth_core::error::chain(&err)),
        ..Error::unavailable(err.to_string())
    }
}

/// Exponential backoff with jitter: a random wait between half and all of
/// `base * 2^(attempt-1)`, capped, so spaces that failed together do not
/// retry together.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= BACKOFF_BASE);
        assert!(backoff(3) <= BACKOFF_BASE * 4 && backoff(3) >= BACKOFF_BASE * 2);
        assert!(backoff(40) <= BACKOFF_MAX && backoff(40) >= BACKOFF_MAX / 2);
    }
}

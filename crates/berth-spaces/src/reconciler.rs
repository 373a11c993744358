//! The reconciler: makes the cluster hold what the space records say.
//!
//! Desired state comes from the store; observed state from watches on the
//! objects Berth owns, cached by space, so checking a converged space costs
//! no API request and writing happens only for what differs. A space is
//! reconciled when its record changes, when one of its objects changes,
//! and at every resync; one pass at a time per space, from a keyed queue
//! of spaces due; failures are retried with exponential backoff and jitter
//! and shown as conditions.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use berth_core::{Error, Timestamp};
use berth_kube::{Cluster, KindReport, NamespaceState, SpaceSpec, WorkloadKind, changes};
use parking_lot::Mutex;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::time::{DelayQueue, delay_queue};

use crate::config::SpacesConfig;
use crate::records::{SpaceRecord, StatusRecord, Target};
use crate::service::Spaces;
use crate::status::{Observed, next_status};
use crate::workloads::{self, WorkloadsSeen};

pub use crate::status::{ASLEEP, READY};
pub use crate::workloads::{GOING_TO_SLEEP, RUNNING, SCALED_TO_ZERO, WAKING};

const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The spec the planner needs, from a record, its owner's user name and
/// the user names of everyone in it.
pub(crate) fn spec_of(
    record: &SpaceRecord,
    owner: &str,
    developers: Vec<String>,
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
        developers,
    })
}

/// Spaces due for a pass, keyed by name on a [`DelayQueue`], with at most
/// one pass per space at a time. A space asked for twice is due once, at
/// the earlier time (so a change overtakes a retry); a space asked for
/// while its pass runs is set aside and due again, once, when it ends.
#[derive(Default)]
struct Queue {
    due: DelayQueue<String>,
    /// Each space in `due`: its entry there and when it is due.
    waiting: HashMap<String, (delay_queue::Key, Instant)>,
    running: HashSet<String>,
    again: HashSet<String>,
}

impl Queue {
    /// Asks for a pass over `name` now.
    fn push(&mut self, name: String) {
        self.schedule(name, Instant::now());
    }

    /// Asks for a pass over `name` at `at`, unless one is due sooner.
    fn schedule(&mut self, name: String, at: Instant) {
        if self.running.contains(&name) {
            self.again.insert(name);
            return;
        }
        match self.waiting.entry(name) {
            Entry::Occupied(mut entry) => {
                let (key, when) = entry.get_mut();
                if at < *when {
                    self.due.reset_at(key, at);
                    *when = at;
                }
            }
            Entry::Vacant(entry) => {
                let key = self.due.insert_at(entry.key().clone(), at);
                entry.insert((key, at));
            }
        }
    }

    /// The next space due, now marked running. Pending while none is due,
    /// an empty queue included: a push wakes the task that polled.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<String> {
        match self.due.poll_expired(cx) {
            Poll::Ready(Some(expired)) => {
                let name = expired.into_inner();
                self.waiting.remove(&name);
                self.running.insert(name.clone());
                Poll::Ready(name)
            }
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    /// Ends the pass over `name`: it is due again now if it was asked for
    /// meanwhile, and `retry` after this if given (whichever is sooner).
    fn finish(&mut self, name: &str, retry: Option<Duration>) {
        self.running.remove(name);
        if self.again.remove(name) {
            self.push(name.to_owned());
        }
        if let Some(after) = retry {
            self.schedule(name.to_owned(), Instant::now() + after);
        }
    }
}

/// A space whose passes fail: how many in a row, and the delays to wait.
struct Retrying {
    attempt: u32,
    delays: ExponentialBackoff,
}

/// What one pass over a space came to.
enum Outcome {
    /// Converged (or removed); nothing to retry.
    Done,
    /// Waiting on the cluster (a namespace going away); look again soon.
    Waiting,
    /// A workload's change failed (the status says so); retry with backoff.
    Retry,
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
    queue: Mutex<Queue>,
    retries: Mutex<HashMap<String, Retrying>>,
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
        Arc::new(Reconciler {
            spaces,
            cluster,
            queue: Mutex::default(),
            retries: Mutex::default(),
            counters: Counters::default(),
        })
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Runs until the task is dropped or the inbox closes: watches,
    /// passes, resyncs and the idle clock. `inbox` is the receiver of
    /// [`Reconciler::inbox`]; its sender also goes to the watches.
    pub async fn run(
        self: Arc<Self>,
        inbox_tx: UnboundedSender<String>,
        inbox: UnboundedReceiver<String>,
    ) {
        let watches = self.cluster.start_watches(inbox_tx);
        // Both on this task, so dropping it stops the passes too; the
        // clocks never end.
        tokio::select! {
            () = self.clone().dispatch(inbox) => {}
            () = self.clocks() => {}
        }
        for task in watches {
            task.abort();
        }
    }

    /// Resyncs and idle checks at their intervals.
    async fn clocks(&self) {
        let config = self.spaces.config().clone();
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
        }
    }

    /// Queues every space.
    pub fn resync(&self) {
        match self.spaces.names() {
            Ok(names) => {
                let mut queue = self.queue.lock();
                names.into_iter().for_each(|n| queue.push(n));
            }
            Err(err) => tracing::error!(error = %err.message, "cannot list spaces to resync"),
        }
    }

    /// Feeds the queue from the inbox and runs the spaces due, up to
    /// `workers` passes at once, until the inbox closes.
    async fn dispatch(self: Arc<Self>, mut inbox: UnboundedReceiver<String>) {
        let workers = self.spaces.config().workers;
        let mut passes = JoinSet::new();
        let mut running = HashMap::new();
        let mut synced = self.cluster.synced();
        loop {
            tokio::select! {
                request = inbox.recv() => match request {
                    Some(name) => self.queue.lock().push(name),
                    None => return,
                },
                // Before the watches' first lists the cache would say
                // every object is missing: no pass runs until then.
                () = self.cluster.wait_synced(), if !synced => synced = true,
                name = std::future::poll_fn(|cx| self.queue.lock().poll_next(cx)),
                    if synced && passes.len() < workers =>
                {
                    let this = self.clone();
                    let task = passes.spawn({
                        let name = name.clone();
                        async move { this.pass(&name).await }
                    });
                    running.insert(task.id(), name);
                }
                Some(ended) = passes.join_next_with_id() => {
                    let (name, retry) = match ended {
                        Ok((id, retry)) => (running.remove(&id), retry),
                        // A pass that panicked is retried like one that failed.
                        Err(err) => {
                            let name = running.remove(&err.id());
                            let retry = name.as_deref().map(|name| {
                                let (attempt, after) = self.next_retry(name);
                                tracing::error!(space = %name, attempt, error = %err, "a reconcile pass panicked; retrying");
                                after
                            });
                            (name, retry)
                        }
                    };
                    if let Some(name) = name {
                        self.queue.lock().finish(&name, retry);
                    }
                }
            }
        }
    }

    /// One pass over `name`; when to look again, if at all.
    async fn pass(&self, name: &str) -> Option<Duration> {
        let result = self.reconcile(name).await;
        self.counters
            .passes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(Outcome::Done) => {
                self.retries.lock().remove(name);
                None
            }
            Ok(Outcome::Waiting) => Some(Duration::from_secs(1)),
            Ok(Outcome::Retry) => {
                self.counters
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(self.next_retry(name).1)
            }
            Err(err) => {
                self.counters
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (attempt, after) = self.next_retry(name);
                // The whole chain goes to the log; the status shows
                // only the external message.
                tracing::warn!(space = %name, attempt, error = %err.detail(), "reconcile failed; retrying");
                self.failed(name, err, attempt);
                Some(after)
            }
        }
    }

    /// Counts a failed pass over `name`: which attempt it was and how long
    /// to wait before the next.
    fn next_retry(&self, name: &str) -> (u32, Duration) {
        let mut retries = self.retries.lock();
        let retrying = retries.entry(name.to_owned()).or_insert_with(|| Retrying {
            attempt: 0,
            delays: backoff(),
        });
        retrying.attempt += 1;
        let after = retrying.delays.next().unwrap_or(BACKOFF_MAX);
        (retrying.attempt, after)
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
        let applied = if needed.is_empty() {
            Ok(0)
        } else {
            self.cluster.apply(&needed).await.map_err(kube_err)
        };
        if let Ok(written) = &applied
            && *written > 0
        {
            self.counters
                .writes
                .fetch_add(*written as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(space = %name, written, "space objects applied");
        }

        // The workloads converge on their own: an object that failed to
        // apply holds up neither a sleep nor a wake, once the namespace is
        // there.
        let mut retry = false;
        if (applied.is_ok() || namespace.is_some()) && workloads::due(&record, &status.workloads) {
            retry = self
                .workloads(&record, &mut status, namespace.is_none(), now)
                .await;
        }
        if let Err(err) = applied {
            // What the workloads came to stays, beside the failure.
            self.spaces.put_status(name, &status)?;
            return Err(err);
        }

        let seen = Observed::Converged {
            objects: desired.len(),
            applied: needed.len(),
            quota: observed.quota,
        };
        self.spaces
            .put_status(name, &next_status(&record, &status, &seen, now))?;
        Ok(if retry { Outcome::Retry } else { Outcome::Done })
    }

    /// Brings the space's workloads toward the record's target, each kind
    /// and object on its own, and records how far they got in `status`;
    /// whether a failed change should be retried. In a namespace this pass
    /// made there is nothing yet, and nothing to ask the API.
    async fn workloads(
        &self,
        record: &SpaceRecord,
        status: &mut StatusRecord,
        made_now: bool,
        now: Timestamp,
    ) -> bool {
        let name = record.name.as_str();
        let target = Target::of(record);
        let reports = if made_now {
            WorkloadKind::ALL.map(KindReport::none).into()
        } else {
            self.cluster.converge_workloads(name, target.asleep).await
        };
        for r in &reports {
            if !r.changed.is_empty() {
                tracing::info!(space = %name, asleep = target.asleep, kind = r.kind.kind(), changed = ?r.changed, "workloads changed");
            }
            if !r.left_running.is_empty() && target.asleep {
                tracing::info!(space = %name, kind = r.kind.kind(), left_running = ?r.left_running, "workloads left running (berth.dev/sleep: never)");
            }
            match &r.problem {
                Some(berth_kube::KindProblem::Unserved) => {
                    tracing::info!(space = %name, kind = r.kind.kind(), "kind not served by the cluster; skipped");
                }
                Some(berth_kube::KindProblem::Forbidden { verb }) => {
                    tracing::warn!(space = %name, kind = r.kind.kind(), verb, pending = ?r.pending, "Berth may not change this kind here; skipped until the next sleep or wake");
                }
                _ => {}
            }
        }
        let seen = WorkloadsSeen::of(target, &status.workloads, reports);
        let attempt = self
            .retries
            .lock()
            .get(name)
            .map_or(1, |retrying| retrying.attempt + 1);
        for (kind, error) in seen.failures() {
            // The whole chain goes to the log; the status shows only the
            // external message.
            tracing::warn!(space = %name, attempt, kind = kind.kind(), error = %error.detail(), "workloads not converged; retrying");
        }
        let retry = seen.retrying();
        *status = next_status(record, status, &Observed::Workloads { seen, attempt }, now);
        retry
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

/// Exponential backoff with jitter: the n-th wait is random between half
/// and all of `base * 2^(n-1)`, capped, so spaces that failed together do
/// not retry together. backon's jitter adds up to one more delay, hence
/// the halves.
fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(BACKOFF_BASE / 2)
        .with_max_delay(BACKOFF_MAX / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let delays: Vec<Duration> = backoff().take(40).collect();
        assert!(delays[0] <= BACKOFF_BASE);
        assert!(delays[2] <= BACKOFF_BASE * 4 && delays[2] >= BACKOFF_BASE * 2);
        assert!(delays[39] <= BACKOFF_MAX && delays[39] >= BACKOFF_MAX / 2);
    }

    /// The next space due, now running; fails rather than hangs if none is.
    async fn next(queue: &mut Queue) -> String {
        let next = std::future::poll_fn(|cx| queue.poll_next(cx));
        tokio::time::timeout(Duration::from_secs(10), next)
            .await
            .expect("a space is due")
    }

    fn waiting(queue: &Queue) -> Vec<&str> {
        let mut names: Vec<&str> = queue.waiting.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    #[tokio::test]
    async fn a_space_asked_for_twice_is_due_once() {
        let mut queue = Queue::default();
        for name in ["a", "b", "a", "a"] {
            queue.push(name.to_owned());
        }
        assert_eq!(waiting(&queue), ["a", "b"]);
        let mut passes = [next(&mut queue).await, next(&mut queue).await];
        passes.sort_unstable();
        assert_eq!(passes, ["a", "b"]);
        assert!(queue.due.is_empty() && waiting(&queue).is_empty());
    }

    #[tokio::test]
    async fn requests_during_a_pass_make_exactly_one_more_after_it() {
        let mut queue = Queue::default();
        queue.push("a".to_owned());
        assert_eq!(next(&mut queue).await, "a");
        for _ in 0..3 {
            queue.push("a".to_owned());
        }
        assert!(waiting(&queue).is_empty(), "not due while its pass runs");
        queue.finish("a", None);
        assert_eq!(waiting(&queue), ["a"]);
        assert_eq!(next(&mut queue).await, "a");
        queue.finish("a", None);
        assert!(queue.due.is_empty() && queue.running.is_empty() && queue.again.is_empty());
    }

    #[tokio::test]
    async fn a_running_space_holds_up_no_other() {
        let mut queue = Queue::default();
        queue.push("a".to_owned());
        assert_eq!(next(&mut queue).await, "a");
        queue.push("a".to_owned());
        queue.push("b".to_owned());
        assert_eq!(next(&mut queue).await, "b");
        assert_eq!(queue.running.len(), 2);
    }

    #[tokio::test]
    async fn a_retry_waits_and_a_change_overtakes_it() {
        let mut queue = Queue::default();
        queue.push("a".to_owned());
        assert_eq!(next(&mut queue).await, "a");
        let hour = Duration::from_secs(3600);
        queue.finish("a", Some(hour));
        assert!(queue.waiting["a"].1 > Instant::now() + hour / 2);
        // The change is due now, in place of the retry, not beside it.
        queue.push("a".to_owned());
        assert_eq!(waiting(&queue), ["a"]);
        assert_eq!(next(&mut queue).await, "a");
        assert!(queue.due.is_empty());
        // A change during a pass that then fails is not held up by the retry.
        queue.push("a".to_owned());
        queue.finish("a", Some(hour));
        assert_eq!(next(&mut queue).await, "a");
        assert!(queue.due.is_empty());
    }
}

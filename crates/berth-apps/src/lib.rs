//! Applications in spaces: catalog items installed, upgraded and
//! uninstalled by Helm. In a cluster, Helm runs as a Job in the space
//! under the space's installer ServiceAccount (so a chart can never touch
//! another namespace), with the chart and values in a Secret it mounts.
//! With the embedded cluster, which runs no pods, the daemon runs the
//! `helm` binary itself against the cluster's API.
//!
//! Invariant: at most one Helm operation runs on a release at a time, and
//! every operation ends recorded (succeeded or failed, with Helm's own
//! words); values reach Helm only once checked against the chart's schema.

mod run;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_audit::Audit;
use berth_auth::{Actor, Auth, actor_of};
use berth_catalog::Catalog;
use berth_core::Error;
use berth_core::app::{
    AppView, HelmReleaseView, InstallRequest, OperationKind, OperationState, OperationView,
    UpgradeRequest, merge,
};
use berth_core::audit::{EventActor, EventResource, NewEvent, Outcome};
use berth_core::time::{Clock, Timestamp};
use berth_kube::Cluster;
use berth_spaces::Spaces;
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

/// Releases by `space/name`.
pub const APPS: Table<AppRecord> = Table::new("apps.releases");

/// How often the apps of deleted spaces are looked for.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The most of an operation's output kept (its end, where Helm's error is).
const MAX_LOG: usize = 256 << 10;

/// Where the last `MAX_LOG` bytes of `text` start (at a character).
fn tail_start(text: &str) -> usize {
    let start = text.len().saturating_sub(MAX_LOG);
    (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub space: String,
    pub name: String,
    pub item: String,
    pub chart: String,
    pub chart_version: String,
    /// What developers gave, at install and upgrades.
    pub values: Value,
    pub operation: OperationView,
    /// The latest operation's output.
    pub log: String,
    /// Helm's record of the release as `helm status` read it after the
    /// latest operation that could; none before the first install.
    pub release: Option<HelmReleaseView>,
    pub installed_by: String,
    pub installed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppsConfig {
    /// The `helm` binary the daemon runs itself (the embedded cluster);
    /// found on `PATH` when left out.
    pub helm: Option<PathBuf>,
    /// Run Helm as a local process instead of a Job in the space (on by
    /// itself with the embedded cluster).
    pub local_helm: bool,
    /// The image of the Jobs that run Helm; its entry point must be `helm`.
    pub helm_image: String,
    /// How long one Helm operation may take (Helm's `--timeout`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for AppsConfig {
    fn default() -> Self {
        AppsConfig {
            helm: None,
            local_helm: false,
            helm_image: "docker.io/alpine/helm:3.17.3".to_owned(),
            timeout: Duration::from_secs(300),
        }
    }
}

impl AppsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout < Duration::from_secs(10) || self.timeout > Duration::from_secs(3600) {
            return Err("timeout must be between 10s and 1h".to_owned());
        }
        if self.helm_image.trim().is_empty() {
            return Err("helm_image must name an image".to_owned());
        }
        Ok(())
    }
}

/// The cluster a local `helm` acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalCluster {
    pub kubeconfig: PathBuf,
    /// A context of the kubeconfig other than its current one.
    pub context: Option<String>,
    /// Act as the space's installer ServiceAccount (impersonated), so Helm
    /// is held to the space as a Job is. The embedded cluster has no RBAC
    /// to hold it.
    pub as_installer: bool,
}

/// Where Helm runs.
#[derive(Debug, Clone)]
enum Runner {
    /// A local `helm` process.
    Local(LocalCluster),
    /// A Job in the space.
    Job,
}

/// The output of a running operation, for those following it.
struct Live {
    text: Mutex<String>,
    /// (bytes written so far, finished); set with `send_replace`, which
    /// keeps the value while no one follows.
    progress: watch::Sender<(usize, bool)>,
}

impl Live {
    fn new() -> Arc<Live> {
        Arc::new(Live {
            text: Mutex::new(String::new()),
            progress: watch::channel((0, false)).0,
        })
    }

    fn push(&self, line: &str) {
        let mut text = self.text.lock().expect("log lock");
        text.push_str(line);
        text.push('\n');
        // The end is kept (Helm's error is there); a follower that falls
        // behind a cut is sent the rest whole.
        if text.len() > 2 * MAX_LOG {
            let cut = tail_start(&text);
            text.drain(..cut);
        }
        self.progress.send_replace((text.len(), false));
    }

    /// Replaces the whole output (a Job's log, read again).
    fn set(&self, log: &str) {
        let mut text = self.text.lock().expect("log lock");
        if *text != log {
            *text = log.to_owned();
            self.progress.send_replace((text.len(), false));
        }
    }

    fn text(&self) -> String {
        self.text.lock().expect("log lock").clone()
    }

    /// What was written after the first `from` bytes, and the length now
    /// (copying only the new part). A log that got shorter (a Job's read
    /// again from a new Pod, or its start cut) is given whole.
    fn since(&self, from: usize) -> (String, usize) {
        let text = self.text.lock().expect("log lock");
        let chunk = match text.get(from..) {
            Some(rest) => rest.to_owned(),
            None => text.clone(),
        };
        (chunk, text.len())
    }

    fn finish(&self) {
        let len = self.text.lock().expect("log lock").len();
        self.progress.send_replace((len, true));
    }
}

/// An operation's output so far, and while it runs, a way to follow what
/// comes after.
pub struct Logs {
    pub text: String,
    pub follow: Option<LogFollower>,
}

pub struct LogFollower {
    live: Arc<Live>,
    progress: watch::Receiver<(usize, bool)>,
    sent: usize,
}

impl LogFollower {
    /// What was written since the last call; none once the operation ended
    /// and everything was given.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            let (len, done) = *self.progress.borrow_and_update();
            if len != self.sent {
                let (chunk, now) = self.live.since(self.sent);
                self.sent = now;
                return Some(chunk);
            }
            if done {
                return None;
            }
            if self.progress.changed().await.is_err() {
                return None;
            }
        }
    }
}

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

pub struct Apps {
    auth: Arc<Auth>,
    audit: Arc<Audit>,
    spaces: Arc<Spaces>,
    catalog: Arc<Catalog>,
    cluster: Cluster,
    clock: Arc<dyn Clock>,
    config: AppsConfig,
    runner: Runner,
    /// Where local Helm runs keep their files.
    home: PathBuf,
    running: Mutex<HashMap<String, Arc<Live>>>,
    counters: Counters,
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

fn key(space: &str, name: &str) -> String {
    format!("{space}/{name}")
}

fn resource(space: &str, name: &str) -> EventResource {
    EventResource {
        kind: "app".to_owned(),
        id: Some(key(space, name)),
        name: Some(name.to_owned()),
        space: Some(space.to_owned()),
    }
}

fn action_of(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Install => "app.install",
        OperationKind::Upgrade => "app.upgrade",
        OperationKind::Uninstall => "app.uninstall",
    }
}

/// An app's status, from its latest operation (a succeeded uninstall
/// leaves no app to have one).
fn status(operation: &OperationView) -> &'static str {
    match (operation.state, operation.kind) {
        (OperationState::Running, OperationKind::Install) => "installing",
        (OperationState::Running, OperationKind::Upgrade) => "upgrading",
        (OperationState::Running, OperationKind::Uninstall) => "uninstalling",
        (OperationState::Succeeded, _) => "deployed",
        (OperationState::Failed, _) => "failed",
    }
}

/// A release name: a DNS label short enough for the Job and Secret names
/// made from it.
fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!("{name:?} must be 1 to 40 lowercase letters, digits or '-'"),
        ))
    }
}

/// Helm's record of a release, from the JSON `helm status --output json`
/// prints (the same object Helm keeps in the space).
pub(crate) fn release_view(output: &str) -> Option<HelmReleaseView> {
    let release: Value = output.lines().rev().find_map(|line| {
        serde_json::from_str::<Value>(line.trim())
            .ok()
            .filter(Value::is_object)
    })?;
    let text = |pointer: &str| {
        release
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(HelmReleaseView {
        revision: release["version"].as_u64()? as u32,
        status: text("/info/status").unwrap_or_default(),
        description: text("/info/description"),
        notes: text("/info/notes").filter(|n| !n.is_empty()),
        updated: text("/info/last_deployed"),
    })
}

impl Apps {
    /// `local`: run Helm as a local process against that cluster (the
    /// embedded one), instead of Jobs.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        auth: Arc<Auth>,
        spaces: Arc<Spaces>,
        catalog: Arc<Catalog>,
        cluster: Cluster,
        config: AppsConfig,
        clock: Arc<dyn Clock>,
        data_dir: &std::path::Path,
        local: Option<LocalCluster>,
    ) -> Arc<Apps> {
        let runner = match local {
            Some(cluster) => Runner::Local(cluster),
            None => Runner::Job,
        };
        Arc::new(Apps {
            audit: auth.audit().clone(),
            auth,
            spaces,
            catalog,
            cluster,
            clock,
            config,
            runner,
            home: data_dir.join("apps"),
            running: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// Operations ended since the daemon started.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Operations running now.
    pub fn running(&self) -> usize {
        self.running.lock().expect("running lock").len()
    }

    fn record(&self, space: &str, name: &str) -> Result<Option<AppRecord>, Error> {
        Ok(self.audit.store().get(APPS, &key(space, name))?)
    }

    fn existing(&self, space: &str, name: &str) -> Result<AppRecord, Error> {
        self.record(space, name)?
            .ok_or_else(|| Error::not_found("app", format!("{name} in space {space}")))
    }

    /// Whether a record is of an earlier space of that name (or of a space
    /// that is gone): its release went with that space's namespace.
    fn stale(&self, record: &AppRecord) -> Result<bool, Error> {
        Ok(match self.spaces.created_at(&record.space)? {
            Some(created) => created > record.installed_at,
            None => true,
        })
    }

    /// The space's records, those of an earlier space of its name
    /// forgotten first (a new space never shows another's apps).
    async fn current(&self, space: &str) -> Result<Vec<AppRecord>, Error> {
        let records: Vec<(String, AppRecord)> =
            self.audit.store().scan(APPS, &format!("{space}/"))?;
        let mut out = Vec::with_capacity(records.len());
        for (id, record) in records {
            if self.stale(&record)? {
                self.forget(&id, &record).await?;
            } else {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// An app of the space (as [`Apps::current`] would list it).
    async fn current_one(&self, space: &str, name: &str) -> Result<AppRecord, Error> {
        let record = self.existing(space, name)?;
        if self.stale(&record)? {
            self.forget(&key(space, name), &record).await?;
            return Err(Error::not_found("app", format!("{name} in space {space}")));
        }
        Ok(record)
    }

    fn view(record: AppRecord) -> AppView {
        AppView {
            space: record.space,
            name: record.name,
            item: record.item,
            chart: record.chart,
            chart_version: record.chart_version,
            values: record.values,
            status: status(&record.operation).to_owned(),
            operation: record.operation,
            release: record.release,
            installed_by: record.installed_by,
            installed_at: record.installed_at,
        }
    }

    pub async fn list(&self, actor: &Actor, space: &str) -> Result<Vec<AppView>, Error> {
        self.spaces.check_use(actor, space, "app.list").await?;
        Ok(self
            .current(space)
            .await?
            .into_iter()
            .map(Self::view)
            .collect())
    }

    pub async fn get(&self, actor: &Actor, space: &str, name: &str) -> Result<AppView, Error> {
        self.spaces.check_use(actor, space, "app.get").await?;
        Ok(Self::view(self.current_one(space, name).await?))
    }

    /// The latest operation's output, and a way to follow it while it runs.
    pub async fn logs(&self, actor: &Actor, space: &str, name: &str) -> Result<Logs, Error> {
        self.spaces.check_use(actor, space, "app.logs").await?;
        // The running operation first: its end is recorded before it
        // leaves the map, so no output falls between the two.
        let live = self
            .running
            .lock()
            .expect("running lock")
            .get(&key(space, name))
            .cloned();
        Ok(match live {
            Some(live) => {
                let progress = live.progress.subscribe();
                let text = live.text();
                Logs {
                    follow: Some(LogFollower {
                        progress,
                        live,
                        sent: text.len(),
                    }),
                    text,
                }
            }
            None => Logs {
                text: self.current_one(space, name).await?.log,
                follow: None,
            },
        })
    }

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
            let mut running = self.running.lock().expect("running lock");
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
                self.running.lock().expect("running lock").remove(&id);
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
    async fn finish(
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
            let mut running = self.running.lock().expect("running lock");
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
                tracing::error!(app = %id, error = %e.internal.as_deref().unwrap_or(&e.message), "cannot record how an app's operation ended")
            }
        }
    }

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
            self.running
                .lock()
                .expect("running lock")
                .insert(id.clone(), live.clone());
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
    async fn forget(&self, id: &str, record: &AppRecord) -> Result<bool, Error> {
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
            let running = self.running.lock().expect("running lock");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_status_output_is_read_as_the_release() {
        let output = r#"WARNING: Kubernetes configuration file is group-readable.
{"name":"demo","info":{"first_deployed":"2026-11-27T10:00:00Z","last_deployed":"2026-11-27T10:05:00Z","description":"Upgrade complete","status":"deployed","notes":"demo serves on port 80.\n","resources":{}},"config":{"replicaCount":2},"manifest":"---","version":2,"namespace":"shop","apply_method":"ssa"}
"#;
        let release = release_view(output).expect("a release");
        assert_eq!(release.revision, 2);
        assert_eq!(release.status, "deployed");
        assert_eq!(release.notes.as_deref(), Some("demo serves on port 80.\n"));
        assert_eq!(release_view("Error: release: not found\n"), None);
    }

    #[test]
    fn release_names_fit_the_names_made_from_them() {
        assert!(check_name("cache-2").is_ok());
        for bad in ["", "-x", "x-", "Cache", "a_b", &"a".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}

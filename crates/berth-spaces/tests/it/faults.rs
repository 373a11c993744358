//! Sleep and wake against an API server that fails, as a table: each row
//! injects one fault (a kind the server does not serve, a 403, a 500, a
//! 409, a 504 timeout, a webhook's refusal) at one step of a sleep or of a
//! wake (listing or changing one kind), or leaves a sleep half done and
//! wakes the space. Whatever happened, after the wake every workload is
//! back at its replicas and every CronJob at its `suspend` value, the
//! space's conditions say awake, and once the faults stop a sleep
//! completes. Simulator only: it injects the faults. Each row has a space
//! of its own (faults are matched by namespace), and rows run side by side.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_core::space::Phase;
use berth_kube::WorkloadKind::{self, CronJob, Deployment, StatefulSet};
use berth_kube_sim::Simulator;
use berth_spaces::SpacesConfig;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::{Harness, deployment, harness};

/// How many rows run at once.
const AT_ONCE: usize = 12;
/// A fault that lasts until the row stops it.
const FOR_GOOD: usize = 1_000_000;
/// How often a passing fault fails before the server answers again.
const TWICE: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 404 on the kind's resource: the server does not serve it.
    Unserved,
    /// 403: Berth may not list or change it.
    Forbidden,
    /// 500.
    Internal,
    /// 409.
    Conflict,
    /// 504, the server's own timeout.
    Timeout,
    /// 400, as an admission webhook that refuses the write answers.
    Refused,
}

impl Fault {
    fn status(self) -> u16 {
        match self {
            Fault::Unserved => 404,
            Fault::Forbidden => 403,
            Fault::Internal => 500,
            Fault::Conflict => 409,
            Fault::Timeout => 504,
            Fault::Refused => 400,
        }
    }

    /// Retried with backoff until it passes, rather than skipped.
    fn passing(self) -> bool {
        !matches!(self, Fault::Unserved | Fault::Forbidden)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// The kind is not served at all, through the whole row.
    Always,
    /// During the sleep.
    Sleep,
    /// During the wake, after a clean sleep.
    Wake,
    /// During the sleep, lasting: the space is woken while the sleep is
    /// half done.
    WakeMidSleep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    List,
    Patch,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    when: When,
    kind: WorkloadKind,
    request: Request,
    fault: Fault,
}

fn rows() -> Vec<Row> {
    use Fault::{Conflict, Forbidden, Internal, Refused, Timeout, Unserved};
    let mut rows = Vec::new();
    for kind in WorkloadKind::ALL {
        rows.push(Row {
            when: When::Always,
            kind,
            request: Request::List,
            fault: Unserved,
        });
        for (when, faults) in [
            (
                When::Sleep,
                &[Forbidden, Internal, Conflict, Timeout, Refused][..],
            ),
            (
                When::Wake,
                &[Forbidden, Internal, Conflict, Timeout, Refused][..],
            ),
            (
                When::WakeMidSleep,
                &[Internal, Conflict, Timeout, Refused][..],
            ),
        ] {
            for request in [Request::List, Request::Patch] {
                for &fault in faults {
                    // A webhook refuses writes, not reads.
                    if fault == Refused && request == Request::List {
                        continue;
                    }
                    rows.push(Row {
                        when,
                        kind,
                        request,
                        fault,
                    });
                }
            }
        }
    }
    rows
}

#[tokio::test]
async fn sleep_and_wake_converge_whatever_fails_along_the_way() -> anyhow::Result<()> {
    let h = harness(SpacesConfig::default()).await?;
    if h.cluster.simulator().is_none() {
        return Ok(());
    }
    let rows = rows();
    assert_eq!(rows.len(), 78, "the table's size, as the docs give it");
    let h = Arc::new(h);
    let limit = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut runs = tokio::task::JoinSet::new();
    for (index, row) in rows.into_iter().enumerate() {
        let (h, limit) = (h.clone(), limit.clone());
        runs.spawn(async move {
            let _turn = limit.acquire_owned().await?;
            run(&h, index, row)
                .await
                .map_err(|e| e.context(format!("row {index}: {row:?}")))
        });
    }
    let mut failures = Vec::new();
    while let Some(ran) = runs.join_next().await {
        if let Err(e) = ran? {
            failures.push(format!("{e:#}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// The workloads of a row's space, as "deployment/api" → "3", or "0 (3)"
/// while Berth keeps its count, "true (marked)" for a CronJob it
/// suspended.
type State = BTreeMap<String, String>;

fn awake() -> State {
    state(&[
        ("deployment/always", "2"),
        ("deployment/api", "3"),
        ("deployment/idle", "0"),
        ("statefulset/db", "1"),
        ("cronjob/nightly", "false"),
        ("cronjob/paused", "true"),
    ])
}

/// Asleep, but for `kind`, which never slept.
fn asleep_but(kind: Option<WorkloadKind>) -> State {
    let mut state = state(&[
        ("deployment/always", "2"),
        ("deployment/api", "0 (3)"),
        ("deployment/idle", "0"),
        ("statefulset/db", "0 (1)"),
        ("cronjob/nightly", "true (marked)"),
        ("cronjob/paused", "true"),
    ]);
    if let Some(kind) = kind {
        let prefix = format!("{}/", kind.kind().to_ascii_lowercase());
        for (name, value) in awake() {
            if name.starts_with(&prefix) {
                state.insert(name, value);
            }
        }
    }
    state
}

fn state(pairs: &[(&str, &str)]) -> State {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn run(h: &Harness, index: usize, row: Row) -> anyhow::Result<()> {
    let sim = h.cluster.simulator().expect("rows run on the simulator");
    let name = h.create(&format!("f{index}"), true).await?;
    h.phase(&name, Phase::Active).await?;
    make_workloads(h, &name).await?;
    let faults = RowFaults {
        sim,
        namespace: name.clone(),
    };
    let many = row.kind.many();
    let skipped = format!("{many} skipped: Berth may not");

    match row.when {
        When::Always => {
            faults.inject(row, FOR_GOOD);
            h.sleep(&name).await?;
            let says = format!("{many} skipped: this cluster does not serve");
            h.asleep(&name, "ScaledToZero", &says).await?;
            expect(h, &name, asleep_but(Some(row.kind))).await?;
            h.wake(&name).await?;
            h.asleep(&name, "Running", "woken by admin").await?;
        }
        When::Sleep => {
            faults.inject(row, if row.fault.passing() { TWICE } else { FOR_GOOD });
            h.sleep(&name).await?;
            if row.fault.passing() {
                h.asleep(&name, "ScaledToZero", "put to sleep by admin")
                    .await?;
                expect(h, &name, asleep_but(None)).await?;
            } else {
                h.asleep(&name, "GoingToSleep", &skipped).await?;
                expect(h, &name, asleep_but(Some(row.kind))).await?;
            }
            h.wake(&name).await?;
            if !row.fault.passing() && row.request == Request::List {
                // Still not allowed to list the kind: skipped again, and
                // the space says so until the fault stops and it is woken
                // again.
                h.asleep(&name, "Waking", &skipped).await?;
                faults.stop();
                h.wake(&name).await?;
            }
            h.asleep(&name, "Running", "woken by admin").await?;
        }
        When::Wake => {
            h.sleep(&name).await?;
            h.asleep(&name, "ScaledToZero", "put to sleep by admin")
                .await?;
            expect(h, &name, asleep_but(None)).await?;
            faults.inject(row, if row.fault.passing() { TWICE } else { FOR_GOOD });
            h.wake(&name).await?;
            if !row.fault.passing() {
                // The rest is back; the kind waits, and the space says why.
                h.asleep(&name, "Waking", &skipped).await?;
                let mut half = awake();
                let prefix = format!("{}/", row.kind.kind().to_ascii_lowercase());
                for (k, v) in asleep_but(None) {
                    if k.starts_with(&prefix) {
                        half.insert(k, v);
                    }
                }
                expect(h, &name, half).await?;
                faults.stop();
                h.wake(&name).await?;
            }
            h.asleep(&name, "Running", "woken by admin").await?;
        }
        When::WakeMidSleep => {
            faults.inject(row, FOR_GOOD);
            h.sleep(&name).await?;
            let pending = format!("{many} pending");
            h.asleep(&name, "GoingToSleep", &pending).await?;
            expect(h, &name, asleep_but(Some(row.kind))).await?;
            h.wake(&name).await?;
            if row.request == Request::List {
                // The wake cannot list the kind either: it says what is
                // pending, and the rest is back meanwhile.
                h.asleep(&name, "Waking", &pending).await?;
                expect(h, &name, awake()).await?;
                faults.stop();
                // Asked again, the retry runs now rather than after its
                // backoff.
                h.wake(&name).await?;
            }
            // Nothing of the kind slept: a fault changing it holds up
            // nothing.
            h.asleep(&name, "Running", "woken by admin").await?;
        }
    }
    let view = h.view(&name).await?;
    anyhow::ensure!(
        view.status.phase == Phase::Active,
        "woken: {:?}",
        view.status
    );
    anyhow::ensure!(
        view.status
            .conditions
            .iter()
            .any(|c| c.kind == "Ready" && c.status),
        "{:?}",
        view.status
    );
    expect(h, &name, awake()).await?;

    faults.stop();
    h.sleep(&name).await?;
    h.asleep(&name, "ScaledToZero", "put to sleep by admin")
        .await?;
    expect(h, &name, asleep_but(None)).await
}

/// The faults of one row's namespace.
struct RowFaults<'a> {
    sim: &'a Simulator,
    namespace: String,
}

impl RowFaults<'_> {
    fn inject(&self, row: Row, count: usize) {
        let path = format!("/namespaces/{}/{}", self.namespace, row.kind.plural());
        let (method, path) = match (row.fault, row.request) {
            // Not served: every request about the kind.
            (Fault::Unserved, _) => (None, path),
            (_, Request::List) => (Some("GET"), path),
            (_, Request::Patch) => (Some("PATCH"), format!("{path}/")),
        };
        self.sim
            .faults()
            .fail_next(method, &path, row.fault.status(), count);
    }

    fn stop(&self) {
        self.sim
            .faults()
            .clear_matching(&format!("/namespaces/{}/", self.namespace));
    }
}

async fn make_workloads(h: &Harness, ns: &str) -> anyhow::Result<()> {
    let deployments = h.api("apps/v1", "Deployment", "deployments", Some(ns));
    h.create_object(&deployments, deployment("api", 3, json!({})))
        .await?;
    h.create_object(&deployments, deployment("idle", 0, json!({})))
        .await?;
    h.create_object(
        &deployments,
        deployment("always", 2, json!({"berth.dev/sleep": "never"})),
    )
    .await?;
    let mut db = deployment("db", 1, json!({}));
    db["kind"] = json!("StatefulSet");
    db["spec"]["serviceName"] = json!("db");
    let sets = h.api("apps/v1", "StatefulSet", "statefulsets", Some(ns));
    h.create_object(&sets, db).await?;
    let cronjobs = h.api("batch/v1", "CronJob", "cronjobs", Some(ns));
    for (job, suspend) in [("nightly", false), ("paused", true)] {
        h.create_object(
            &cronjobs,
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": job},
                "spec": {"schedule": "0 3 * * *", "suspend": suspend, "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": "registry.k8s.io/pause:3.9"}]
                }}}}}
            }),
        )
        .await?;
    }
    Ok(())
}

/// The workloads of `ns` now, read across namespaces (a fault matches
/// the namespace's own paths, which the reconciler uses).
async fn workloads(h: &Harness, ns: &str) -> anyhow::Result<State> {
    let mut state = State::new();
    for kind in [Deployment, StatefulSet, CronJob] {
        let (group, version) = kind.api_version().split_once('/').unwrap_or(("", ""));
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, kind.kind()),
            kind.plural(),
        );
        let api: Api<DynamicObject> = Api::all_with(h.cluster.client.clone(), &resource);
        let fields = format!("metadata.namespace={ns}");
        for object in api
            .list(&ListParams::default().fields(&fields))
            .await?
            .items
        {
            let value = serde_json::to_value(&object)?;
            let annotations = &value["metadata"]["annotations"];
            let shown = if kind.scales() {
                let replicas = value["spec"]["replicas"].as_u64().unwrap_or(1);
                match annotations["berth.dev/replicas-before-sleep"].as_str() {
                    Some(before) => format!("{replicas} ({before})"),
                    None => replicas.to_string(),
                }
            } else {
                let suspend = value["spec"]["suspend"] == Value::Bool(true);
                if annotations.get("berth.dev/suspended-by-sleep").is_some() {
                    format!("{suspend} (marked)")
                } else {
                    suspend.to_string()
                }
            };
            let name = object.metadata.name.unwrap_or_default();
            state.insert(
                format!("{}/{name}", kind.kind().to_ascii_lowercase()),
                shown,
            );
        }
    }
    Ok(state)
}

async fn expect(h: &Harness, ns: &str, expected: State) -> anyhow::Result<()> {
    let found = workloads(h, ns).await?;
    anyhow::ensure!(
        found == expected,
        "the workloads are\n{found:?}\nnot\n{expected:?}"
    );
    Ok(())
}

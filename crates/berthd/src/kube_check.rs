//! The `kubernetes` component of `/readyz`: the API server's version and
//! APIs checked against what Berth supports (a server that does not answer
//! is asked again, backing off), then the spaces' watches' first lists.
//! While it waits, `/readyz` names the API's URL and what the last request
//! met ("cannot reach the Kubernetes API at https://10.96.0.1:443:
//! connection refused (os error 111); last tried 2 s ago"); the log says
//! each cause once (`berth_kube::reach`). A server older than Berth
//! supports, or missing an API, is refused: logged as an error and reported
//! not ready, naming its version and what it lacks, for as long as the
//! daemon runs.
//!
//! Once ready it stays ready: the cache keeps serving and the reconciler
//! retries, and an unready pod would be taken out of its Service, which
//! would turn a blip of the API into an outage of Berth. The watches' log
//! lines say when the API stops answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_core::ComponentStatus;
use berth_kube::Cluster;
use berth_kube::version::{MINIMUM, ServerReport};
use berth_server::App;

const COMPONENT: &str = "kubernetes";

/// Sets `kubernetes` in `/readyz` to a live check at once, and spawns the
/// task that moves it on; the task ends once it is ready, or refused.
pub fn start(app: App, cluster: Cluster) -> tokio::task::JoinHandle<()> {
    let listing = Arc::new(AtomicBool::new(false));
    app.readiness().set_live(COMPONENT, {
        let cluster = cluster.clone();
        let listing = listing.clone();
        Arc::new(move || ComponentStatus::NotReady {
            reason: waiting(&cluster, listing.load(Ordering::Relaxed), Instant::now()),
        })
    });
    tokio::spawn(readiness(app, cluster, listing))
}

/// Why `kubernetes` is not ready yet, as of `now`.
fn waiting(cluster: &Cluster, listing: bool, now: Instant) -> String {
    let reach = cluster.reach();
    let at = reach.url().map(|u| format!(" at {u}")).unwrap_or_default();
    match (reach.problem(), listing) {
        (Some(problem), false) => problem.describe(now),
        (Some(problem), true) => format!(
            "the watches on spaces' objects have not listed them yet: {}",
            problem.describe(now)
        ),
        (None, false) => format!("checking the version of the Kubernetes API{at}"),
        (None, true) => {
            format!(
                "the watches on spaces' objects in the Kubernetes API{at} have not listed them yet"
            )
        }
    }
}

async fn readiness(app: App, cluster: Cluster, listing: Arc<AtomicBool>) {
    let mut delay = Duration::from_millis(250);
    let report: ServerReport = loop {
        // A failure is logged (once per cause) and kept for /readyz by
        // the cluster's `reach`.
        match cluster.server_report().await {
            Ok(report) => break report,
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    if let Some(reason) = report.refusal() {
        tracing::error!(
            server = %report.git_version,
            minimum = %MINIMUM,
            missing = ?report.missing,
            "this Kubernetes cluster is not supported: {reason}"
        );
        app.readiness()
            .set(COMPONENT, ComponentStatus::NotReady { reason });
        return;
    }
    tracing::info!(
        server = %report.git_version,
        minimum = %MINIMUM,
        api = cluster.reach().url().unwrap_or(""),
        "the Kubernetes API is a supported release"
    );
    listing.store(true, Ordering::Relaxed);
    cluster.wait_synced().await;
    app.readiness().set(COMPONENT, ComponentStatus::Ready);
}

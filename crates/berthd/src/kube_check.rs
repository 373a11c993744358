//! The `kubernetes` component of `/readyz`: the API server's version and
//! APIs checked against what Berth supports (a server that does not answer
//! is asked again, backing off), then the spaces' watches' first lists. A
//! server older than Berth supports, or missing an API, is refused: logged
//! as an error and reported not ready, naming its version and what it
//! lacks, for as long as the daemon runs.

use std::time::Duration;

use berth_core::ComponentStatus;
use berth_kube::version::{MINIMUM, ServerReport};
use berth_server::App;

const COMPONENT: &str = "kubernetes";

/// Sets `kubernetes` in `/readyz` as the check and the watches go; ends
/// once it is ready, or refused.
pub async fn readiness(app: App, cluster: berth_kube::Cluster) {
    let mut delay = Duration::from_millis(250);
    let report: ServerReport = loop {
        match cluster.server_report().await {
            Ok(report) => break report,
            Err(err) => {
                let chain = berth_core::error::chain(&err);
                tracing::warn!(error = %chain, retry_in = ?delay, "cannot check the Kubernetes API's version");
                not_ready(
                    &app,
                    format!("cannot check the Kubernetes API's version: {chain}"),
                );
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
        not_ready(&app, reason);
        return;
    }
    tracing::info!(
        server = %report.git_version,
        minimum = %MINIMUM,
        "the Kubernetes API is a supported release"
    );
    not_ready(
        &app,
        "the watches on spaces' objects have not listed them yet".to_owned(),
    );
    cluster.wait_synced().await;
    app.readiness().set(COMPONENT, ComponentStatus::Ready);
}

fn not_ready(app: &App, reason: String) {
    app.readiness()
        .set(COMPONENT, ComponentStatus::NotReady { reason });
}

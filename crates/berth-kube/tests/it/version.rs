//! The check `berthd` makes of a Kubernetes API at start: its version and
//! the APIs Berth needs, against a supported server (the simulator, or the
//! real cluster of `BERTH_TEST_KUBECONFIG`) and an old one (the simulator
//! as Kubernetes 1.20, which serves no `batch/v1` CronJobs).

use berth_kube::Cluster;
use berth_kube::version::{KubeVersion, MINIMUM};
use berth_kube_sim::testing::{SUPPORTED_MINOR, TestCluster};
use berth_kube_sim::{KUBERNETES_MINOR, SimOptions, Simulator};

#[tokio::test]
async fn a_supported_server_passes_the_check() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let report = Cluster::new(cluster.client.clone()).server_report().await?;
    assert!(report.supported(), "{report:?}");
    assert!(report.version.is_some_and(|v| v >= MINIMUM), "{report:?}");
    cluster.cleanup().await
}

#[tokio::test]
async fn the_simulator_reports_a_supported_release_and_the_harness_agrees() -> anyhow::Result<()> {
    assert!(
        KubeVersion {
            major: 1,
            minor: KUBERNETES_MINOR
        } >= MINIMUM
    );
    assert_eq!(SUPPORTED_MINOR, MINIMUM.minor, "one minimum everywhere");
    let sim = Simulator::start(SimOptions::default()).await?;
    let report = Cluster::new(sim.client()?).server_report().await?;
    assert_eq!(
        report.git_version,
        format!("v1.{KUBERNETES_MINOR}.0-berth-sim")
    );
    assert_eq!(report.refusal(), None);
    Ok(())
}

#[tokio::test]
async fn an_old_server_is_refused_naming_its_version_and_what_it_lacks() -> anyhow::Result<()> {
    let sim = Simulator::start(SimOptions {
        kubernetes_minor: 20,
        ..SimOptions::default()
    })
    .await?;
    let report = Cluster::new(sim.client()?).server_report().await?;
    assert!(report.too_old());
    assert_eq!(report.missing, ["batch/v1 cronjobs"]);
    let reason = report.refusal().expect("refused");
    assert!(reason.contains("v1.20.0-berth-sim"), "{reason}");
    assert!(reason.contains("1.28 and later"), "{reason}");
    assert!(reason.contains("batch/v1 cronjobs"), "{reason}");
    Ok(())
}

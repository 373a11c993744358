//! `berthd` against a Kubernetes API older than Berth supports (the
//! simulator as Kubernetes 1.20, which serves no `batch/v1` CronJobs): it
//! keeps serving, but `/readyz` reports `kubernetes` not ready with the
//! server's version and what it lacks, and the log says why, as an error.

use std::path::Path;

use berth_core::{ComponentStatus, ReadinessReport};
use berth_kube_sim::{SimOptions, Simulator};
use berth_testkit::eventually;
use std::time::Duration;

use crate::daemon::{BERTHD, Daemon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_older_than_berth_supports_is_refused_in_readyz_and_the_log() {
    let sim = Simulator::start(SimOptions {
        kubernetes_minor: 20,
        ..SimOptions::default()
    })
    .await
    .expect("simulator");
    let temp = tempfile::tempdir().expect("temp");
    let kubeconfig = temp.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig()).expect("kubeconfig");
    let config = temp.path().join("berthd.toml");
    std::fs::write(
        &config,
        format!(
            "[kubernetes]\nmode = \"kubeconfig\"\nkubeconfig = {:?}\n",
            kubeconfig.display().to_string()
        ),
    )
    .expect("config");
    // Never ready, so never "berthd ready": found by its listening line.
    let daemon = Daemon::start_listening(
        Path::new(BERTHD),
        &temp.path().join("data"),
        &["--config", config.to_str().expect("utf-8")],
        &[],
    )
    .expect("berthd starts");

    let url = format!("{}/readyz", daemon.url);
    let reason = eventually(Duration::from_secs(30), "the refusal in /readyz", || {
        let url = url.clone();
        async move {
            let ready = reqwest::get(&url).await?;
            assert_eq!(ready.status(), 503);
            let report: ReadinessReport = ready.json().await?;
            assert!(!report.ready);
            Ok(match report.components.get("kubernetes") {
                Some(ComponentStatus::NotReady { reason }) if reason.contains("Berth supports") => {
                    Some(reason.clone())
                }
                _ => None,
            })
        }
    })
    .await
    .expect("refused");
    assert!(reason.contains("v1.20.0-berth-sim"), "{reason}");
    assert!(reason.contains("1.28 and later"), "{reason}");
    assert!(reason.contains("batch/v1 cronjobs"), "{reason}");

    let log = daemon.log_text();
    let refusal = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| {
            event["message"]
                .as_str()
                .is_some_and(|m| m.contains("not supported"))
        })
        .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
    assert_eq!(refusal["level"], "ERROR", "{refusal}");
    assert_eq!(refusal["server"], "v1.20.0-berth-sim", "{refusal}");
    assert!(
        !log.lines().any(|l| l.contains("\"berthd ready\"")),
        "an unsupported cluster is never ready:\n{log}"
    );
}

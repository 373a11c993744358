//! The Kubernetes API proxy: `kubectl get`-shaped list requests (a space's
//! ConfigMaps, 100 of them) sent back to back by 32 clients, through
//! berthd's `/kube/` with a kube token, next to the same requests sent
//! straight to the API server (the simulator berthd runs against) in the
//! same run. Target: `kube_proxy_ratio` (requests per second through
//! berthd over straight) of at least 0.8.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_kube_sim::{SimOptions, Simulator};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{ClosedLoop, closed_loop};
use crate::spaces::{admin_token, namespace_made};

/// ConfigMaps in the listed space: a list answer of about 30 kB.
const OBJECTS: usize = 100;
const TARGET_RATIO: f64 = 0.8;

#[derive(Serialize)]
pub struct KubeProxyBench {
    pub request: &'static str,
    pub objects: usize,
    pub direct: ClosedLoop,
    pub through_berthd: ClosedLoop,
    /// Requests per second through berthd over straight to the API server.
    pub kube_proxy_ratio: f64,
    /// p99 through berthd minus p99 straight, in milliseconds.
    pub added_p99_ms: f64,
    pub target_ratio: f64,
}

pub async fn run(berthd: &Path, seconds: u64) -> anyhow::Result<KubeProxyBench> {
    let sim = Simulator::start(SimOptions::default()).await?;
    let temp = tempfile::tempdir()?;
    let daemon = crate::daemon_on_sim(berthd, &sim, temp.path(), "127.0.0.1:0", "")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let admin = admin_token(&http, &daemon).await?;
    let kube: Value = http
        .post(format!("{}/api/v1/tokens/kube", daemon.url))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let kube = kube["secret"]
        .as_str()
        .context("no kube token in the answer")?
        .to_owned();

    // The admin's personal space, made by the reconciler at sign-in.
    let direct_url = format!("{}/api/v1/namespaces/admin/configmaps", sim.url());
    namespace_made(&http, &sim.url(), "admin").await?;
    for i in 0..OBJECTS {
        let made = http
            .post(&direct_url)
            .json(&json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("config-{i:03}"), "labels": {"app": "bench"}},
                "data": {"settings.yaml": "x".repeat(200)},
            }))
            .send()
            .await?;
        if !made.status().is_success() {
            bail!("create config-{i:03}: {}", made.text().await?);
        }
    }

    let proxied_url = format!("{}/kube/api/v1/namespaces/admin/configmaps", daemon.url);
    let phase = Duration::from_secs(seconds);
    // Warm both paths: connections, caches, the token's first use.
    closed_loop(&direct_url, None, Duration::from_millis(500)).await?;
    closed_loop(&proxied_url, Some(&kube), Duration::from_millis(500)).await?;
    let direct = closed_loop(&direct_url, None, phase).await?;
    let through_berthd = closed_loop(&proxied_url, Some(&kube), phase).await?;
    if through_berthd.errors > 0 || direct.errors > 0 {
        bail!(
            "requests failed: {} through berthd, {} straight",
            through_berthd.errors,
            direct.errors
        );
    }
    Ok(KubeProxyBench {
        request: "GET /api/v1/namespaces/SPACE/configmaps",
        objects: OBJECTS,
        kube_proxy_ratio: through_berthd.requests_per_second / direct.requests_per_second,
        added_p99_ms: through_berthd.latency.p99_ms - direct.latency.p99_ms,
        direct,
        through_berthd,
        target_ratio: TARGET_RATIO,
    })
}

//! The Kubernetes simulator at the scale Berth's reconcilers run at: 10,000
//! namespaces, each with a ResourceQuota and a NetworkPolicy, created while
//! 50 watches follow the namespaces; then list latency over all of them. It
//! keeps reconciler benchmarks honest: if the simulator were the bottleneck,
//! they would measure it instead of Berth.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_kube_sim::{SimOptions, Simulator};
use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde::Serialize;
use serde_json::json;

use crate::{Latency, rss_bytes};

const WATCHES: usize = 50;
const WRITERS: usize = 32;
const LIST_RUNS: usize = 10;

#[derive(Serialize)]
pub struct KubeSimBench {
    pub namespaces: usize,
    pub objects_created: usize,
    pub watches: usize,
    pub create_seconds: f64,
    pub creates_per_second: f64,
    pub create_latency: Latency,
    /// From the last create's answer until all 50 watches had seen every
    /// namespace.
    pub watch_catch_up_ms: f64,
    pub watch_events_delivered: usize,
    pub list_all_namespaces: Latency,
    pub list_all_quotas: Latency,
    pub list_by_label: Latency,
    pub process_rss_bytes: Option<u64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram bounds")
}

pub async fn run(namespaces: usize) -> anyhow::Result<KubeSimBench> {
    let sim = Simulator::start(SimOptions {
        event_history: 10_000,
        ..SimOptions::default()
    })
    .await?;
    let client = sim.client()?;
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let start_rv = ns_api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .context("list without resourceVersion")?;

    let seen = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    for _ in 0..WATCHES {
        let api = ns_api.clone();
        let rv = start_rv.clone();
        let seen = seen.clone();
        watchers.push(tokio::spawn(async move {
            let params = WatchParams::default().labels("bench=yes").timeout(600);
            let mut stream = api.watch(&params, &rv).await?.boxed();
            let mut added = 0;
            while added < namespaces {
                match stream.try_next().await? {
                    Some(WatchEvent::Added(_)) => {
                        added += 1;
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(WatchEvent::Error(status)) => {
                        anyhow::bail!("watch failed: {}", status.message)
                    }
                    Some(_) => {}
                    None => anyhow::bail!("watch ended after {added} events"),
                }
            }
            anyhow::Ok(())
        }));
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let client = client.clone();
        let next = next.clone();
        writers.push(tokio::spawn(async move {
            let mut latencies = histogram()?;
            let ns_api: Api<Namespace> = Api::all(client.clone());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= namespaces {
                    break;
                }
                let name = format!("space-{i:05}");
                let t = Instant::now();
                ns_api
                    .create(&PostParams::default(), &serde_json::from_value(json!({
                        "metadata": {"name": name, "labels": {"bench": "yes", "berth.dev/space": name}}
                    }))?)
                    .await?;
                latencies.saturating_record(t.elapsed().as_micros() as u64);
                let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &name);
                let t = Instant::now();
                quotas
                    .create(&PostParams::default(), &serde_json::from_value(json!({
                        "metadata": {"name": "space", "labels": {"bench": "yes"}},
                        "spec": {"hard": {"pods": "20", "requests.cpu": "4", "requests.memory": "8Gi"}}
                    }))?)
                    .await?;
                latencies.saturating_record(t.elapsed().as_micros() as u64);
                let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &name);
                let t = Instant::now();
                policies
                    .create(&PostParams::default(), &serde_json::from_value(json!({
                        "metadata": {"name": "isolate", "labels": {"bench": "yes"}},
                        "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                                 "ingress": [{"from": [{"podSelector": {}}]}]}
                    }))?)
                    .await?;
                latencies.saturating_record(t.elapsed().as_micros() as u64);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut create_latency = histogram()?;
    for writer in writers {
        create_latency.add(writer.await??)?;
    }
    let create_seconds = started.elapsed().as_secs_f64();
    let caught_up = Instant::now();
    for watcher in watchers {
        tokio::time::timeout(Duration::from_secs(600), watcher)
            .await
            .context("watches did not catch up within 10 minutes")???;
    }
    let watch_catch_up_ms = caught_up.elapsed().as_secs_f64() * 1000.0;

    let quota_api: Api<ResourceQuota> = Api::all(client.clone());
    let list_all_namespaces = time_lists(
        || async { Ok(ns_api.list(&ListParams::default()).await?.items.len()) },
        namespaces,
    )
    .await?;
    let list_all_quotas = time_lists(
        || async { Ok(quota_api.list(&ListParams::default()).await?.items.len()) },
        namespaces,
    )
    .await?;
    let list_by_label = time_lists(
        || async {
            Ok(ns_api
                .list(&ListParams::default().labels("berth.dev/space=space-04242"))
                .await?
                .items
                .len())
        },
        usize::from(namespaces > 4242),
    )
    .await?;

    Ok(KubeSimBench {
        namespaces,
        objects_created: namespaces * 3,
        watches: WATCHES,
        create_seconds,
        creates_per_second: (namespaces * 3) as f64 / create_seconds,
        create_latency: Latency::from_micros(&create_latency),
        watch_catch_up_ms,
        watch_events_delivered: seen.load(Ordering::Relaxed),
        list_all_namespaces,
        list_all_quotas,
        list_by_label,
        process_rss_bytes: rss_bytes(std::process::id()),
    })
}

async fn time_lists<F, Fut>(mut list: F, expected: usize) -> anyhow::Result<Latency>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut latencies = histogram()?;
    for _ in 0..LIST_RUNS {
        let t = Instant::now();
        let count = list().await?;
        latencies.saturating_record(t.elapsed().as_micros() as u64);
        anyhow::ensure!(
            count >= expected,
            "listed {count} objects, expected at least {expected}"
        );
    }
    Ok(Latency::from_micros(&latencies))
}

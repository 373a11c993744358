//! `GET /api/v1/version` under load: closed-loop throughput with concurrent
//! keep-alive connections, then an open-loop run at a fixed 1,000 requests/s
//! (latency measured from each request's scheduled start, so a stall counts
//! against every request it delays). Target: p99 under 10 ms at 1,000/s.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_testkit::DaemonProcess;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{Latency, rss_bytes};

const CONNECTIONS: usize = 32;
const FIXED_RATE: u64 = 1_000;

#[derive(Serialize)]
pub struct ApiBench {
    pub endpoint: &'static str,
    pub closed_loop: ClosedLoop,
    pub fixed_rate: FixedRate,
    pub rss_idle_bytes: Option<u64>,
    pub rss_after_load_bytes: Option<u64>,
}

#[derive(Serialize)]
pub struct ClosedLoop {
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_second: f64,
    pub latency: Latency,
}

#[derive(Serialize)]
pub struct FixedRate {
    pub target_per_second: u64,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    /// From each request's scheduled start: includes the client's timer
    /// granularity (about 1 ms in tokio) and any queueing a stall caused.
    pub latency: Latency,
    /// From the moment each request was actually sent.
    pub service_latency: Latency,
    pub target_p99_ms: f64,
}

pub async fn run(berthd: &Path, seconds: u64) -> anyhow::Result<ApiBench> {
    let daemon = tokio::task::block_in_place(|| DaemonProcess::start(berthd))?;
    let url = format!("{}/api/v1/version", daemon.url);
    let rss_idle_bytes = rss_bytes(daemon.pid());
    let phase = Duration::from_secs(seconds);

    // Warm up connections and the daemon.
    closed_loop(&url, None, Duration::from_millis(500)).await?;
    let closed = closed_loop(&url, None, phase).await?;
    let fixed = fixed_rate(&url, phase).await?;
    let rss_after_load_bytes = rss_bytes(daemon.pid());
    Ok(ApiBench {
        endpoint: "GET /api/v1/version",
        closed_loop: closed,
        fixed_rate: fixed,
        rss_idle_bytes,
        rss_after_load_bytes,
    })
}

/// The load clients' settings: a keep-alive connection for each.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS * 2)
        .timeout(Duration::from_secs(10))
}

fn client() -> anyhow::Result<reqwest::Client> {
    client_builder()
        .build()
        .context("cannot build the HTTP client")
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s with 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")
}

/// `CONNECTIONS` clients sending GET `url` (with `bearer` as their token)
/// back to back for `duration`.
pub(crate) async fn closed_loop(
    url: &str,
    bearer: Option<&str>,
    duration: Duration,
) -> anyhow::Result<ClosedLoop> {
    closed_loop_on(client()?, url, bearer, duration).await
}

/// [`closed_loop`] on `client`, built with [`client_builder`].
pub(crate) async fn closed_loop_on(
    client: reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    duration: Duration,
) -> anyhow::Result<ClosedLoop> {
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let client = client.clone();
        let url = url.to_owned();
        let bearer = bearer.map(str::to_owned);
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = histogram()?;
            while started.elapsed() < duration {
                let sent = Instant::now();
                let mut request = client.get(&url);
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.saturating_record(sent.elapsed().as_micros() as u64);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = histogram()?;
    for worker in workers {
        latencies.add(worker.await??)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(ClosedLoop {
        connections: CONNECTIONS,
        seconds: elapsed,
        requests: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        requests_per_second: latencies.len() as f64 / elapsed,
        latency: Latency::from_micros(&latencies),
    })
}

async fn fixed_rate(url: &str, duration: Duration) -> anyhow::Result<FixedRate> {
    let client = client()?;
    let total = FIXED_RATE * duration.as_secs().max(1);
    let interval = Duration::from_secs(1) / FIXED_RATE as u32;
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut requests = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let client = client.clone();
        let url = url.to_owned();
        let errors = errors.clone();
        requests.push(tokio::spawn(async move {
            let sent = Instant::now();
            match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => {
                    let _ = response.bytes().await;
                    Some((scheduled.elapsed(), sent.elapsed()))
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        }));
    }
    let mut latencies = histogram()?;
    let mut service = histogram()?;
    for request in requests {
        if let Some((from_schedule, from_send)) = request.await? {
            latencies.saturating_record(from_schedule.as_micros() as u64);
            service.saturating_record(from_send.as_micros() as u64);
        }
    }
    Ok(FixedRate {
        target_per_second: FIXED_RATE,
        seconds: started.elapsed().as_secs_f64(),
        requests: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        latency: Latency::from_micros(&latencies),
        service_latency: Latency::from_micros(&service),
        target_p99_ms: 10.0,
    })
}

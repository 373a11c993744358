//! The spaces reconciler at scale. A release `berthd` runs against a
//! Kubernetes API simulator in this process (through a kubeconfig, as it
//! would against a real cluster); spaces are created through the API with
//! 32 concurrent clients; we time until the cluster holds every space's
//! objects and every space is Active, count the API requests the daemon
//! made per space while converged over two resyncs (target: no writes), and
//! read the daemon's memory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_kube_sim::{RequestCounts, SimOptions, Simulator};
use berth_testkit::DaemonProcess;
use serde::Serialize;
use serde_json::{Value, json};

use crate::rss_bytes;

const CLIENTS: usize = 32;
/// Objects the reconciler writes for a new space.
const OBJECTS_PER_SPACE: u64 = 8;
const RESYNC: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery staple";

#[derive(Serialize)]
pub struct SpacesBench {
    pub runs: Vec<SpacesRun>,
}

#[derive(Serialize)]
pub struct SpacesRun {
    pub spaces: usize,
    /// Creating every space through the API.
    pub create_seconds: f64,
    pub creates_per_second: f64,
    /// From the first create until the cluster held every space's objects.
    pub reconcile_seconds: f64,
    pub spaces_reconciled_per_second: f64,
    /// Until the API showed every space Active at its generation.
    pub all_active_seconds: f64,
    /// Requests the daemon made to the Kubernetes API while converging.
    pub converge_requests: RequestCounts,
    /// Requests over two resyncs of a converged cluster, per space.
    pub steady_state_window_seconds: f64,
    pub steady_state_requests: RequestCounts,
    pub steady_state_writes_per_space: f64,
    pub steady_state_reads_per_space: f64,
    pub daemon_rss_bytes: Option<u64>,
    pub daemon_rss_per_space_bytes: Option<f64>,
}

pub async fn run(berthd: &Path, sizes: &[usize]) -> anyhow::Result<SpacesBench> {
    let mut runs = Vec::new();
    for &n in sizes {
        runs.push(one(berthd, n).await?);
    }
    Ok(SpacesBench { runs })
}

fn minus(a: RequestCounts, b: RequestCounts) -> RequestCounts {
    RequestCounts {
        reads: a.reads - b.reads,
        watches: a.watches - b.watches,
        writes: a.writes - b.writes,
    }
}

/// Waits until the simulator at `sim_url` has namespace `name` (a space the
/// reconciler makes, such as the admin's personal one at sign-in).
pub(crate) async fn namespace_made(
    http: &reqwest::Client,
    sim_url: &str,
    name: &str,
) -> anyhow::Result<()> {
    let url = format!("{sim_url}/api/v1/namespaces/{name}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !http.get(&url).send().await?.status().is_success() {
        if std::time::Instant::now() > deadline {
            bail!("space {name} was not made within 30 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

pub(crate) async fn admin_token(
    http: &reqwest::Client,
    daemon: &DaemonProcess,
) -> anyhow::Result<String> {
    let setup = daemon.setup_url().context("no setup link printed")?;
    let secret = setup
        .split("#token=")
        .nth(1)
        .context("setup link has no token")?;
    let answer = http
        .post(format!("{}/api/v1/setup", daemon.url))
        .json(&json!({"setup_token": secret, "username": "admin", "password": PASSWORD}))
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("setup failed: {}", answer.text().await?);
    }
    let token: Value = http
        .post(format!("{}/api/v1/auth/cli/password", daemon.url))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    token["secret"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the sign-in answer")
}

async fn one(berthd: &Path, n: usize) -> anyhow::Result<SpacesRun> {
    let sim = Simulator::start(SimOptions {
        event_history: 100_000,
        ..SimOptions::default()
    })
    .await?;
    let temp = tempfile::tempdir()?;
    let daemon = crate::daemon_on_sim(
        berthd,
        &sim,
        temp.path(),
        "127.0.0.1:0",
        &format!(
            "[spaces]\npersonal_spaces = false\nresync_interval = \"{}s\"\nworkers = 16\n",
            RESYNC.as_secs()
        ),
    )?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let token = Arc::new(admin_token(&http, &daemon).await?);
    let before = sim.requests();

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, token, next, url) = (
            http.clone(),
            token.clone(),
            next.clone(),
            daemon.url.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                let answer = http
                    .post(format!("{url}/api/v1/spaces"))
                    .bearer_auth(token.as_str())
                    .json(&json!({"name": format!("space-{i:05}")}))
                    .send()
                    .await?;
                if answer.status() != 201 {
                    bail!(
                        "create space-{i:05}: {} {}",
                        answer.status(),
                        answer.text().await?
                    );
                }
            }
        }));
    }
    for client in clients {
        client.await??;
    }
    let create_seconds = started.elapsed().as_secs_f64();

    // Converged in the cluster: every object written.
    let want = before.writes + n as u64 * OBJECTS_PER_SPACE;
    let deadline = Instant::now() + Duration::from_secs(600);
    while sim.requests().writes < want {
        if Instant::now() > deadline {
            bail!("the cluster did not get every space's objects within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reconcile_seconds = started.elapsed().as_secs_f64();

    // Converged as the API shows it.
    loop {
        let spaces: Vec<Value> = http
            .get(format!("{}/api/v1/spaces", daemon.url))
            .bearer_auth(token.as_str())
            .send()
            .await?
            .json()
            .await?;
        let active = spaces
            .iter()
            .filter(|s| {
                s["status"]["phase"] == "Active"
                    && s["status"]["observed_generation"] == s["generation"]
            })
            .count();
        if active == n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {active} of {n} spaces became Active within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_active_seconds = started.elapsed().as_secs_f64();
    let converged = sim.requests();

    // Steady state: two resyncs with nothing to do.
    let window = RESYNC * 2 + Duration::from_secs(1);
    tokio::time::sleep(window).await;
    let steady = minus(sim.requests(), converged);
    let rss = rss_bytes(daemon.pid());
    Ok(SpacesRun {
        spaces: n,
        create_seconds,
        creates_per_second: n as f64 / create_seconds,
        reconcile_seconds,
        spaces_reconciled_per_second: n as f64 / reconcile_seconds,
        all_active_seconds,
        converge_requests: minus(converged, before),
        steady_state_window_seconds: window.as_secs_f64(),
        steady_state_requests: steady,
        steady_state_writes_per_space: steady.writes as f64 / n as f64,
        steady_state_reads_per_space: steady.reads as f64 / n as f64,
        daemon_rss_bytes: rss,
        daemon_rss_per_space_bytes: rss.map(|r| r as f64 / n as f64),
    })
}

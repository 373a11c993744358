//! Endpoints: GET of a 1 KiB page, sent back to back by 32 clients over
//! keep-alive connections, through berthd's endpoint proxy
//! (`web-admin.localhost`, a public endpoint) next to the same requests
//! sent straight to the Service in the same run. Target: `endpoint_ratio`
//! (requests per second through berthd over straight) of at least 0.7.
//! Then the space is put to sleep, and `wake_to_first_answer_ms` is the
//! time from the first request to the sleeping space until the page comes
//! back (polling every 50 ms, as the waiting page's client would).
//!
//! The page costs its Service next to nothing, so the first ratio is the
//! proxy's whole cost: a second HTTP exchange on the same two cores as the
//! clients and the Service. The same pair is then run against a page that
//! waits 1 ms first, as an app's database call does
//! (`endpoint_ratio_1ms_service`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_kube_sim::{SimOptions, Simulator};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{ClosedLoop, client_builder, closed_loop_on};
use crate::spaces::{admin_token, namespace_made};

const TARGET_RATIO: f64 = 0.7;
const PAGE: usize = 1024;

#[derive(Serialize)]
pub struct EndpointBench {
    pub request: &'static str,
    pub body_bytes: usize,
    pub direct: ClosedLoop,
    pub through_berthd: ClosedLoop,
    /// Requests per second through berthd over straight to the Service.
    pub endpoint_ratio: f64,
    /// p99 through berthd minus p99 straight, in milliseconds.
    pub added_p99_ms: f64,
    pub target_ratio: f64,
    /// The same pair of runs for a page whose Service waits 1 ms first (a
    /// database round trip): where the proxy's cost stands next to an
    /// app's own.
    pub direct_1ms_service: ClosedLoop,
    pub through_berthd_1ms_service: ClosedLoop,
    pub endpoint_ratio_1ms_service: f64,
    /// From the first request to a sleeping space until its page.
    pub wake_to_first_answer_ms: f64,
}

/// The Service: one page on a keep-alive HTTP/1.1 server.
async fn service() -> anyhow::Result<SocketAddr> {
    let page = "x".repeat(PAGE);
    let waited = page.clone();
    let app = axum::Router::new()
        .route("/", axum::routing::get(move || async move { page }))
        .route(
            "/db",
            axum::routing::get(move || async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                waited
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

pub async fn run(berthd: &Path, seconds: u64) -> anyhow::Result<EndpointBench> {
    let sim = Simulator::start(SimOptions::default()).await?;
    let temp = tempfile::tempdir()?;
    let daemon = crate::daemon_on_sim(
        berthd,
        &sim,
        temp.path(),
        "127.0.0.1:0",
        "[endpoints]\ndomain = \"localhost\"\n",
    )?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let admin = admin_token(&http, &daemon).await?;
    let backend = service().await?;

    // The admin's personal space (made by the reconciler at sign-in), a
    // workload to put to sleep, and its Service at the page's address.
    namespace_made(&http, &sim.url(), "admin").await?;
    let namespace = format!("{}/api/v1/namespaces/admin", sim.url());
    let objects = [
        (
            format!("{}/apis/apps/v1/namespaces/admin/deployments", sim.url()),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}),
        ),
        (
            format!("{namespace}/services"),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"clusterIP": "127.0.0.1", "selector": {"app": "web"},
                    "ports": [{"port": backend.port()}]}}),
        ),
    ];
    for (url, object) in objects {
        let made = http.post(url).json(&object).send().await?;
        if !made.status().is_success() {
            bail!("create {}: {}", object["kind"], made.text().await?);
        }
    }
    let set = http
        .put(format!("{}/api/v1/spaces/admin/endpoints/web", daemon.url))
        .bearer_auth(&admin)
        .json(&json!({"access": "public"}))
        .send()
        .await?;
    if !set.status().is_success() {
        bail!("set the endpoint: {}", set.text().await?);
    }
    let daemon_addr: SocketAddr = daemon
        .url
        .trim_start_matches("http://")
        .parse()
        .context("the daemon's address")?;
    let endpoint_url = format!("http://web-admin.localhost:{}/", daemon_addr.port());
    let through = || {
        client_builder()
            .resolve("web-admin.localhost", daemon_addr)
            .build()
            .context("cannot build the HTTP client")
    };
    let direct_url = format!("http://{backend}/");

    let phase = Duration::from_secs(seconds);
    let warm = Duration::from_millis(500);
    closed_loop_on(client_builder().build()?, &direct_url, None, warm).await?;
    closed_loop_on(through()?, &endpoint_url, None, warm).await?;
    let direct = closed_loop_on(client_builder().build()?, &direct_url, None, phase).await?;
    let through_berthd = closed_loop_on(through()?, &endpoint_url, None, phase).await?;
    if through_berthd.errors > 0 || direct.errors > 0 {
        bail!(
            "requests failed: {} through berthd, {} straight",
            through_berthd.errors,
            direct.errors
        );
    }

    let direct_1ms_service = closed_loop_on(
        client_builder().build()?,
        &format!("{direct_url}db"),
        None,
        phase,
    )
    .await?;
    let through_berthd_1ms_service =
        closed_loop_on(through()?, &format!("{endpoint_url}db"), None, phase).await?;
    if through_berthd_1ms_service.errors > 0 || direct_1ms_service.errors > 0 {
        bail!(
            "requests to the 1 ms page failed: {} through berthd, {} straight",
            through_berthd_1ms_service.errors,
            direct_1ms_service.errors
        );
    }
    let wake_to_first_answer_ms =
        wake(&http, &daemon.url, &admin, &through()?, &endpoint_url).await?;
    Ok(EndpointBench {
        request: "GET / (1 KiB) of a public endpoint",
        body_bytes: PAGE,
        endpoint_ratio: through_berthd.requests_per_second / direct.requests_per_second,
        added_p99_ms: through_berthd.latency.p99_ms - direct.latency.p99_ms,
        direct,
        through_berthd,
        target_ratio: TARGET_RATIO,
        endpoint_ratio_1ms_service: through_berthd_1ms_service.requests_per_second
            / direct_1ms_service.requests_per_second,
        direct_1ms_service,
        through_berthd_1ms_service,
        wake_to_first_answer_ms,
    })
}

/// Puts the space to sleep, waits until it is, and times the first
/// request to it until the page comes back.
async fn wake(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<f64> {
    let slept = http
        .post(format!("{base}/api/v1/spaces/admin/sleep"))
        .bearer_auth(admin)
        .send()
        .await?;
    if !slept.status().is_success() {
        bail!("sleep: {}", slept.text().await?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let space: Value = http
            .get(format!("{base}/api/v1/spaces/admin"))
            .bearer_auth(admin)
            .send()
            .await?
            .json()
            .await?;
        if space["status"]["phase"] == "Sleeping" {
            break;
        }
        if Instant::now() > deadline {
            bail!("the space did not fall asleep within 60 s: {space}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    loop {
        let answer = client.get(url).send().await?;
        match answer.status().as_u16() {
            200 => return Ok(started.elapsed().as_secs_f64() * 1000.0),
            503 if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            status => bail!("waking: {status} {}", answer.text().await?),
        }
    }
}

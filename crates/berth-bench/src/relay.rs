//! The relay under load, measured side by side in one run: a release
//! `berthd`, and in this process the two sides of dev sessions (each a
//! `berth-proto` session over a WebSocket, as the CLI and the agent are).
//!
//! - throughput of one stream through the relay, next to a plain loopback
//!   TCP copy of the same bytes (the limit); target at least 1 GB/s;
//! - small-message round trips through the relay, p50 and p99;
//! - the daemon's memory per idle session (500 paired sessions);
//! - 2,000 concurrent sessions, each sending a small message every 100 ms
//!   and waiting for its echo.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_proto::mux::{Incoming, Mux, MuxConfig, Side};
use berth_proto::{Handshake, Hello, PortForwardOpen, Welcome};
use berth_testkit::DaemonProcess;
use berth_testkit::relay::{WsLink, connect, echo};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Latency, rss_bytes};

const BULK: u64 = 1 << 30;
const ROUND_TRIPS: usize = 2_000;
const IDLE_SESSIONS: usize = 500;
const CONCURRENT_SESSIONS: usize = 2_000;

#[derive(Serialize)]
pub struct RelayBench {
    pub bulk_bytes: u64,
    pub tcp_loopback_mb_per_s: f64,
    pub relay_mb_per_s: f64,
    pub relay_share_of_tcp: f64,
    /// The same share under the name runs are compared by (issue 16).
    pub ratio_to_tcp: f64,
    pub round_trip_64_bytes: Latency,
    pub idle_sessions: usize,
    pub daemon_rss_before_bytes: Option<u64>,
    pub daemon_rss_idle_sessions_bytes: Option<u64>,
    pub daemon_bytes_per_idle_session: Option<f64>,
    pub concurrent: Concurrent,
}

#[derive(Serialize)]
pub struct Concurrent {
    pub sessions: usize,
    pub seconds: f64,
    pub messages: u64,
    pub errors: u64,
    pub round_trip: Latency,
    pub daemon_rss_bytes: Option<u64>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")
}

/// Both sides of one session, paired through the relay.
struct Pair {
    client: Mux,
    agent_incoming: Incoming,
}

async fn pair(base: &str, token: &str, http: &reqwest::Client) -> anyhow::Result<Pair> {
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(token)
        .json(&json!({"space": "admin"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["session"]["id"]
        .as_str()
        .context("no session id")?
        .to_owned();
    let agent_token = created["agent_token"]
        .as_str()
        .context("no agent token")?
        .to_owned();
    let hello = Hello::new(Some(id), None).to_json();
    let agent = {
        let (base, hello) = (base.to_owned(), hello.clone());
        tokio::spawn(async move { connect(&base, "agent", &agent_token, hello).await })
    };
    let (client_ws, client_welcome) = connect(base, "client", token, hello)
        .await
        .map_err(|e| anyhow::anyhow!("client: {e}"))?;
    let (agent_ws, agent_welcome) = agent.await?.map_err(|e| anyhow::anyhow!("agent: {e}"))?;
    let (client, _client_in, mut client_driver) = Mux::new(MuxConfig::new(Side::Client));
    let (_agent, agent_incoming, mut agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    let peer = |w: serde_json::Value| Welcome::from_json(w).map(|w| w.peer_last_received);
    let (cp, ap) = (peer(client_welcome)?, peer(agent_welcome)?);
    tokio::spawn(async move {
        let _ = client_driver
            .run(
                WsLink {
                    ws: client_ws,
                    cut_after: None,
                },
                cp,
            )
            .await;
    });
    tokio::spawn(async move {
        let _keep = _agent;
        let _ = agent_driver
            .run(
                WsLink {
                    ws: agent_ws,
                    cut_after: None,
                },
                ap,
            )
            .await;
    });
    Ok(Pair {
        client,
        agent_incoming,
    })
}

async fn tcp_baseline() -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await?;
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        while total < BULK {
            let n = conn.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        anyhow::Ok(total)
    });
    let started = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < BULK {
        conn.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    let got = reader.await??;
    let seconds = started.elapsed().as_secs_f64();
    if got < BULK {
        bail!("the TCP reader got {got} of {BULK} bytes");
    }
    Ok(BULK as f64 / seconds / 1e6)
}

async fn relay_bulk(pair: Pair) -> anyhow::Result<f64> {
    let Pair {
        client,
        mut agent_incoming,
    } = pair;
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    {
        let (received, done) = (received.clone(), done.clone());
        tokio::spawn(async move {
            if let Some((mut stream, _, _)) = agent_incoming.accept().await {
                while let Some(Ok(data)) = stream.recv().await {
                    if received.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64
                        >= BULK
                    {
                        done.notify_one();
                    }
                }
            }
        });
    }
    let stream = client
        .open_with(&PortForwardOpen {
            port: 1,
            host: None,
        })
        .await?;
    let started = Instant::now();
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < BULK {
        stream.send(&chunk).await?;
        sent += chunk.len() as u64;
    }
    tokio::time::timeout(Duration::from_secs(300), done.notified())
        .await
        .context("the relay did not deliver the bulk transfer within 5 minutes")?;
    Ok(BULK as f64 / started.elapsed().as_secs_f64() / 1e6)
}

async fn round_trips(
    client: &Mux,
    count: usize,
    size: usize,
    every: Option<Duration>,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut hist = histogram()?;
    let mut stream = client
        .open_with(&PortForwardOpen {
            port: 2,
            host: None,
        })
        .await?;
    let message = vec![1u8; size];
    let mut errors = 0;
    for _ in 0..count {
        let started = Instant::now();
        stream.send(&message).await?;
        let mut got = 0;
        while got < size {
            match stream.recv().await {
                Some(Ok(data)) => got += data.len(),
                _ => {
                    errors += 1;
                    break;
                }
            }
        }
        hist.record(started.elapsed().as_micros().max(1) as u64)?;
        if let Some(every) = every {
            tokio::time::sleep(every.saturating_sub(started.elapsed())).await;
        }
    }
    Ok((hist, errors))
}

pub async fn run(berthd: &Path, seconds: u64) -> anyhow::Result<RelayBench> {
    let temp = tempfile::tempdir()?;
    let config = temp.path().join("berthd.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nmax_sessions_per_user = {}\n",
            CONCURRENT_SESSIONS + 10
        ),
    )?;
    let daemon = tokio::task::block_in_place(|| {
        DaemonProcess::start_in(
            berthd,
            &temp.path().join("data"),
            &["--config", &config.display().to_string()],
        )
    })?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let token = crate::spaces::admin_token(&http, &daemon).await?;

    let tcp_loopback_mb_per_s = tcp_baseline().await?;
    let relay_mb_per_s = relay_bulk(pair(&daemon.url, &token, &http).await?).await?;

    let rtt_pair = pair(&daemon.url, &token, &http).await?;
    echo(rtt_pair.agent_incoming);
    let (rtt, _) = round_trips(&rtt_pair.client, ROUND_TRIPS, 64, None).await?;

    let rss_before = rss_bytes(daemon.pid());
    let mut pairs = Vec::new();
    for _ in 0..IDLE_SESSIONS {
        pairs.push(pair(&daemon.url, &token, &http).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss_bytes(daemon.pid());
    let per_idle = match (rss_before, rss_idle) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / IDLE_SESSIONS as f64),
        _ => None,
    };
    while pairs.len() < CONCURRENT_SESSIONS {
        pairs.push(pair(&daemon.url, &token, &http).await?);
    }

    // Every session at once: a 256-byte message every 100 ms, echoed.
    let window = Duration::from_secs(seconds);
    let count = (window.as_millis() / 100) as usize;
    let started = Instant::now();
    let mut runs = Vec::new();
    for pair in pairs {
        let Pair {
            client,
            agent_incoming,
        } = pair;
        echo(agent_incoming);
        runs.push(tokio::spawn(async move {
            round_trips(&client, count, 256, Some(Duration::from_millis(100))).await
        }));
    }
    let mut total = histogram()?;
    let mut errors = 0;
    for run in runs {
        match run.await? {
            Ok((hist, e)) => {
                total.add(&hist)?;
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let concurrent_seconds = started.elapsed().as_secs_f64();
    let ratio_to_tcp = relay_mb_per_s / tcp_loopback_mb_per_s;
    Ok(RelayBench {
        bulk_bytes: BULK,
        tcp_loopback_mb_per_s,
        relay_mb_per_s,
        relay_share_of_tcp: ratio_to_tcp,
        ratio_to_tcp,
        round_trip_64_bytes: Latency::from_micros(&rtt),
        idle_sessions: IDLE_SESSIONS,
        daemon_rss_before_bytes: rss_before,
        daemon_rss_idle_sessions_bytes: rss_idle,
        daemon_bytes_per_idle_session: per_idle,
        concurrent: Concurrent {
            sessions: CONCURRENT_SESSIONS,
            seconds: concurrent_seconds,
            messages: total.len(),
            errors,
            round_trip: Latency::from_micros(&total),
            daemon_rss_bytes: rss_bytes(daemon.pid()),
        },
    })
}

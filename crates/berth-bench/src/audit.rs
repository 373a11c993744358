//! The audit log: durable appends per second with 64 concurrent writers
//! (each waits for its event to be on disk, as a request does), then filtered
//! query latency over a log of a million events (ten million with
//! `--audit-events 10000000`). Targets: 20,000 durable appends/s; any
//! filtered query under 100 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_audit::{ActorKind, Audit, EventActor, EventResource, NewEvent, Outcome, Query};
use berth_store::{Holder, Store};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{Latency, rss_bytes};

const WRITERS: usize = 64;
const QUERY_RUNS: usize = 30;

#[derive(Serialize)]
pub struct AuditBench {
    pub writers: usize,
    pub durable_appends_per_second: f64,
    pub append_latency: Latency,
    pub target_appends_per_second: u64,
    pub events: u64,
    pub fill_seconds: f64,
    pub queries: Vec<QueryResult>,
    pub target_query_ms: f64,
    pub rss_bytes: Option<u64>,
}

#[derive(Serialize)]
pub struct QueryResult {
    pub name: &'static str,
    pub returned: usize,
    pub latency: Latency,
}

fn event(i: u64) -> NewEvent {
    // 200 users, 12 actions, 500 spaces, mostly successes: a team's mix.
    const ACTIONS: &[&str] = &[
        "auth.login",
        "auth.logout",
        "token.create",
        "token.revoke",
        "space.create",
        "space.update",
        "space.delete",
        "space.sleep",
        "space.wake",
        "devsession.start",
        "devsession.exec",
        "catalog.install",
    ];
    let outcome = match i % 97 {
        0 => Outcome::Denied,
        1..=3 => Outcome::Failure,
        _ => Outcome::Success,
    };
    NewEvent::new(
        EventActor {
            kind: ActorKind::User,
            id: Some(format!("u-{}", i % 200)),
            name: format!("user{}", i % 200),
        },
        ACTIONS[(i % ACTIONS.len() as u64) as usize],
        EventResource {
            kind: "space".to_owned(),
            id: None,
            name: Some(format!("space{}", i % 500)),
            space: Some(format!("space{}", i % 500)),
        },
        outcome,
    )
}

pub async fn run(events: u64, seconds: u64) -> anyhow::Result<AuditBench> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path(), &Holder::this_process("bench"))?);
    let audit = Audit::open(store).map_err(|e| anyhow::anyhow!("{e}"))?;

    // Durable appends: each writer appends and waits for its flush.
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let phase = Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let audit = audit.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            while started.elapsed() < phase {
                let t = Instant::now();
                let i = count.fetch_add(1, Ordering::Relaxed);
                let sealed = audit.record(event(i)).map_err(|e| anyhow::anyhow!("{e}"))?;
                audit
                    .durable(sealed.seq)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                latencies.saturating_record(t.elapsed().as_micros() as u64);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for task in tasks {
        latencies.add(task.await??)?;
    }
    let appended = latencies.len();
    let durable_rate = appended as f64 / started.elapsed().as_secs_f64();

    // Fill to the query size without waiting for each flush.
    let fill = Instant::now();
    let mut i = count.load(Ordering::Relaxed);
    while audit.head().seq < events {
        audit.record(event(i)).map_err(|e| anyhow::anyhow!("{e}"))?;
        i += 1;
    }
    audit
        .durable(audit.head().seq)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let fill_seconds = fill.elapsed().as_secs_f64();

    let last = audit
        .query(&Query {
            limit: Some(1),
            ..Query::default()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let newest = last
        .events
        .first()
        .context("the log is empty")?
        .time_unix_nano;
    let hour_ago = newest.saturating_sub(3_600_000_000_000);
    let cases: Vec<(&'static str, Query)> = vec![
        ("newest 100", Query::default()),
        (
            "one actor",
            Query {
                actor: Some("user42".into()),
                ..Query::default()
            },
        ),
        (
            "action prefix space.",
            Query {
                action: Some("space.".into()),
                ..Query::default()
            },
        ),
        (
            "denied only",
            Query {
                outcome: Some(Outcome::Denied),
                ..Query::default()
            },
        ),
        (
            "one space, one action",
            Query {
                space: Some("space7".into()),
                action: Some("devsession.exec".into()),
                ..Query::default()
            },
        ),
        (
            "actor + denied (rare)",
            Query {
                actor: Some("user13".into()),
                outcome: Some(Outcome::Denied),
                ..Query::default()
            },
        ),
        (
            "last hour, one actor",
            Query {
                since: Some(hour_ago),
                actor: Some("user99".into()),
                ..Query::default()
            },
        ),
        (
            "no match",
            Query {
                actor: Some("nobody".into()),
                ..Query::default()
            },
        ),
    ];
    let mut queries = Vec::new();
    for (name, query) in cases {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut returned = 0;
        for _ in 0..QUERY_RUNS {
            let t = Instant::now();
            let page = audit.query(&query).map_err(|e| anyhow::anyhow!("{e}"))?;
            h.saturating_record(t.elapsed().as_micros() as u64);
            returned = page.events.len();
        }
        queries.push(QueryResult {
            name,
            returned,
            latency: Latency::from_micros(&h),
        });
    }
    Ok(AuditBench {
        writers: WRITERS,
        durable_appends_per_second: durable_rate,
        append_latency: Latency::from_micros(&latencies),
        target_appends_per_second: 20_000,
        events: audit.head().seq,
        fill_seconds,
        queries,
        target_query_ms: 100.0,
        rss_bytes: rss_bytes(std::process::id()),
    })
}

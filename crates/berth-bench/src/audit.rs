//! The audit log: durable appends per second with 64 concurrent writers
//! (each waits for its event to be on disk, as a request does), then filtered
//! query latency over a log of a million events (ten million with
//! `--audit-events 10000000`), the disk the log takes (`du` of the data
//! directory), the memory the fill takes with the store's cache configured
//! as under the chart's 512 MiB limit, and pruning the oldest half.
//! Targets: 20,000 durable appends/s; any filtered query under 100 ms;
//! at most 512 bytes of disk per event; under 512 MB resident.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_audit::{ActorKind, Audit, EventActor, EventResource, NewEvent, Origin, Outcome, Query};
use berth_store::{Holder, Store, StoreOptions};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{Latency, rss_bytes};

const WRITERS: usize = 64;
const QUERY_RUNS: usize = 30;

#[derive(Serialize)]
pub struct AuditBench {
    pub writers: usize,
    pub durable_appends_per_second: f64,
    /// The same figure under the name runs are compared by.
    pub durable_appends_per_s: f64,
    pub append_latency: Latency,
    pub target_appends_per_second: u64,
    pub events: u64,
    pub fill_seconds: f64,
    pub queries: Vec<QueryResult>,
    pub target_query_ms: f64,
    pub rss_bytes: Option<u64>,
    /// The largest resident memory sampled while the log was filled.
    pub rss_max_bytes_during_fill: Option<u64>,
    /// The store's cache, as configured.
    pub cache_bytes: u64,
    /// Events per sealed block of the audit log.
    pub block_events: u32,
    /// `du` of the whole data directory right after the fill.
    pub disk_bytes_after_load: u64,
    /// Sealing what was left unsealed, closing the log, compacting the
    /// store and opening both again.
    pub compaction_seconds: f64,
    /// `du` of the whole data directory after the load and the daemon's
    /// own compaction.
    pub disk_bytes: u64,
    pub disk_bytes_per_event: f64,
    /// sled's own accounting of its files, before and after compaction.
    pub store_size_before_compaction: u64,
    pub store_size_on_disk: u64,
    /// The audit log's keys, and the bytes of its keys and values: what
    /// sled's files would hold with no garbage.
    pub store_live_keys: u64,
    pub store_live_bytes: u64,
    pub retention: Retention,
}

/// Pruning the oldest half of the log.
#[derive(Serialize)]
pub struct Retention {
    pub pruned_events: u64,
    pub prune_seconds: f64,
    pub disk_bytes_before: u64,
    /// Right after pruning: sled keeps the freed space for its next writes.
    pub disk_bytes_after_prune: u64,
    /// After the store's compaction.
    pub disk_bytes_after_compaction: u64,
    pub verify_ok: bool,
    pub verified_events: u64,
    pub verify_seconds: f64,
}

#[derive(Serialize)]
pub struct QueryResult {
    pub name: &'static str,
    pub returned: usize,
    pub latency: Latency,
}

/// splitmix64: the bench's request and trace ids, random-looking but the
/// same every run.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An event of the size the daemon records for an API call: actor, origin
/// (address, user agent, a UUID request id, a W3C trace id), action,
/// resource, outcome, status, and a small before/after change.
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
    let (a, b) = (mix(i), mix(i ^ 0x5555_5555));
    let request_id = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    );
    let space = format!("space{}", i % 500);
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
            name: Some(space.clone()),
            space: Some(space),
        },
        outcome,
    )
    .origin(Origin {
        source: Some(format!(
            "10.{}.{}.{}:{}",
            i % 4,
            i % 200,
            17 + i % 3,
            30_000 + a % 30_000
        )),
        user_agent: Some("berth/0.1.0 (linux; x86_64)".to_owned()),
        request_id: Some(request_id),
        trace_id: Some(format!("{:016x}{:016x}", mix(a), mix(b))),
    })
    .status(if outcome == Outcome::Success {
        200
    } else {
        403
    })
    .change(
        "persistent",
        serde_json::Value::Bool(i.is_multiple_of(2)),
        serde_json::Value::Bool(i % 2 == 1),
    )
}

/// The store's cache: what berthd gives it under the chart's 512 MiB limit.
const CACHE_BYTES: u64 = 128 << 20;

pub async fn run(events: u64, seconds: u64) -> anyhow::Result<AuditBench> {
    let dir = tempfile::tempdir()?;
    let options = StoreOptions {
        cache_bytes: Some(CACHE_BYTES),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_with(
        dir.path(),
        &Holder::this_process("bench"),
        &options,
    )?);
    // Other block sizes can be measured against the default with
    // BERTH_BENCH_AUDIT_BLOCK_EVENTS.
    let block_events = std::env::var("BERTH_BENCH_AUDIT_BLOCK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(berth_audit::BLOCK_EVENTS);
    let audit =
        Audit::open_with(store.clone(), block_events).map_err(|e| anyhow::anyhow!("{e}"))?;

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
    let rss = RssSampler::start();
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
    let rss_max_bytes_during_fill = rss.stop();
    let disk_bytes_after_load = du(dir.path())?;
    // The daemon's own compaction: what the background sealer has not
    // sealed yet goes into blocks, and the store is flushed.
    // Then the store's compaction, which berthd runs when it opens a store
    // whose files have grown past twice their compacted size: the log is
    // closed, the store rewritten, and both opened again.
    let compaction = Instant::now();
    audit.seal().map_err(|e| anyhow::anyhow!("{e}"))?;
    store.flush().await?;
    drop(audit);
    let store_size_before_compaction = store.size_on_disk()?;
    let (store, audit) = reopen(dir.path(), store, &options, block_events).await?;
    let compaction_seconds = compaction.elapsed().as_secs_f64();
    let disk_bytes = du(dir.path())?;
    let store_size_on_disk = store.size_on_disk()?;
    let (store_live_keys, store_live_bytes) =
        store.table_bytes(berth_store::Table::<()>::new("audit"))?;

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
    let events = audit.head().seq;

    // Retention: prune the oldest half, then measure the disk again and
    // verify what remains.
    let half = audit
        .query(&Query {
            before: Some(events / 2 + 2),
            limit: Some(1),
            ..Query::default()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .events
        .first()
        .context("the log has no middle")?
        .time_unix_nano;
    let pruning = Instant::now();
    let pruned_events = audit.prune(half).map_err(|e| anyhow::anyhow!("{e}"))?;
    store.flush().await?;
    let prune_seconds = pruning.elapsed().as_secs_f64();
    let disk_bytes_after_prune = du(dir.path())?;
    // sled reuses what pruning freed; compaction gives it back to the disk.
    drop(audit);
    let (_store, audit) = reopen(dir.path(), store, &options, block_events).await?;
    let disk_bytes_after_compaction = du(dir.path())?;
    let verifying = Instant::now();
    let verified = audit.verify();
    let retention = Retention {
        pruned_events,
        prune_seconds,
        disk_bytes_before: disk_bytes,
        disk_bytes_after_prune,
        disk_bytes_after_compaction,
        verify_ok: verified.ok,
        verified_events: verified.events,
        verify_seconds: verifying.elapsed().as_secs_f64(),
    };

    Ok(AuditBench {
        writers: WRITERS,
        durable_appends_per_second: durable_rate,
        durable_appends_per_s: durable_rate,
        append_latency: Latency::from_micros(&latencies),
        target_appends_per_second: 20_000,
        events,
        fill_seconds,
        queries,
        target_query_ms: 100.0,
        rss_bytes: rss_bytes(std::process::id()),
        rss_max_bytes_during_fill,
        cache_bytes: options.cache_bytes(),
        block_events,
        disk_bytes_after_load,
        compaction_seconds,
        disk_bytes,
        disk_bytes_per_event: disk_bytes as f64 / events.max(1) as f64,
        store_size_before_compaction,
        store_size_on_disk,
        store_live_keys,
        store_live_bytes,
        retention,
    })
}

/// Closes `store` (once the log's tasks let go of it), opens it again with
/// compaction, and opens the log on it.
async fn reopen(
    dir: &std::path::Path,
    store: Arc<Store>,
    options: &StoreOptions,
    block_events: u32,
) -> anyhow::Result<(Arc<Store>, Arc<Audit>)> {
    let mut store = Some(store);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Arc::try_unwrap(store.take().context("the store")?) {
            Ok(closed) => {
                drop(closed);
                break;
            }
            Err(shared) => {
                anyhow::ensure!(Instant::now() < deadline, "the store stays open");
                store = Some(shared);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let options = StoreOptions {
        compaction: berth_store::Compaction::Always,
        ..options.clone()
    };
    let store = Arc::new(Store::open_with(
        dir,
        &Holder::this_process("bench"),
        &options,
    )?);
    let audit =
        Audit::open_with(store.clone(), block_events).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((store, audit))
}

/// Disk space used by everything under `path`, as `du` counts it
/// (allocated blocks, not file lengths).
fn du(path: &std::path::Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
    {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += meta.blocks() * 512;
        if meta.is_dir() {
            total += du(&entry.path())?;
        }
    }
    Ok(total)
}

/// Samples this process's resident memory every 100 ms and keeps the
/// largest figure.
struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<u64>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max = None;
            loop {
                max = max.max(rss_bytes(std::process::id()));
                if flag.load(Ordering::Relaxed) {
                    return max;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler { stop, thread }
    }

    fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(None)
    }
}

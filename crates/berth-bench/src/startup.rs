//! Time from process start to "ready", on a fresh and on an existing store.
//! Target: under 300 ms with an existing store.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_testkit::{DaemonProcess, Signal};
use serde::Serialize;

const RUNS: usize = 10;

#[derive(Serialize)]
pub struct Startup {
    pub fresh_store_ms: f64,
    pub existing_store_runs: usize,
    pub existing_store_p50_ms: f64,
    pub existing_store_max_ms: f64,
    pub target_ms: f64,
}

pub fn run(berthd: &Path) -> anyhow::Result<Startup> {
    let temp = tempfile_dir()?;
    let data_dir = temp.join("data");
    let fresh = time_to_ready(berthd, &data_dir)?;
    let mut existing = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        existing.push(time_to_ready(berthd, &data_dir)?);
    }
    existing.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let _ = std::fs::remove_dir_all(&temp);
    Ok(Startup {
        fresh_store_ms: ms(fresh),
        existing_store_runs: RUNS,
        existing_store_p50_ms: ms(existing[RUNS / 2]),
        existing_store_max_ms: ms(existing[RUNS - 1]),
        target_ms: 300.0,
    })
}

/// Spawn to the ready log line, then a clean SIGTERM stop.
fn time_to_ready(berthd: &Path, data_dir: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut daemon = DaemonProcess::start_in(berthd, data_dir, &[])?;
    let elapsed = started.elapsed();
    daemon.signal(Signal::SIGTERM)?;
    let status = daemon.wait_exit(Duration::from_secs(10))?;
    anyhow::ensure!(status.success(), "berthd exited with {status}");
    Ok(elapsed)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("berth-bench-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

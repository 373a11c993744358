//! `berth-bench`: the benchmarks behind `cargo xtask bench`. Each one starts a
//! release `berthd` as a separate process, drives it over loopback, and writes
//! its figures as JSON to the output directory. Client and daemon share the
//! machine, so figures on a 2-core machine include the client's own cost.

mod api;
mod audit;
mod endpoint;
mod kube_proxy;
mod kube_sim;
mod relay;
mod spaces;
mod ssh;
mod startup;
mod sync;
mod wan;

use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Berth benchmarks; results as JSON")]
struct Args {
    /// The berthd binary to measure (a release build).
    #[arg(long)]
    berthd: PathBuf,
    /// Where to write the JSON results.
    #[arg(long)]
    out: PathBuf,
    /// Seconds each load phase runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Events in the audit log before its queries are timed (10,000,000 for
    /// the full-size run).
    #[arg(long, default_value_t = 1_000_000)]
    audit_events: u64,
    /// Namespaces the Kubernetes simulator benchmark creates.
    #[arg(long, default_value_t = 10_000)]
    namespaces: usize,
    /// Space counts for the spaces benchmark, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000])]
    spaces: Vec<usize>,
    /// Run only the benchmarks whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// The berth CLI the SSH benchmark runs as ssh's ProxyCommand; `berth`
    /// beside the berthd binary when left out.
    #[arg(long)]
    berth: Option<PathBuf>,
    /// Link profiles the WAN benchmark runs, comma-separated (lan, wan,
    /// lossy, far, fast).
    #[arg(long, value_delimiter = ',', default_values_t = ["lan".to_owned(), "wan".to_owned(), "lossy".to_owned(), "far".to_owned(), "fast".to_owned()])]
    wan_profiles: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let selected = |name: &str| args.only.as_deref().is_none_or(|only| name.contains(only));
    if selected("startup") {
        let result = startup::run(&args.berthd)?;
        write(&args, "startup", &result)?;
    }
    if selected("api") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(api::run(&args.berthd, args.seconds))?;
        write(&args, "api", &result)?;
    }
    if selected("audit") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(audit::run(args.audit_events, args.seconds))?;
        write(&args, "audit", &result)?;
    }
    if selected("relay") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(relay::run(&args.berthd, args.seconds))?;
        write(&args, "relay", &result)?;
    }
    if selected("spaces") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(spaces::run(&args.berthd, &args.spaces))?;
        write(&args, "spaces", &result)?;
    }
    if selected("sync") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(sync::run(&args.berthd))?;
        write(&args, "sync", &result)?;
    }
    if selected("wan") {
        let profiles = args
            .wan_profiles
            .iter()
            .map(|name| {
                berth_testkit::wan::profile(name).ok_or_else(|| {
                    anyhow::anyhow!("no WAN profile {name:?} (lan, wan, lossy, far, fast)")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(wan::run(&args.berthd, &profiles))?;
        write(&args, "wan", &result)?;
    }
    if selected("ssh") {
        let berth = args
            .berth
            .clone()
            .unwrap_or_else(|| args.berthd.with_file_name("berth"));
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(ssh::run(&args.berthd, &berth))?;
        write(&args, "ssh", &result)?;
    }
    if selected("endpoint") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(endpoint::run(&args.berthd, args.seconds))?;
        write(&args, "endpoint", &result)?;
    }
    if selected("kube_proxy") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(kube_proxy::run(&args.berthd, args.seconds))?;
        write(&args, "kube_proxy", &result)?;
    }
    if selected("kube_sim") {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(kube_sim::run(args.namespaces))?;
        write(&args, "kube_sim", &result)?;
    }
    Ok(())
}

/// A release `berthd` pointed (by kubeconfig) at `sim`, listening on
/// `listen`, its data in `dir/data` and its berthd.toml in `dir` with
/// `extra` after the `[kubernetes]` table.
pub(crate) fn daemon_on_sim(
    berthd: &std::path::Path,
    sim: &berth_kube_sim::Simulator,
    dir: &std::path::Path,
    listen: &str,
    extra: &str,
) -> anyhow::Result<berth_testkit::DaemonProcess> {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig())?;
    let config = dir.join("berthd.toml");
    std::fs::write(
        &config,
        format!(
            "[kubernetes]\nmode = \"kubeconfig\"\nkubeconfig = {:?}\n\n{extra}",
            kubeconfig.display().to_string()
        ),
    )?;
    tokio::task::block_in_place(|| {
        berth_testkit::DaemonProcess::start_on(
            berthd,
            &dir.join("data"),
            listen,
            &["--config", &config.display().to_string()],
        )
    })
}

fn write<T: Serialize>(args: &Args, name: &str, result: &T) -> anyhow::Result<()> {
    let path = args.out.join(format!("{name}.json"));
    let json = serde_json::to_string_pretty(result)?;
    std::fs::write(&path, format!("{json}\n"))?;
    println!("{name}: {json}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Latency percentiles in milliseconds.
#[derive(Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram recorded in microseconds.
    pub fn from_micros(h: &hdrhistogram::Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds a process has used (user and system, all its threads), from
/// `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields follow its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime, fields 14 and 15 of the whole line, in Linux's
    // USER_HZ, which is 100 on every architecture it runs on.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

//! File sync through the relay, measured side by side in one run: a
//! release `berthd` (pointed at a Kubernetes API simulator in this
//! process, with its agents run locally, as with the embedded cluster),
//! and in this process the CLI's side, as `berth up` runs it.
//!
//! - the initial sync of 10,000 files / 200 MB, next to `tar | tar` over a
//!   loopback TCP connection (target: within 1.5x);
//! - save-to-container latency: a saved file until it is in the
//!   container's folder, p50 and p99 (targets: 30 ms and 100 ms);
//! - a resync with nothing changed over 100,000 files (target: under 1 s);
//! - a burst of 5,000 new files, as a branch checkout makes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_dial::{self as dial, Role};
use berth_kube_sim::{SimOptions, Simulator};
use berth_proto::SyncOpen;
use berth_sync::engine::{self, Phase, Settings, SharedStatus, Status};
use berth_sync::{Input, ScanOptions, StageClock, StageTimes};
use berth_testkit::DaemonProcess;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::Latency;

const INITIAL_FILES: usize = 10_000;
const INITIAL_BYTES: usize = 200_000_000;
const RESYNC_FILES: usize = 100_000;
const BURST_FILES: usize = 5_000;
const SAVES: usize = 300;

#[derive(Serialize)]
pub struct SyncBench {
    /// The headline figures under the names runs are compared by (issue
    /// 16): the first sync over `tar | tar`, the unchanged resync of
    /// 100,000 files, and save-to-container latency.
    pub first_sync_ratio_to_tar: f64,
    pub resync_100k_s: f64,
    pub save_p50_ms: f64,
    pub save_p99_ms: f64,
    pub initial: Initial,
    pub save_to_container: Latency,
    /// The same saves as the CLI saw them: from the watcher's first event
    /// to the agent's acknowledgement.
    pub save_acknowledged: Latency,
    pub resync_unchanged: Resync,
    pub burst: Burst,
    /// Where the first sync's time went (issue 16).
    pub stages: Stages,
    /// Where the unchanged resync's time went.
    pub resync_stages: Stages,
}

/// A sync's time by stage, on each end ([`StageTimes`]: the wall
/// time each end's threads and tasks spent in a stage, so overlapping
/// stages add up to more than the sync), and the CPU each process used.
#[derive(Serialize)]
pub struct Stages {
    pub sync_seconds: f64,
    pub cli: StageTimes,
    /// The agent's end, from the line it logs when the first sync is done.
    pub agent: Option<StageTimes>,
    /// This process: the CLI's end (and the simulator, idle meanwhile).
    pub cli_cpu_s: f64,
    /// `berthd`: the relay, and the agent (run locally).
    pub daemon_cpu_s: f64,
}

#[derive(Serialize)]
pub struct Initial {
    pub files: usize,
    pub bytes: usize,
    pub sync_seconds: f64,
    pub tar_over_tcp_seconds: f64,
    pub sync_over_tar: f64,
    pub wire_bytes: u64,
}

#[derive(Serialize)]
pub struct Resync {
    pub files: usize,
    /// From opening the sync stream to both sides agreeing that nothing
    /// needs to move (both sides rescan with their saved indexes).
    pub seconds: f64,
    pub wire_bytes: u64,
}

#[derive(Serialize)]
pub struct Burst {
    pub files: usize,
    pub seconds: f64,
}

pub fn fill(root: &Path, files: usize, bytes: usize, seed: u64) -> anyhow::Result<()> {
    let per = bytes / files.max(1);
    let mut state = seed | 1;
    for i in 0..files {
        let dir = root
            .join(format!("d{:03}", i % 100))
            .join(format!("e{:02}", (i / 100) % 10));
        std::fs::create_dir_all(&dir)?;
        // Sizes vary around the mean, as source trees' do.
        let size = per / 2 + (i * 7919) % per.max(1);
        let mut content = Vec::with_capacity(size);
        while content.len() < size {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            content.extend_from_slice(&state.to_le_bytes());
        }
        content.truncate(size);
        std::fs::write(dir.join(format!("f{i}.bin")), content)?;
    }
    Ok(())
}

/// `tar -c | tar -x` with a loopback TCP connection between them.
fn tar_over_tcp(from: &Path, to: &Path) -> anyhow::Result<f64> {
    tar_over(from, to, std::net::Ipv4Addr::LOCALHOST, |addr| {
        Ok(std::net::TcpStream::connect(addr)?)
    })
}

/// `tar -c | tar -x` with a TCP connection between them: the receiver
/// listens on `listen`, the sender's connection comes from `connect`.
pub fn tar_over(
    from: &Path,
    to: &Path,
    listen: std::net::Ipv4Addr,
    connect: impl FnOnce(std::net::SocketAddr) -> anyhow::Result<std::net::TcpStream>,
) -> anyhow::Result<f64> {
    use std::process::{Command, Stdio};
    std::fs::create_dir_all(to)?;
    let listener = std::net::TcpListener::bind((listen, 0))?;
    let addr = listener.local_addr()?;
    let started = Instant::now();
    let to = to.to_owned();
    let receiver = std::thread::spawn(move || -> anyhow::Result<()> {
        let (mut socket, _) = listener.accept()?;
        let mut tar = Command::new("tar")
            .args(["-xf", "-", "-C"])
            .arg(&to)
            .stdin(Stdio::piped())
            .spawn()?;
        let mut stdin = tar.stdin.take().context("tar stdin")?;
        let copied = std::io::copy(&mut socket, &mut stdin);
        drop(stdin);
        if !tar.wait()?.success() {
            bail!("tar -x failed");
        }
        match copied {
            // tar -x stops at the archive's end marker and may leave the
            // record's zero padding after it unread.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map(drop).context("feeding tar -x"),
        }
    });
    let mut tar = Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(from)
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = tar.stdout.take().context("tar stdout")?;
    let mut socket = connect(addr)?;
    let sent = std::io::copy(&mut stdout, &mut socket);
    drop(socket);
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
    // The receiver's failure first: the sender's is its consequence.
    received.context("receiving the tar stream")?;
    sent.context("sending the tar stream")?;
    if !tar.wait()?.success() {
        bail!("tar -c failed");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The CLI's side of one sync folder.
pub struct Side {
    status: SharedStatus,
    input: mpsc::Sender<Input>,
    wire: berth_sync::WireCounter,
    stages: std::sync::Arc<StageClock>,
    engine: tokio::task::JoinHandle<Result<(), berth_sync::SyncError>>,
}

impl Side {
    pub fn status(&self) -> Status {
        self.status.lock().clone()
    }

    pub async fn settled(&self, deadline: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + deadline;
        loop {
            let status = self.status();
            if status.phase == Phase::Watching && status.pending == 0 {
                return Ok(());
            }
            if let Some(error) = status.last_error {
                bail!("sync failed: {error}");
            }
            if Instant::now() > until {
                bail!("sync did not settle: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.input.send(Input::Stop).await;
        self.engine.await??;
        Ok(())
    }
}

pub async fn open(
    session: &dial::Session,
    local: &Path,
    remote: &str,
    index_file: PathBuf,
) -> anyhow::Result<Side> {
    let stream = session
        .mux
        .open_with(&SyncOpen {
            version: u64::from(berth_sync::wire::VERSION),
            path: remote.to_owned(),
            ignores: Vec::new(),
        })
        .await?;
    let (input, inbox) = mpsc::channel(64);
    let (outbox, wire) = berth_sync::link::attach(stream, input.clone());
    let stages = outbox.stages().clone();
    let status = SharedStatus::default();
    let settings = Settings {
        root: local.to_owned(),
        options: ScanOptions::default(),
        index_file: Some(index_file),
        watch: true,
    };
    let engine = {
        let (status, watch, wire) = (status.clone(), input.clone(), wire.clone());
        tokio::task::spawn_blocking(move || {
            engine::coordinate(settings, inbox, Some(watch), outbox, wire, status)
        })
    };
    Ok(Side {
        status,
        input,
        wire,
        stages,
        engine,
    })
}

/// A release `berthd` with a dev session ready in the admin's space: the
/// Kubernetes API simulator in this process, the agent run locally.
pub struct Rig {
    _sim: Simulator,
    pub daemon: DaemonProcess,
    pub token: String,
    pub session_id: String,
    /// The container's folder, on this machine (the agent runs locally).
    pub remote_root: PathBuf,
    pub temp: tempfile::TempDir,
}

impl Rig {
    /// Starts the daemon listening on `listen`.
    pub async fn start(berthd: &Path, listen: &str) -> anyhow::Result<Rig> {
        let sim = Simulator::start(SimOptions::default()).await?;
        let temp = tempfile::tempdir()?;
        let daemon = crate::daemon_on_sim(
            berthd,
            &sim,
            temp.path(),
            listen,
            "[dev]\nlocal_agents = true\n",
        )?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let token = crate::spaces::admin_token(&http, &daemon).await?;
        // The admin's personal space, and a workload in it.
        let deployments: kube::Api<kube::core::DynamicObject> = kube::Api::namespaced_with(
            sim.client()?,
            "admin",
            &kube::core::ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk("apps", "v1", "Deployment"),
                "deployments",
            ),
        );
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let created = deployments
                .create(
                    &Default::default(),
                    &serde_json::from_value(json!({
                        "apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "bench"},
                        "spec": {"selector": {"matchLabels": {"app": "bench"}},
                            "template": {"metadata": {"labels": {"app": "bench"}},
                                "spec": {"containers": [{"name": "bench", "image": "bench:1"}]}}}
                    }))?,
                )
                .await;
            match created {
                Ok(_) => break,
                // The personal space's namespace comes with the first sign-in.
                Err(_) if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => return Err(e.into()),
            }
        }
        let dev: serde_json::Value = http
            .post(format!("{}/api/v1/spaces/admin/dev", daemon.url))
            .bearer_auth(&token)
            .json(&json!({"target": "bench", "workload": "deployment/bench"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let session_id = dev["session"]["id"]
            .as_str()
            .context("no session")?
            .to_owned();
        let remote_root = PathBuf::from(dev["local_root"].as_str().context("no local root")?);
        Ok(Rig {
            _sim: sim,
            daemon,
            token,
            session_id,
            remote_root,
            temp,
        })
    }

    /// The CLI's connection to the dev session.
    pub async fn attach(&self) -> anyhow::Result<dial::Session> {
        attach(&self.daemon.url, &self.token, &self.session_id).await
    }
}

/// The CLI's connection to dev session `id` of the daemon at `url`; its
/// connections (and reconnections) are made from the calling runtime.
pub async fn attach(url: &str, token: &str, id: &str) -> anyhow::Result<dial::Session> {
    let first = dial::first(url, Role::Client, token, Some(id), &|_: &str| {})
        .await
        .map_err(|e| anyhow::anyhow!("cannot attach: {e:?}"))?;
    Ok(dial::run(
        url.to_owned(),
        Role::Client,
        token.to_owned(),
        Some(id.to_owned()),
        first,
        |_: &str| {},
    ))
}

pub async fn run(berthd: &Path) -> anyhow::Result<SyncBench> {
    let rig = Rig::start(berthd, "127.0.0.1:0").await?;
    let session = rig.attach().await?;
    let (temp, remote_root) = (&rig.temp, &rig.remote_root);
    let state = temp.path().join("state");

    // The initial sync, and tar over TCP for the same tree.
    let local = temp.path().join("initial");
    fill(&local, INITIAL_FILES, INITIAL_BYTES, 1)?;
    let tar_seconds = tar_over_tcp(&local, &temp.path().join("tar-copy"))?;
    let (side, stages) = timed_sync(
        &rig,
        &session,
        &local,
        "/initial",
        state.join("initial.json"),
        Duration::from_secs(600),
        0,
    )
    .await?;
    let sync_seconds = stages.sync_seconds;
    let initial_wire = side.wire.get();
    // Removed only now: on ext4, creating files right after ten thousand
    // were deleted costs several times more (the inode allocator steps
    // around recently freed inodes), which the sync would pay for tar.
    std::fs::remove_dir_all(temp.path().join("tar-copy"))?;

    // Saves: a file written here until it is in the container's folder.
    let mut to_container = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let remote = remote_root.join("initial");
    for i in 0..SAVES {
        let content = format!("save {i} at {:?}\n", Instant::now());
        let path = local.join(format!("d{:03}/save.txt", i % 7));
        let saved = Instant::now();
        std::fs::write(&path, &content)?;
        let there = remote.join(format!("d{:03}/save.txt", i % 7));
        let until = saved + Duration::from_secs(10);
        loop {
            if std::fs::read(&there).is_ok_and(|b| b == content.as_bytes()) {
                break;
            }
            if Instant::now() > until {
                bail!("save {i} did not arrive");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        to_container.record(saved.elapsed().as_micros() as u64)?;
        // Past the watcher's coalescing window, as a developer's saves are.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    side.settled(Duration::from_secs(30)).await?;
    let mut acknowledged = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for ms in side.status().latencies_ms {
        acknowledged.record((ms * 1000.0).max(1.0) as u64)?;
    }

    // A burst of new files.
    let burst_dir = local.join("burst");
    let started = Instant::now();
    fill(&burst_dir, BURST_FILES, BURST_FILES * 2_000, 3)?;
    let remote_burst = remote.join("burst");
    let until = Instant::now() + Duration::from_secs(300);
    loop {
        side.settled(Duration::from_secs(300)).await?;
        if count_files(&remote_burst) >= BURST_FILES {
            break;
        }
        if Instant::now() > until {
            bail!("the burst did not arrive");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let burst_seconds = started.elapsed().as_secs_f64();
    side.stop().await?;

    // 100,000 files synced once, then a new stream over the same trees.
    let big = temp.path().join("many");
    fill(&big, RESYNC_FILES, RESYNC_FILES * 200, 4)?;
    let side = open(&session, &big, "/many", state.join("many.json")).await?;
    side.settled(Duration::from_secs(900)).await?;
    side.stop().await?;
    let (side, resync_stages) = timed_sync(
        &rig,
        &session,
        &big,
        "/many",
        state.join("many.json"),
        Duration::from_secs(300),
        1,
    )
    .await?;
    let resync_seconds = resync_stages.sync_seconds;
    let resync_wire = side.wire.get();
    if side.status().files_sent + side.status().files_received != 0 {
        bail!("the resync moved files: {:?}", side.status());
    }
    side.stop().await?;
    session.task.abort();

    let save_to_container = Latency::from_micros(&to_container);
    let sync_over_tar = sync_seconds / tar_seconds;
    Ok(SyncBench {
        first_sync_ratio_to_tar: sync_over_tar,
        resync_100k_s: resync_seconds,
        save_p50_ms: save_to_container.p50_ms,
        save_p99_ms: save_to_container.p99_ms,
        initial: Initial {
            files: INITIAL_FILES,
            bytes: INITIAL_BYTES,
            sync_seconds,
            tar_over_tcp_seconds: tar_seconds,
            sync_over_tar,
            wire_bytes: initial_wire,
        },
        save_to_container,
        save_acknowledged: Latency::from_micros(&acknowledged),
        resync_unchanged: Resync {
            files: RESYNC_FILES,
            seconds: resync_seconds,
            wire_bytes: resync_wire,
        },
        burst: Burst {
            files: BURST_FILES,
            seconds: burst_seconds,
        },
        stages,
        resync_stages,
    })
}

/// Opens a sync of `local` into the container's `remote` folder (its
/// `nth` stream there, from 0) and waits until it settles: the side, and
/// where the sync's time went.
async fn timed_sync(
    rig: &Rig,
    session: &dial::Session,
    local: &Path,
    remote: &str,
    index_file: PathBuf,
    deadline: Duration,
    nth: usize,
) -> anyhow::Result<(Side, Stages)> {
    let cpu = || {
        (
            crate::cpu_seconds(std::process::id()).unwrap_or_default(),
            crate::cpu_seconds(rig.daemon.pid()).unwrap_or_default(),
        )
    };
    let before = cpu();
    let started = Instant::now();
    let side = open(session, local, remote, index_file).await?;
    side.settled(deadline).await?;
    let sync_seconds = started.elapsed().as_secs_f64();
    let after = cpu();
    let folder = rig.remote_root.join(remote.trim_start_matches('/'));
    let stages = Stages {
        sync_seconds,
        cli: side.stages.times(),
        agent: agent_stages(&rig.daemon, &folder, nth).await,
        cli_cpu_s: after.0 - before.0,
        daemon_cpu_s: after.1 - before.1,
    };
    Ok((side, stages))
}

/// The stage times the agent syncing into `folder` logged when the first
/// sync of its `nth` stream there (from 0) was done (the line may trail
/// the CLI's view of the end a little).
async fn agent_stages(daemon: &DaemonProcess, folder: &Path, nth: usize) -> Option<StageTimes> {
    let marker = format!("the first sync of {} is applied; ", folder.display());
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let log = daemon.log_text();
        if let Some(line) = log.lines().filter(|l| l.contains(&marker)).nth(nth) {
            let (_, rest) = line.split_once(&marker)?;
            // The message ends at its last stage's " s".
            let end = rest.rfind(" s")? + 2;
            return rest[..end].parse().ok();
        }
        if Instant::now() > until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn count_files(root: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    count
}

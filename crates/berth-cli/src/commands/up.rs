//! `berth up`, `berth down`, `berth init`, `berth sync status|doctor`:
//! the inner loop. `up` puts the manifest's target in dev mode (the daemon
//! patches the workload), attaches to its session, keeps each sync folder
//! in sync both ways and forwards ports, with progress while the first
//! sync runs and one status line after.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_core::dev::{DevMode, DevRequest, DevView, WorkloadView};
use berth_proto::StreamKind;
use berth_sync::engine::{self, Phase, Settings, SharedStatus, Status};
use berth_sync::{Input, ScanOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::commands::sessions;
use crate::manifest::{self, Manifest, Target};
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The manifest's dev target; the only one when left out.
    target: Option<String>,
    /// The manifest; berth.yaml here or in a parent folder by default.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// The space; the manifest's, or the current one.
    #[arg(long)]
    space: Option<String>,
}

impl UpArgs {
    /// The manifest named with `--file`, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// What `berth up` is doing: state, pending files, last error, conflicts.
    Status(UpArgs),
    /// Why sync is slow or what it leaves out: largest folders, ignored
    /// paths, files that cannot sync and why.
    Doctor(UpArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum ManifestCommand {
    /// Print the JSON Schema of berth.yaml.
    Schema,
}

/// What `berth up` writes for `berth sync status`, twice a second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpStatus {
    pub target: String,
    pub space: String,
    pub session: String,
    /// Seconds since the Unix epoch; a status older than a few seconds
    /// belongs to a `berth up` that is no longer running.
    pub updated_at: u64,
    pub folders: Vec<FolderStatus>,
    pub forwards: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FolderStatus {
    pub local: String,
    pub remote: String,
    pub status: Status,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The project's state folder, ignored by git and never synced.
fn state_dir(project: &Path) -> PathBuf {
    let dir = project.join(".berth");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(".gitignore"), "*\n");
    }
    dir
}

struct Resolved {
    manifest: Manifest,
    project: PathBuf,
    target: String,
    space: String,
}

fn resolve(args: &UpArgs, context: Option<&str>) -> Result<Resolved, Failure> {
    let (manifest, file) = manifest::load(args.file.as_deref())?;
    let project = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let target = manifest.target(args.target.as_deref())?.0.to_owned();
    let space = crate::commands::spaces::space_or_current(
        args.space.clone().or_else(|| manifest.space.clone()),
        context,
    )?;
    Ok(Resolved {
        manifest,
        project,
        target,
        space,
    })
}

impl Resolved {
    fn spec(&self) -> &Target {
        self.manifest
            .target(Some(&self.target))
            .map(|(_, t)| t)
            .expect("resolved target")
    }

    /// Each sync folder: the local folder (which must exist) and the
    /// remote path.
    fn folders(&self) -> Result<Vec<(PathBuf, String)>, Failure> {
        self.spec()
            .sync
            .iter()
            .map(|folder| {
                let (local, remote) = folder.parts();
                let path = self.project.join(local);
                let path = path.canonicalize().map_err(|e| {
                    Failure::new(
                        format!("the sync folder {} cannot be used: {e}", path.display()),
                        "make the folder, or fix `sync` in the manifest",
                    )
                })?;
                Ok((path, remote.to_owned()))
            })
            .collect()
    }

    fn status_file(&self) -> PathBuf {
        state_dir(&self.project)
            .join("status")
            .join(format!("{}.json", self.target))
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

struct Folder {
    local: PathBuf,
    remote: String,
    status: SharedStatus,
    input: mpsc::Sender<Input>,
    engine: tokio::task::JoinHandle<Result<(), berth_sync::SyncError>>,
}

pub async fn up(client: &Client, args: UpArgs, context: Option<&str>) -> Result<(), Failure> {
    let resolved = resolve(&args, context)?;
    let spec = resolved.spec().clone();
    let folders = resolved.folders()?;
    let workdir = spec
        .workdir
        .clone()
        .or_else(|| folders.first().map(|(_, remote)| remote.clone()));
    let request = DevRequest {
        target: resolved.target.clone(),
        workload: spec.workload.0.clone(),
        container: spec.container.clone(),
        image: spec.image.clone(),
        command: spec.command.as_ref().map(|c| c.argv()).unwrap_or_default(),
        workdir,
        env: spec.environment.clone(),
    };
    eprintln!(
        "Putting {} in dev mode in space {}…",
        spec.workload.0, resolved.space
    );
    let dev: DevView = client
        .post(&format!("/api/v1/spaces/{}/dev", resolved.space), &request)
        .await?;
    eprintln!(
        "Dev session {} ({}).",
        dev.session.id,
        match dev.mode {
            DevMode::Cluster => "agent in the dev container".to_owned(),
            DevMode::Local => format!(
                "agent in berthd on {}",
                dev.local_root.as_deref().unwrap_or("its data folder")
            ),
        }
    );
    let relay = sessions::attach(client, &dev.session.id).await?;
    let state = state_dir(&resolved.project);
    let mut running = Vec::new();
    for (i, (local, remote)) in folders.into_iter().enumerate() {
        let stream = relay
            .mux
            .open(
                StreamKind::Sync,
                json!({"version": berth_sync::wire::VERSION, "path": remote, "ignores": spec.ignore}),
            )
            .await
            .map_err(|e| Failure::new(format!("cannot start syncing {remote}: {e}"), "try again"))?;
        let (input, inbox) = mpsc::channel(64);
        let (outbox, wire) = berth_sync::link::attach(stream, input.clone());
        let status = SharedStatus::default();
        let settings = Settings {
            root: local.clone(),
            options: ScanOptions {
                ignores: spec.ignore.clone(),
            },
            index_file: Some(
                state
                    .join("sync")
                    .join(format!("{}-{i}.index.json", resolved.target)),
            ),
            watch: true,
        };
        let engine = {
            let status = status.clone();
            let watch = input.clone();
            tokio::task::spawn_blocking(move || {
                engine::coordinate(settings, inbox, Some(watch), outbox, wire, status)
            })
        };
        running.push(Folder {
            local,
            remote,
            status,
            input,
            engine,
        });
    }
    let mut forwards = Vec::new();
    for forward in &spec.forward {
        let (local, remote) = forward.ports();
        let bound = sessions::forward(&relay, local, remote).await?;
        forwards.push(format!("127.0.0.1:{bound} -> {remote}"));
    }
    run_until_stopped(client, &resolved, &dev, relay, running, forwards).await
}

/// How often `berth up` reports its sync to the daemon's metrics.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// What `berth up` has reported so far, summed over its folders.
#[derive(Default)]
struct Reported {
    saves: u64,
    files_sent: u64,
    files_received: u64,
    conflicts: u64,
}

impl Reported {
    /// Sends what is new since the last report; a failed report is
    /// dropped (they are metrics, and the next one carries on).
    async fn send(&mut self, client: &Client, session: &str, statuses: &[Status]) {
        let mut report = berth_core::session::SyncReport::default();
        let mut now = Reported::default();
        for status in statuses {
            now.saves += status.saves;
            now.files_sent += status.files_sent;
            now.files_received += status.files_received;
            now.conflicts += status.conflicts.len() as u64;
        }
        let new_saves = now.saves.saturating_sub(self.saves) as usize;
        for status in statuses {
            report
                .save_latencies_ms
                .extend(status.latencies_ms.iter().rev().take(new_saves));
        }
        report.save_latencies_ms.truncate(new_saves.min(1000));
        report.files_sent = now.files_sent.saturating_sub(self.files_sent);
        report.files_received = now.files_received.saturating_sub(self.files_received);
        report.conflicts = now.conflicts.saturating_sub(self.conflicts);
        if report == berth_core::session::SyncReport::default() {
            return;
        }
        let sent: Result<(), Failure> = client
            .post_no_content(&format!("/api/v1/sessions/{session}/sync-report"), &report)
            .await;
        if sent.is_ok() {
            *self = now;
        }
    }
}

/// How long before a space sleeps `berth up` says so.
const SLEEP_WARNING: Duration = Duration::from_secs(15 * 60);

/// Says when the space is about to sleep for lack of activity, or has: a
/// developer who left `berth up` running learns why the workload stopped.
async fn sleep_warning(
    client: &Client,
    space: &str,
    warned: &mut Option<String>,
) -> Option<String> {
    let view: berth_core::space::SpaceView =
        client.get(&format!("/api/v1/spaces/{space}")).await.ok()?;
    let (key, text) = if view.wakefulness.asleep {
        (
            "asleep".to_owned(),
            format!(
                "Space {space} is asleep: its workloads are scaled down. `berth space wake {space}` wakes it."
            ),
        )
    } else {
        let at = view.sleeps_at?;
        let now = berth_core::time::Timestamp(now_secs());
        if at.0 > now.0 + SLEEP_WARNING.as_secs() {
            return None;
        }
        (
            at.rfc3339(),
            format!(
                "Space {space} sleeps at {at} (in {} min) for lack of activity; a change in the space or `berth space wake {space}` keeps it awake.",
                at.since(now).as_secs().div_ceil(60)
            ),
        )
    };
    if warned.as_deref() == Some(key.as_str()) {
        return None;
    }
    *warned = Some(key);
    Some(text)
}

async fn run_until_stopped(
    client: &Client,
    resolved: &Resolved,
    dev: &DevView,
    mut relay: crate::relay::Session,
    mut folders: Vec<Folder>,
    forwards: Vec<String>,
) -> Result<(), Failure> {
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut synced_at: Option<Duration> = None;
    let mut shown_conflicts = 0;
    let mut shown_errors = std::collections::BTreeSet::new();
    let mut last_line = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let status_file = resolved.status_file();
    let mut warned = None;
    let mut last_space_check: Option<Instant> = None;
    let mut reported = Reported::default();
    let mut last_report = Instant::now();
    // One listener for the whole run: a Ctrl-C that comes while the loop
    // body runs is kept for the next select, not lost with a new listener.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome: Result<(), Failure> = loop {
        tokio::select! {
            _ = &mut ctrl_c => break Ok(()),
            reason = &mut relay.task => {
                let reason = reason.unwrap_or_else(|_| "the relay task failed".to_owned());
                break Err(Failure::new(
                    format!("the dev session is over: {reason}"),
                    "run `berth up` again",
                ));
            }
            _ = tick.tick() => {}
        }
        if let Some(folder) = folders.iter_mut().find(|f| f.engine.is_finished()) {
            let ended = (&mut folder.engine).await;
            let reason = match ended {
                Ok(Ok(())) => "the agent closed it".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            break Err(Failure::new(
                format!("syncing {} stopped: {reason}", folder.local.display()),
                "check `berth sync doctor`, then run `berth up` again",
            ));
        }
        let statuses: Vec<Status> = folders
            .iter()
            .map(|f| engine::snapshot(&f.status))
            .collect();
        let up = UpStatus {
            target: resolved.target.clone(),
            space: resolved.space.clone(),
            session: dev.session.id.clone(),
            updated_at: now_secs(),
            folders: folders
                .iter()
                .zip(&statuses)
                .map(|(f, s)| FolderStatus {
                    local: f.local.display().to_string(),
                    remote: f.remote.clone(),
                    status: s.clone(),
                })
                .collect(),
            forwards: forwards.clone(),
        };
        write_status(&status_file, &up);
        let all_watching = statuses.iter().all(|s| s.phase == Phase::Watching);
        let sent: u64 = statuses.iter().map(|s| s.bytes_sent).sum();
        let received: u64 = statuses.iter().map(|s| s.bytes_received).sum();
        let files: u64 = statuses
            .iter()
            .map(|s| s.files_sent + s.files_received)
            .sum();
        if synced_at.is_none() {
            if all_watching {
                let took = started.elapsed();
                synced_at = Some(took);
                let entries: usize = statuses.iter().map(|s| s.local_entries).sum();
                if tty {
                    eprint!("\r\x1b[2K");
                }
                eprintln!(
                    "In sync: {entries} entries, {files} files sent or received ({}) in {:.1}s. Watching for changes.",
                    bytes(sent + received),
                    took.as_secs_f64()
                );
                for forward in &forwards {
                    eprintln!("Forwarding {forward}");
                }
                eprintln!(
                    "Ctrl-C stops syncing; the workload stays in dev mode until `berth down`."
                );
            } else if tty || last_line.elapsed() > Duration::from_secs(2) {
                last_line = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let pending: usize = statuses.iter().map(|s| s.pending).sum();
                let line = format!(
                    "Syncing: {files} files, {} ({}/s), {pending} pending",
                    bytes(sent + received),
                    bytes(((sent + received) as f64 / secs) as u64)
                );
                if tty {
                    eprint!("\r\x1b[2K{line}");
                    let _ = std::io::stderr().flush();
                } else {
                    eprintln!("{line}");
                }
            }
        }
        for conflict in statuses
            .iter()
            .flat_map(|s| s.conflicts.iter())
            .skip(shown_conflicts)
        {
            shown_conflicts += 1;
            let original = conflict
                .split(".berth-conflict-")
                .next()
                .unwrap_or(conflict);
            line(
                tty,
                &format!(
                    "Conflict: {original} changed on both sides; yours is kept, the container's is {conflict}"
                ),
            );
        }
        for (path, error) in statuses.iter().flat_map(|s| s.errors.iter()) {
            if shown_errors.insert(format!("{path}\0{error}")) {
                line(tty, &format!("Cannot sync {path}: {error}"));
            }
        }
        if last_report.elapsed() > REPORT_EVERY {
            last_report = Instant::now();
            reported.send(client, &dev.session.id, &statuses).await;
        }
        if last_space_check.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
            last_space_check = Some(Instant::now());
            if let Some(text) = sleep_warning(client, &resolved.space, &mut warned).await {
                line(tty, &text);
            }
        }
        if synced_at.is_some() && tty {
            let latencies: Vec<f64> = statuses
                .iter()
                .flat_map(|s| s.latencies_ms.iter().copied())
                .collect();
            let last = latencies
                .last()
                .map(|ms| format!(", last save live in {ms:.0} ms"))
                .unwrap_or_default();
            let up_files: u64 = statuses.iter().map(|s| s.files_sent).sum();
            let down_files: u64 = statuses.iter().map(|s| s.files_received).sum();
            eprint!("\r\x1b[2KWatching: {up_files} up, {down_files} down{last}");
            let _ = std::io::stderr().flush();
        }
    };
    let statuses: Vec<Status> = folders
        .iter()
        .map(|f| engine::snapshot(&f.status))
        .collect();
    reported.send(client, &dev.session.id, &statuses).await;
    for folder in &folders {
        let _ = folder.input.send(Input::Stop).await;
    }
    for folder in folders {
        let _ = folder.engine.await;
    }
    if tty {
        eprintln!();
    }
    if outcome.is_ok() {
        let _ = std::fs::remove_file(&status_file);
        eprintln!(
            "Stopped syncing. {} stays in dev mode; `berth down` restores it.",
            dev.workload
        );
    }
    outcome
}

fn line(tty: bool, text: &str) {
    if tty {
        eprint!("\r\x1b[2K");
    }
    eprintln!("{text}");
}

fn write_status(file: &Path, status: &UpStatus) {
    if let Some(parent) = file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let temporary = file.with_extension("tmp");
    if let Ok(json) = serde_json::to_vec_pretty(status)
        && std::fs::write(&temporary, json).is_ok()
    {
        let _ = std::fs::rename(&temporary, file);
    }
}

pub async fn down(client: &Client, args: UpArgs, context: Option<&str>) -> Result<(), Failure> {
    let resolved = resolve(&args, context)?;
    let view: DevView = client
        .delete(&format!(
            "/api/v1/spaces/{}/dev/{}",
            resolved.space, resolved.target
        ))
        .await?;
    let _ = std::fs::remove_file(resolved.status_file());
    eprintln!(
        "{} is out of dev mode: its original spec is back, and session {} has ended.",
        view.workload, view.session.id
    );
    Ok(())
}

pub fn sync_status(args: UpArgs, format: Format, context: Option<&str>) -> Result<(), Failure> {
    let resolved = resolve(&args, context)?;
    let file = resolved.status_file();
    let status: UpStatus = match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                format!("{} is damaged: {e}", file.display()),
                "run `berth up` again; it rewrites it",
            )
        })?,
        Err(_) => {
            return Err(Failure::new(
                format!("`berth up {}` is not running here", resolved.target),
                "start it with `berth up`",
            ));
        }
    };
    let running = now_secs().saturating_sub(status.updated_at) <= 5;
    match format {
        Format::Table => {
            let state = |s: &Status| {
                if running {
                    format!("{:?}", s.phase).to_lowercase()
                } else {
                    "not running".to_owned()
                }
            };
            output::table(
                &[
                    "LOCAL",
                    "REMOTE",
                    "STATE",
                    "ENTRIES",
                    "PENDING",
                    "SENT",
                    "RECEIVED",
                    "CONFLICTS",
                    "LAST ERROR",
                ],
                status
                    .folders
                    .iter()
                    .map(|f| {
                        vec![
                            f.local.clone(),
                            f.remote.clone(),
                            state(&f.status),
                            f.status.local_entries.to_string(),
                            f.status.pending.to_string(),
                            format!(
                                "{} files, {}",
                                f.status.files_sent,
                                bytes(f.status.bytes_sent)
                            ),
                            format!(
                                "{} files, {}",
                                f.status.files_received,
                                bytes(f.status.bytes_received)
                            ),
                            f.status.conflicts.len().to_string(),
                            f.status.last_error.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            )
        }
        _ => output::structured(format, &json!({"running": running, "status": status})),
    }
}

pub fn doctor(args: UpArgs, format: Format, context: Option<&str>) -> Result<(), Failure> {
    let resolved = resolve(&args, context)?;
    let spec = resolved.spec().clone();
    let options = ScanOptions {
        ignores: spec.ignore.clone(),
    };
    let mut reports = Vec::new();
    for (local, remote) in resolved.folders()? {
        let index_file = state_dir(&resolved.project).join("sync").join(format!(
            "{}-{}.index.json",
            resolved.target,
            reports.len()
        ));
        let previous = berth_sync::Index::load(&index_file).ok().flatten();
        let report = crate::commands::doctor::examine(&local, &options, previous.as_ref())
            .map_err(|e| {
                Failure::new(
                    format!("cannot scan {}: {e}", local.display()),
                    "check the folder's permissions",
                )
            })?;
        reports.push((local, remote, report));
    }
    let saved: Option<UpStatus> = std::fs::read(resolved.status_file())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    match format {
        Format::Table => {
            for (local, remote, report) in &reports {
                println!("{} -> {remote}", local.display());
                println!(
                    "  {} files, {} folders, {} to sync; {} paths ignored",
                    report.files,
                    report.folders,
                    bytes(report.bytes),
                    report.ignored.iter().map(|i| i.count).sum::<u64>()
                );
                println!("  largest folders:");
                for (path, size) in &report.largest {
                    println!("    {:>10}  {path}", bytes(*size));
                }
                if !report.ignored.is_empty() {
                    println!("  ignored:");
                    for ignored in &report.ignored {
                        println!("    {} ({} paths)", ignored.path, ignored.count);
                    }
                }
                if !report.problems.is_empty() {
                    println!("  cannot sync:");
                    for (path, why) in &report.problems {
                        println!("    {path}: {why}");
                    }
                }
                for warning in &report.warnings {
                    println!("  warning: {warning}");
                }
            }
            if let Some(saved) = saved {
                for folder in &saved.folders {
                    for (path, error) in &folder.status.errors {
                        println!("{}: {path} failed last time: {error}", folder.local);
                    }
                }
            }
            Ok(())
        }
        _ => output::structured(
            format,
            &reports
                .iter()
                .map(|(local, remote, report)| json!({"local": local, "remote": remote, "report": report}))
                .collect::<Vec<_>>(),
        ),
    }
}

pub async fn init(
    client: &Client,
    space: Option<String>,
    workload: Option<String>,
    force: bool,
    context: Option<&str>,
) -> Result<(), Failure> {
    let file = PathBuf::from(manifest::FILE);
    if file.exists() && !force {
        return Err(Failure::new(
            format!("{} already exists", manifest::FILE),
            "edit it, or pass --force to write a new one",
        ));
    }
    let space = crate::commands::spaces::space_or_current(space, context)?;
    let workloads: Vec<WorkloadView> = client
        .get(&format!("/api/v1/spaces/{space}/workloads"))
        .await?;
    let chosen = match &workload {
        Some(name) => workloads
            .iter()
            .find(|w| &w.workload == name || w.workload.ends_with(&format!("/{name}"))),
        None => workloads.first(),
    }
    .ok_or_else(|| {
        Failure::new(
            match &workload {
                Some(name) => format!("space {space} has no workload {name}"),
                None => format!("space {space} has no Deployments or StatefulSets yet"),
            },
            "deploy your application into the space first, or name a workload with --workload",
        )
    })?;
    let text = starting_manifest(chosen);
    manifest::parse(&text, manifest::FILE)?;
    std::fs::write(&file, &text).map_err(|e| {
        Failure::new(
            format!("cannot write {}: {e}", manifest::FILE),
            "check the folder's permissions",
        )
    })?;
    eprintln!(
        "Wrote {} for {} (one of {} workloads in {space}). Set the image and command, then run `berth up`.",
        manifest::FILE,
        chosen.workload,
        workloads.len()
    );
    Ok(())
}

/// A first manifest for a workload, with the settings to fill in as
/// comments.
fn starting_manifest(workload: &WorkloadView) -> String {
    let name = workload.workload.split('/').nth(1).unwrap_or("app");
    let target: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(40)
        .collect();
    let container = workload.containers.first();
    let workdir = container
        .and_then(|c| c.workdir.clone())
        .unwrap_or_else(|| "/app".to_owned());
    let mut text = format!(
        "# Dev targets for `berth up`; the schema is `berth manifest schema`.\n\
         dev:\n  {target}:\n    workload: {}\n",
        workload.workload
    );
    if let Some(container) = container {
        text.push_str(&format!(
            "    # The container's image is {}; a dev image brings your toolchain.\n    # image: {}\n",
            container.image, container.image
        ));
    }
    text.push_str("    # Started once the first sync is done:\n    # command: npm run dev\n");
    text.push_str(&format!("    sync:\n      - ./:{workdir}\n"));
    let ports: Vec<u16> = container.map(|c| c.ports.clone()).unwrap_or_default();
    if !ports.is_empty() {
        text.push_str("    forward:\n");
        for port in ports {
            text.push_str(&format!("      - {port}:{port}\n"));
        }
    }
    text.push_str("    ignore:\n      - node_modules/\n      - target/\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::dev::ContainerView;

    #[test]
    fn the_starting_manifest_is_valid() {
        let workload = WorkloadView {
            workload: "deployment/web.api".into(),
            containers: vec![ContainerView {
                name: "api".into(),
                image: "api:1".into(),
                ports: vec![8080, 9229],
                workdir: Some("/srv".into()),
            }],
            dev_target: None,
        };
        let text = starting_manifest(&workload);
        let manifest = manifest::parse(&text, "berth.yaml").expect("valid");
        let (name, target) = manifest.target(None).expect("one target");
        assert_eq!(name, "web-api");
        assert_eq!(target.sync[0].parts(), ("./", "/srv"));
        assert_eq!(target.forward.len(), 2);
    }
}

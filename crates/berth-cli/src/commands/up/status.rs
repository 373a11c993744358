//! The status file `berth up` keeps (`.berth/status/TARGET.json`), and the
//! commands that read it: `berth sync status` (what `berth up` is doing)
//! and `berth sync doctor` (what a folder holds, what is left out, and why
//! a path cannot sync).

use std::path::Path;

use berth_sync::ScanOptions;
use berth_sync::engine::Status;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{UpArgs, bytes, now_secs, resolve, state_dir};
use crate::output::{self, Failure, Format};

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

pub(super) fn write_status(file: &Path, status: &UpStatus) {
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

//! `berth up`'s run loop: watches the sync engines until Ctrl-C or the
//! session ends, writes the status file, and shows progress (while the
//! first sync runs), then one line with what is happening, conflicts and
//! errors as they come; at the end it stops the engines.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use berth_core::dev::DevView;
use berth_sync::Input;
use berth_sync::engine::{self, Phase, Status};

use super::links::Folder;
use super::progress::{Progress, Totals};
use super::report::{REPORT_EVERY, Reported, sleep_warning};
use super::status::{FolderStatus, UpStatus, write_status};
use super::{Resolved, bytes, now_secs};
use crate::client::Client;
use crate::output::Failure;

/// Runs until Ctrl-C, the end of the dev session or of a folder's sync,
/// then stops the engines; the workload stays in dev mode.
pub(super) async fn run_until_stopped(
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
    let mut progress = Progress::new(tty);
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
                progress.finish();
                eprintln!(
                    "In sync: {entries} entries, {files} files sent or received ({}) in {:.1}s. Watching for changes.",
                    bytes(sent + received),
                    took.as_secs_f64()
                );
                for forward in &forwards {
                    eprintln!("Forwarding {forward}");
                }
                eprintln!(
                    "SSH: `ssh {}.{}.berth` (after `berth ssh-config`; editors too), or `berth ssh {}`.",
                    resolved.target, resolved.space, resolved.target
                );
                eprintln!(
                    "Ctrl-C stops syncing; the workload stays in dev mode until `berth down`."
                );
            } else {
                progress.update(Totals::of(&statuses));
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
                &progress,
                &format!(
                    "Conflict: {original} changed on both sides; yours is kept, the container's is {conflict}"
                ),
            );
        }
        for (path, error) in statuses.iter().flat_map(|s| s.errors.iter()) {
            if shown_errors.insert(format!("{path}\0{error}")) {
                line(tty, &progress, &format!("Cannot sync {path}: {error}"));
            }
        }
        if last_report.elapsed() > REPORT_EVERY {
            last_report = Instant::now();
            reported.send(client, &dev.session.id, &statuses).await;
        }
        if last_space_check.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
            last_space_check = Some(Instant::now());
            if let Some(text) = sleep_warning(client, &resolved.space, &mut warned).await {
                line(tty, &progress, &text);
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
            clear_line();
            eprint!("Watching: {up_files} up, {down_files} down{last}");
            let _ = std::io::stderr().flush();
        }
    };
    let statuses: Vec<Status> = folders
        .iter()
        .map(|f| engine::snapshot(&f.status))
        .collect();
    reported.send(client, &dev.session.id, &statuses).await;
    progress.finish();
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

/// Clears the terminal's current line (the progress line) and puts the
/// cursor at its start.
fn clear_line() {
    use crossterm::{cursor, terminal};
    let _ = crossterm::execute!(
        std::io::stderr(),
        cursor::MoveToColumn(0),
        terminal::Clear(terminal::ClearType::CurrentLine)
    );
}

/// Prints a line of its own, over the progress line on a terminal.
fn line(tty: bool, progress: &Progress, text: &str) {
    if tty {
        clear_line();
    }
    progress.println(text);
}

//! Watching a tree (inotify on Linux, through `notify`): events are
//! coalesced for a few milliseconds so a save that writes, renames and
//! chmods arrives as one batch; a burst (a branch checkout) or a watcher
//! that lost events becomes one rescan. An event that ends a write (the
//! writer closed the file, a rename put it in place, or it was removed)
//! shortens the wait for quiet: the save is most likely complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::Watcher as _;
use tokio::sync::mpsc;

use crate::link::Input;

/// Quiet time that ends a batch.
pub const QUIET: Duration = Duration::from_millis(4);
/// Quiet time that ends a batch whose last event ended a write.
pub const QUIET_AFTER_WRITE: Duration = Duration::from_micros(500);
/// A batch never waits longer than this for quiet.
pub const LONGEST: Duration = Duration::from_millis(50);
/// More paths than this in one batch: a rescan is cheaper.
pub const BURST: usize = 2000;

/// Keeps the watch alive; dropping it stops watching.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

enum Seen {
    /// Paths that changed, and whether the event ended a write.
    Paths(Vec<PathBuf>, bool),
    Lost,
}

/// Whether an event of `kind` finishes what a writer was doing to its
/// path: closing a file it wrote, renaming a file into place, or removing
/// it.
fn ends_a_write(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    matches!(
        kind,
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write))
            | notify::EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
            | notify::EventKind::Remove(_)
    )
}

/// Watches `root` and sends batches to `input`.
///
/// The watch does not keep `input` open: it holds a weak sender, so an
/// engine's input ends when its stream's side does, even while the engine
/// still owns the watch (it drops the watch only once it has stopped).
pub fn start(root: &Path, input: mpsc::Sender<Input>) -> Result<Watch, String> {
    let input = input.downgrade();
    let (tx, rx) = std::sync::mpsc::channel::<Seen>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let seen = match event {
            Ok(event) if event.need_rescan() => Seen::Lost,
            Ok(event) => {
                let ended = ends_a_write(&event.kind);
                if matches!(event.kind, notify::EventKind::Access(_)) && !ended {
                    return;
                }
                Seen::Paths(event.paths, ended)
            }
            Err(_) => Seen::Lost,
        };
        let _ = tx.send(seen);
    })
    .map_err(|e| format!("cannot watch {}: {e}", root.display()))?;
    watcher
        .watch(root, notify::RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e}", root.display()))?;
    std::thread::Builder::new()
        .name("berth-sync-watch".into())
        .spawn(move || coalesce(&rx, &input))
        .map_err(|e| e.to_string())?;
    Ok(Watch { _watcher: watcher })
}

fn coalesce(rx: &std::sync::mpsc::Receiver<Seen>, input: &mpsc::WeakSender<Input>) {
    while let Ok(first) = rx.recv() {
        let began = Instant::now();
        let mut paths = Vec::new();
        let mut lost = false;
        let mut ended = false;
        let mut seen = first;
        loop {
            match seen {
                Seen::Paths(p, end) => {
                    paths.extend(p);
                    ended = end;
                }
                Seen::Lost => lost = true,
            }
            if began.elapsed() >= LONGEST {
                break;
            }
            let quiet = if ended { QUIET_AFTER_WRITE } else { QUIET };
            seen = match rx.recv_timeout(quiet) {
                Ok(seen) => seen,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            };
        }
        let batch = match batch(paths, BURST) {
            Some(paths) if !lost => Input::Local(paths, began),
            _ => Input::Rescan,
        };
        // Nobody else sends to the engine any more: it is stopping.
        let Some(input) = input.upgrade() else {
            return;
        };
        if input.blocking_send(batch).is_err() {
            return;
        }
    }
}

/// A batch's paths, sorted and each once; `None` for a burst (more than
/// `limit`), which a rescan handles more cheaply. The watcher cuts its
/// batches at [`BURST`], the engine its merged batches by the tree's size.
pub(crate) fn batch(mut paths: Vec<PathBuf>, limit: usize) -> Option<Vec<PathBuf>> {
    paths.sort();
    paths.dedup();
    (paths.len() <= limit).then_some(paths)
}

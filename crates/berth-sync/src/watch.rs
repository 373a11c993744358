//! Watching a tree (inotify on Linux, through `notify`): events are
//! coalesced for a few milliseconds so a save that writes, renames and
//! chmods arrives as one batch; a burst (a branch checkout) or a watcher
//! that lost events becomes one rescan.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::Watcher as _;
use tokio::sync::mpsc;

use crate::link::Input;

/// Quiet time that ends a batch.
pub const QUIET: Duration = Duration::from_millis(4);
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
    Paths(Vec<PathBuf>),
    Lost,
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
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                Seen::Paths(event.paths)
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
        let mut take = |seen: Seen, paths: &mut Vec<PathBuf>| match seen {
            Seen::Paths(p) => paths.extend(p),
            Seen::Lost => lost = true,
        };
        take(first, &mut paths);
        while began.elapsed() < LONGEST {
            match rx.recv_timeout(QUIET) {
                Ok(seen) => take(seen, &mut paths),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let batch = match batch(paths) {
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
/// [`BURST`]), which a rescan handles more cheaply. The watcher cuts its
/// batches with it, and the engine again when it takes several together.
pub fn batch(mut paths: Vec<PathBuf>) -> Option<Vec<PathBuf>> {
    paths.sort();
    paths.dedup();
    (paths.len() <= BURST).then_some(paths)
}

//! The sync engine, one per synced folder on each end: [`serve`] is the
//! agent's (it sends its index, reports what its watcher sees, sends files
//! asked for and applies files it is sent); [`coordinate`] is the CLI's (it
//! keeps its own index, the peer's and the base, and [`decide`]s per path
//! what goes where). This module holds what both share: their settings,
//! their error, and how a run starts (the watcher, the first scan) and
//! reads its input.
//!
//! Content only travels when the receiver has nothing like it: a file the
//! receiver has anywhere (a rename, a seeded image) is copied there, and
//! a large file that changed sends only its changed chunks.
//!
//! The modules: `status` (what a sync is doing), `decide` (the decision
//! for one path, pure), `coordinator` and `ops` (the CLI's end and the
//! operations it starts), `serve` (the agent's end), `replica` (answering
//! and applying, on both ends), `send` (the thread that sends content),
//! `batch` (the watcher's batches as the engine takes them).

mod batch;
mod coordinator;
mod decide;
mod ops;
mod replica;
mod send;
mod serve;
mod status;

use std::path::PathBuf;

use tokio::sync::mpsc;

pub use batch::diff;
pub use coordinator::coordinate;
pub use decide::{Decision, decide, same};
pub use serve::serve;
pub use status::{LATENCY_SAMPLES, Phase, SharedStatus, Status, snapshot};

use crate::link::{Closed, Input};
use crate::scan::{Index, ScanOptions, scan};
use crate::stages::{Stage, StageClock};

/// Files at least this large are sent as changed chunks against the
/// receiver's version; smaller ones travel whole.
pub const DELTA_FROM: u64 = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub options: ScanOptions,
    /// Where the local index is kept between runs, so a restart hashes
    /// only what changed.
    pub index_file: Option<PathBuf>,
    pub watch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Scan(#[from] crate::scan::ScanError),
    #[error("{0}")]
    Watch(String),
    #[error("the peer ended the sync: {0}")]
    Peer(String),
    #[error("the peer broke the sync protocol: {0}")]
    Protocol(String),
    #[error("the sync stream closed")]
    Closed,
}

impl From<Closed> for SyncError {
    fn from(_: Closed) -> SyncError {
        SyncError::Closed
    }
}

/// The next thing to react to. When every sender is gone (the link's
/// reader ended without a word, as when its runtime shuts down), the
/// stream has ended: the watcher holds only a weak sender, so it does not
/// keep an engine waiting here for ever.
fn next_input(input: &mut mpsc::Receiver<Input>, stages: &StageClock) -> Input {
    let _idle = stages.time(Stage::Idle);
    input.blocking_recv().unwrap_or(Input::Closed(None))
}

/// The local tree, hashing only what changed since the saved index.
fn scan_local(settings: &Settings, stages: &StageClock) -> Result<Index, SyncError> {
    let _scanning = stages.time(Stage::Scan);
    let previous = match settings.index_file.as_deref().map(Index::load) {
        Some(Ok(index)) => index,
        // A damaged index is rebuilt by the full scan.
        _ => None,
    };
    Ok(scan(&settings.root, &settings.options, previous.as_ref())?)
}

/// Starts the watcher when the settings ask for one.
fn watch(
    settings: &Settings,
    input: &Option<mpsc::Sender<Input>>,
) -> Result<Option<crate::watch::Watch>, SyncError> {
    match (settings.watch, input) {
        (true, Some(tx)) => crate::watch::start(&settings.root, tx.clone())
            .map(Some)
            .map_err(SyncError::Watch),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::link::{Outbox, WireCounter};

    type Run = Box<dyn FnOnce() -> Result<(), SyncError> + Send>;

    /// Whether `run`, on a thread of its own, returns within a minute.
    fn returns(run: Run) -> bool {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(run());
        });
        finished.recv_timeout(Duration::from_secs(60)).is_ok()
    }

    /// The link's reader goes without a word when its runtime shuts down;
    /// the watcher's sender alone must not keep either end waiting.
    #[test]
    fn an_engine_stops_when_its_stream_ends_though_it_watches() {
        for end in ["serve", "coordinate"] {
            let root = tempfile::tempdir().expect("root");
            let settings = Settings {
                root: root.path().to_owned(),
                options: ScanOptions::default(),
                index_file: None,
                watch: true,
            };
            let (link, input) = mpsc::channel(64);
            let watch_input = Some(link.clone());
            let (outbox, _sent) = Outbox::new();
            let status = SharedStatus::default();
            let run: Run = if end == "serve" {
                Box::new(move || {
                    serve(
                        settings,
                        input,
                        watch_input,
                        outbox,
                        status,
                        None,
                        || {},
                        |_| {},
                    )
                })
            } else {
                let wire = WireCounter::default();
                Box::new(move || coordinate(settings, input, watch_input, outbox, wire, status))
            };
            drop(link);
            assert!(returns(run), "{end} kept waiting after its stream ended");
        }
    }
}

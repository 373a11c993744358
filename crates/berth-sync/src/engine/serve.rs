//! The agent's end, [`serve`]: sends its tree's index, applies what the
//! coordinator sends, answers what it asks for, and reports what its
//! watcher sees as changes.

use tokio::sync::mpsc;

use super::batch::Pending;
use super::replica::{Applied, Replica};
use super::{Phase, Settings, SharedStatus, SyncError, next_input, scan_local, watch};
use crate::link::{Input, Outbox};
use crate::path::SyncPath;
use crate::scan::{Entry, Index, scan};
use crate::stages::Stage;
use crate::wire::{Control, INDEX_BATCH};

/// The agent's end: serves `settings.root` until the peer goes.
/// `watch_input` is a sender into `input`, for the watcher.
/// `synced` runs when the CLI says the first sync is done. `previous` is
/// the index of an earlier stream on the same folder (the agent keeps it
/// between connections), so a reconnect hashes only what changed; the
/// index as the stream ends is handed to `keep`.
#[allow(clippy::too_many_arguments)] // the agent's hooks, each used once
pub fn serve(
    settings: Settings,
    mut input: mpsc::Receiver<Input>,
    watch_input: Option<mpsc::Sender<Input>>,
    outbox: Outbox,
    status: SharedStatus,
    previous: Option<Index>,
    synced: impl Fn(),
    keep: impl FnOnce(Index),
) -> Result<(), SyncError> {
    std::fs::create_dir_all(&settings.root)
        .map_err(|e| SyncError::Peer(format!("cannot make {}: {e}", settings.root.display())))?;
    // Watch first, so nothing between the scan and the watch is missed.
    let _watch = watch(&settings, &watch_input)?;
    drop(watch_input);
    let stages = outbox.stages().clone();
    let mut index = match previous {
        Some(previous) => {
            let _scanning = stages.time(Stage::Scan);
            scan(&settings.root, &settings.options, Some(&previous))?
        }
        None => scan_local(&settings, &stages)?,
    };
    let entries: Vec<(SyncPath, Entry)> = index
        .entries
        .iter()
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    let mut batches = entries.chunks(INDEX_BATCH).peekable();
    if batches.peek().is_none() {
        outbox.control(Control::Index {
            entries: Vec::new(),
            last: true,
        })?;
    }
    while let Some(batch) = batches.next() {
        outbox.control(Control::Index {
            entries: batch.to_vec(),
            last: batches.peek().is_none(),
        })?;
    }
    let mut replica = Replica::new(settings.root.clone(), outbox.clone(), status.clone());
    replica.status().phase = Phase::Watching;
    let mut local = Pending::default();
    loop {
        match next_input(&mut input, &stages) {
            Input::Peer(message) => match replica.handle(message)? {
                // What the peer sent is in the index as it landed: the
                // watcher's report of it finds nothing new to read or to
                // tell the peer.
                Applied::Received {
                    path,
                    placed: Some(entry),
                    ..
                } => {
                    index.entries.insert(path, entry);
                }
                Applied::Other(Control::Synced) => synced(),
                Applied::Other(other) => {
                    return Err(SyncError::Protocol(format!(
                        "the agent does not take {other:?}"
                    )));
                }
                _ => {}
            },
            Input::Local(paths, since) => local.add(paths, since),
            Input::Rescan => local.rescan(),
            Input::Closed(None) | Input::Stop => {
                keep(index);
                return Ok(());
            }
            Input::Closed(Some(reason)) => {
                keep(index);
                return Err(SyncError::Peer(reason));
            }
        }
        if !local.due(&input) {
            continue;
        }
        let (changes, _) = local.apply(&settings, &mut index, &stages)?;
        for batch in changes.chunks(INDEX_BATCH) {
            outbox.control(Control::Changed {
                entries: batch.to_vec(),
            })?;
        }
    }
}

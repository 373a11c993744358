//! The CLI's end, [`coordinate`]: keeps three indexes (its own tree's, the
//! peer's, and the base, what both had when they last agreed), asks
//! [`decide`](super::decide()) what to do with each path that changed and
//! starts the operations that do it, one at a time per path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::batch::Pending;
use super::decide::{Decision, decide};
use super::ops::Op;
use super::replica::{Applied, Replica, entry_of};
use super::{Phase, Settings, SharedStatus, Status, SyncError, next_input, scan_local, watch};
use crate::link::{Input, Outbox, WireCounter};
use crate::path::SyncPath;
use crate::scan::{Change, Entry, Index, Kind};
use crate::stages::Stage;
use crate::wire::{Control, Message};

/// The CLI's end while it runs: the three indexes, the operations under
/// way and what waits for them.
pub(super) struct Coordinator {
    pub(super) settings: Settings,
    pub(super) replica: Replica,
    pub(super) local: Index,
    pub(super) remote: Index,
    pub(super) base: BTreeMap<SyncPath, Entry>,
    /// No base yet: local wins without conflict copies.
    first: bool,
    next_id: u64,
    pub(super) ops: HashMap<u64, Op>,
    pub(super) busy: HashMap<SyncPath, u64>,
    /// Paths that changed while busy, looked at again when free.
    pub(super) dirty: BTreeSet<SyncPath>,
    wire: WireCounter,
    last_save: Instant,
    /// A path holding each content hash, per side (for copies instead of
    /// transfers).
    pub(super) local_holders: HashMap<String, SyncPath>,
    pub(super) remote_holders: HashMap<String, SyncPath>,
}

/// Remembers that `path` holds `entry`'s content.
pub(super) fn note(holders: &mut HashMap<String, SyncPath>, path: &SyncPath, entry: &Entry) {
    if entry.kind == Kind::File
        && let Some(hash) = &entry.hash
    {
        holders.insert(hash.clone(), path.clone());
    }
}

impl Coordinator {
    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn status(&self) -> parking_lot::MutexGuard<'_, Status> {
        self.replica.status()
    }

    pub(super) fn publish(&self) {
        let pending = self.ops.len();
        let entries = self.local.entries.len();
        let wire = self.wire.get();
        let mut status = self.status();
        status.pending = pending;
        status.local_entries = entries;
        status.wire_bytes_sent = wire;
        if pending == 0 && status.phase == Phase::Initial {
            status.phase = Phase::Watching;
            drop(status);
            // The agent may start the dev command now.
            let _ = self.replica.outbox.control(Control::Synced);
        }
    }

    pub(super) fn save_index(&mut self, force: bool) {
        if let Some(file) = &self.settings.index_file
            && (force || self.last_save.elapsed() > Duration::from_secs(2))
        {
            self.last_save = Instant::now();
            if let Some(parent) = file.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = self.local.save(file);
        }
    }

    /// Looks at every path again.
    fn reconcile_all(&mut self) -> Result<(), SyncError> {
        let paths: BTreeSet<SyncPath> = self
            .local
            .entries
            .keys()
            .chain(self.remote.entries.keys())
            .chain(self.base.keys())
            .cloned()
            .collect();
        self.reconcile(paths.into_iter(), None)
    }

    /// Decides, for each path, what goes where. Removals go first, deepest
    /// first; then the rest, parents before children.
    pub(super) fn reconcile(
        &mut self,
        paths: impl Iterator<Item = SyncPath>,
        since: Option<Instant>,
    ) -> Result<(), SyncError> {
        let stages = self.replica.outbox.stages().clone();
        let _deciding = stages.time(Stage::Decide);
        let paths: BTreeSet<SyncPath> = paths.collect();
        let (removals, others): (Vec<&SyncPath>, Vec<&SyncPath>) = paths.iter().partition(|p| {
            !self.local.entries.contains_key(*p) || !self.remote.entries.contains_key(*p)
        });
        for path in removals.into_iter().rev().chain(others) {
            self.reconcile_path(path, since)?;
        }
        self.publish();
        Ok(())
    }

    /// Does what [`decide`] says for one path, unless an operation on it
    /// is under way (then it is looked at again when that ends).
    pub(super) fn reconcile_path(
        &mut self,
        path: &SyncPath,
        since: Option<Instant>,
    ) -> Result<(), SyncError> {
        if self.busy.contains_key(path) {
            self.dirty.insert(path.clone());
            return Ok(());
        }
        let local = self.local.entries.get(path).cloned();
        let remote = self.remote.entries.get(path).cloned();
        let base = self.base.get(path);
        match decide(local.as_ref(), remote.as_ref(), base, self.first) {
            Decision::Agree => {
                match local {
                    Some(entry) => self.base.insert(path.clone(), entry),
                    None => self.base.remove(path),
                };
                self.status().errors.remove(path.as_str());
                Ok(())
            }
            Decision::Pull(remote) => self.pull(path, remote.clone(), local.as_ref()),
            Decision::RemoveHere => self.remove_here(path),
            Decision::Push => self.push(path, local.clone(), remote.as_ref(), since),
            Decision::ConflictCopy(remote) => self.conflict(path, remote.clone()),
        }
    }

    /// The agent only sends content the CLI asked for, for the path it
    /// asked about, and never changes the CLI's tree on its own.
    fn asked(&self, message: Message) -> Result<Message, SyncError> {
        if let Message::Control(control) = &message {
            match control {
                Control::Begin { id, path, .. } => match self.ops.get(id) {
                    Some(Op::Pull { path: asked, .. } | Op::ConflictCopy { path: asked, .. })
                        if asked == path => {}
                    _ => {
                        return Err(SyncError::Protocol(format!(
                            "the agent sent {path}, which the CLI did not ask for"
                        )));
                    }
                },
                Control::Clone { path, .. }
                | Control::Make { path, .. }
                | Control::Remove { path, .. } => {
                    return Err(SyncError::Protocol(format!(
                        "the agent tried to change {path} in the local tree"
                    )));
                }
                _ => {}
            }
        }
        Ok(message)
    }

    /// Whether the file on disk is still what the local index says; when
    /// not (an edit the watcher has not reported yet), the index takes the
    /// file as it is now.
    pub(super) fn still_as_indexed(&mut self, path: &SyncPath) -> bool {
        let full = match path.under(&self.settings.root) {
            Ok(full) => full,
            Err(_) => return true,
        };
        let on_disk = std::fs::symlink_metadata(&full).ok();
        let indexed = self.local.entries.get(path);
        let unchanged = match (&on_disk, indexed) {
            (None, None) => true,
            (Some(meta), Some(entry)) => {
                let mtime = crate::scan::mtime_ns(meta);
                entry.kind == Kind::Dir
                    || (mtime == entry.mtime_ns
                        && (entry.kind != Kind::File || meta.len() == entry.size))
            }
            _ => false,
        };
        if !unchanged {
            match entry_of(&full) {
                Ok(entry) => {
                    note(&mut self.local_holders, path, &entry);
                    self.local.entries.insert(path.clone(), entry)
                }
                Err(_) => self.local.entries.remove(path),
            };
        }
        unchanged
    }

    fn remote_changed(&mut self, changes: Vec<Change>) -> Result<(), SyncError> {
        let mut paths = Vec::with_capacity(changes.len());
        for (path, entry) in changes {
            match entry {
                Some(entry) => {
                    note(&mut self.remote_holders, &path, &entry);
                    self.remote.entries.insert(path.clone(), entry)
                }
                None => self.remote.entries.remove(&path),
            };
            paths.push(path);
        }
        self.reconcile(paths.into_iter(), None)
    }

    fn local_changed(
        &mut self,
        changes: Vec<Change>,
        since: Option<Instant>,
    ) -> Result<(), SyncError> {
        let paths: Vec<SyncPath> = changes.into_iter().map(|(p, _)| p).collect();
        self.reconcile(paths.into_iter(), since)
    }
}

/// The CLI's end: makes `settings.root` and the peer's tree the same, then
/// keeps them so until the stream ends or `Input::Stop` arrives.
pub fn coordinate(
    settings: Settings,
    mut input: mpsc::Receiver<Input>,
    watch_input: Option<mpsc::Sender<Input>>,
    outbox: Outbox,
    wire: WireCounter,
    status: SharedStatus,
) -> Result<(), SyncError> {
    let _watch = watch(&settings, &watch_input)?;
    drop(watch_input);
    let stages = outbox.stages().clone();
    let local = scan_local(&settings, &stages)?;
    let mut local_holders = HashMap::new();
    for (path, entry) in &local.entries {
        note(&mut local_holders, path, entry);
    }
    let mut coordinator = Coordinator {
        local_holders,
        remote_holders: HashMap::new(),
        replica: Replica::new(settings.root.clone(), outbox, status),
        local,
        remote: Index::default(),
        base: BTreeMap::new(),
        first: true,
        next_id: 0,
        ops: HashMap::new(),
        busy: HashMap::new(),
        dirty: BTreeSet::new(),
        wire,
        last_save: Instant::now(),
        settings,
    };
    coordinator.publish();
    // Local changes seen before the peer's index is whole wait for it.
    let mut early: Vec<Input> = Vec::new();
    loop {
        match next_input(&mut input, &stages) {
            Input::Peer(Message::Control(Control::Index { entries, last })) => {
                for (path, entry) in &entries {
                    note(&mut coordinator.remote_holders, path, entry);
                }
                coordinator.remote.entries.extend(entries);
                if last {
                    break;
                }
            }
            Input::Peer(other) => {
                return Err(SyncError::Protocol(format!(
                    "expected the agent's index first, got {other:?}"
                )));
            }
            Input::Closed(None) | Input::Stop => return Ok(()),
            Input::Closed(Some(reason)) => return Err(SyncError::Peer(reason)),
            local => early.push(local),
        }
    }
    coordinator.status().phase = Phase::Initial;
    coordinator.reconcile_all()?;
    coordinator.first = false;
    let mut pending: std::collections::VecDeque<Input> = early.into();
    let mut local = Pending::default();
    loop {
        let next = match pending.pop_front() {
            Some(input) => input,
            None => next_input(&mut input, &stages),
        };
        match next {
            Input::Peer(message) => {
                match coordinator.replica.handle(coordinator.asked(message)?)? {
                    Applied::Done { id, error } => coordinator.finished(id, error, None)?,
                    Applied::Received {
                        id, result, placed, ..
                    } => {
                        // A pulled file or a conflict copy landed.
                        coordinator.finished(id, result.err(), placed)?;
                    }
                    Applied::Other(Control::Changed { entries }) => {
                        coordinator.remote_changed(entries)?;
                    }
                    Applied::Other(other) => {
                        return Err(SyncError::Protocol(format!(
                            "the CLI does not take {other:?}"
                        )));
                    }
                    Applied::Nothing => {}
                }
            }
            Input::Local(paths, since) => local.add(paths, since),
            Input::Rescan => local.rescan(),
            Input::Closed(reason) => {
                coordinator.save_index(true);
                coordinator.status().phase = Phase::Stopped;
                return match reason {
                    None => Ok(()),
                    Some(reason) => Err(SyncError::Peer(reason)),
                };
            }
            Input::Stop => {
                coordinator.save_index(true);
                coordinator.status().phase = Phase::Stopped;
                return Ok(());
            }
        }
        if !pending.is_empty() || !local.due(&input) {
            continue;
        }
        let (changes, since) =
            local.apply(&coordinator.settings, &mut coordinator.local, &stages)?;
        coordinator.local_changed(changes, since)?;
    }
}

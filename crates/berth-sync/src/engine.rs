//! The sync engine. Both ends run one: the agent's serves its tree (it
//! sends its index, reports what its watcher sees, sends files asked for
//! and applies files it is sent); the CLI's coordinates. The coordinator
//! keeps three indexes, its own tree's, the peer's and the base (what both
//! had when they last agreed), and decides per path:
//!
//! - only one side changed since the base: that side's version goes over;
//! - both changed to the same thing: nothing to do;
//! - both changed differently: the local version wins and the peer's is
//!   kept beside it as `NAME.berth-conflict-TIMESTAMP`, reported;
//! - on the first sync there is no base: local wins, and what only the
//!   peer has comes back.
//!
//! Content only travels when the receiver has nothing like it: a file the
//! receiver has anywhere (a rename, a seeded image) is copied there, and
//! a large file that changed sends only its changed chunks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::apply::Applier;
use crate::chunk::{self, ChunkSig};
use crate::link::{Closed, Input, Outbox, WireCounter};
use crate::path::SyncPath;
use crate::scan::{Change, Entry, Index, Kind, ScanOptions, scan};
use crate::wire::{Control, INDEX_BATCH, Message};

/// Files at least this large are sent as changed chunks against the
/// receiver's version; smaller ones travel whole.
pub const DELTA_FROM: u64 = 64 * 1024;

/// Where the engine is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Scanning,
    /// The first exchange: both trees are being made the same.
    Initial,
    /// In sync; changes go over as they happen.
    Watching,
    Stopped,
    Failed,
}

/// What a sync is doing, for progress lines, `berth sync status` and the
/// daemon's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub phase: Phase,
    /// Entries in the local tree (files, folders and links).
    pub local_entries: usize,
    /// Operations waiting for the peer.
    pub pending: usize,
    pub files_sent: u64,
    pub files_received: u64,
    /// File content sent or received, before compression.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// What went on the wire (compressed, with framing).
    pub wire_bytes_sent: u64,
    /// Conflict copies made, as local paths.
    pub conflicts: Vec<String>,
    /// Paths that failed to sync, with why (cleared when they succeed).
    pub errors: BTreeMap<String, String>,
    pub last_error: Option<String>,
    /// Milliseconds from a local save to the peer having it, most recent
    /// last (at most [`LATENCY_SAMPLES`]).
    pub latencies_ms: Vec<f64>,
    /// Saves timed so far (the latencies above are the last of them).
    pub saves: u64,
}

pub const LATENCY_SAMPLES: usize = 1000;

pub type SharedStatus = Arc<Mutex<Status>>;

/// A copy of a sync's status as it is now.
pub fn snapshot(status: &SharedStatus) -> Status {
    status.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

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

/// Work for the thread that reads files and sends them, in order.
#[derive(Debug)]
enum Job {
    /// A control message that must stay in order with content.
    Control(Control),
    /// A file's content, as changed chunks against `basis` when it has any.
    Send {
        id: u64,
        path: SyncPath,
        entry: Entry,
        basis: Vec<ChunkSig>,
    },
}

fn sender(root: PathBuf, jobs: std::sync::mpsc::Receiver<Job>, outbox: Outbox) {
    for job in jobs {
        let result = match job {
            Job::Control(control) => outbox.blocking(Message::Control(control)),
            Job::Send {
                id,
                path,
                entry,
                basis,
            } => send_file(&root, id, &path, &entry, &basis, &outbox),
        };
        if result.is_err() {
            return;
        }
    }
}

fn send_file(
    root: &Path,
    id: u64,
    path: &SyncPath,
    entry: &Entry,
    basis: &[ChunkSig],
    outbox: &Outbox,
) -> Result<(), Closed> {
    let opened = path
        .under(root)
        .map_err(|e| e.to_string())
        .and_then(|p| std::fs::File::open(p).map_err(|e| format!("cannot read {path}: {e}")));
    let file = match opened {
        Ok(file) => file,
        Err(error) => {
            return outbox.control(Control::Done {
                id,
                path: path.clone(),
                error: Some(error),
            });
        }
    };
    outbox.blocking(Message::Control(Control::Begin {
        id,
        path: path.clone(),
        entry: entry.clone(),
    }))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if basis.is_empty() {
        let mut reader = reader.take(entry.size);
        let mut left = entry.size;
        loop {
            // Blocks no larger than what is left: most files are small.
            let mut block = vec![0u8; left.min(u64::from(chunk::MAX_CHUNK)) as usize];
            let mut filled = 0;
            while filled < block.len() {
                match reader.read(&mut block[filled..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => filled += n,
                }
            }
            if filled == 0 {
                break;
            }
            left = left.saturating_sub(filled as u64);
            block.truncate(filled);
            outbox.blocking(Message::Data(block))?;
        }
    } else {
        let known: HashMap<&str, &ChunkSig> = basis.iter().map(|c| (c.hash.as_str(), c)).collect();
        // Consecutive reused chunks go as one copy.
        let mut run: Option<(u64, u64)> = None;
        for chunk in chunk::chunks(reader.take(entry.size)) {
            let Ok((sig, data)) = chunk else { break };
            match known.get(sig.hash.as_str()).filter(|k| k.len == sig.len) {
                Some(old) => match run.as_mut() {
                    Some((offset, len)) if *offset + *len == old.offset => *len += old.len,
                    _ => {
                        if let Some((offset, len)) = run.replace((old.offset, old.len)) {
                            outbox.blocking(Message::Control(Control::Copy { offset, len }))?;
                        }
                    }
                },
                None => {
                    if let Some((offset, len)) = run.take() {
                        outbox.blocking(Message::Control(Control::Copy { offset, len }))?;
                    }
                    outbox.blocking(Message::Data(data))?;
                }
            }
        }
        if let Some((offset, len)) = run {
            outbox.blocking(Message::Control(Control::Copy { offset, len }))?;
        }
    }
    outbox.blocking(Message::Control(Control::End { id }))
}

/// The part both ends share: answering the peer's requests and applying
/// what it sends.
struct Replica {
    root: PathBuf,
    applier: Applier,
    jobs: std::sync::mpsc::Sender<Job>,
    outbox: Outbox,
    status: SharedStatus,
    /// Where an incoming transfer lands instead of its own path.
    save_as: HashMap<u64, SyncPath>,
    /// The path of the transfer being received.
    receiving: Option<(u64, u64)>,
}

/// What the replica did with a message the coordinator may care about.
enum Applied {
    /// A transfer or operation from the peer finished here.
    Received {
        id: u64,
        result: Result<(), String>,
    },
    /// The peer finished one of ours.
    Done {
        id: u64,
        error: Option<String>,
    },
    /// Anything else, for the coordinator to handle.
    Other(Control),
    Nothing,
}

impl Replica {
    fn new(root: PathBuf, outbox: Outbox, status: SharedStatus) -> Replica {
        let (jobs, rx) = std::sync::mpsc::channel();
        let sending_root = root.clone();
        let sending = outbox.clone();
        std::thread::Builder::new()
            .name("berth-sync-send".into())
            .spawn(move || sender(sending_root, rx, sending))
            .ok();
        Replica {
            applier: Applier::new(root.clone()),
            root,
            jobs,
            outbox,
            status,
            save_as: HashMap::new(),
            receiving: None,
        }
    }

    fn job(&self, job: Job) -> Result<(), Closed> {
        self.jobs.send(job).map_err(|_| Closed)
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&mut self, message: Message) -> Result<Applied, SyncError> {
        let control = match message {
            Message::Data(bytes) => {
                if let Some((_, received)) = self.receiving.as_mut() {
                    *received += bytes.len() as u64;
                }
                self.applier.data(&bytes);
                return Ok(Applied::Nothing);
            }
            Message::Control(control) => control,
        };
        match control {
            Control::Want { id, path, basis } => {
                let entry = match self.entry_on_disk(&path) {
                    Ok(entry) => entry,
                    Err(error) => {
                        self.outbox.control(Control::Done {
                            id,
                            path,
                            error: Some(error),
                        })?;
                        return Ok(Applied::Nothing);
                    }
                };
                let size = entry.size;
                self.job(Job::Send {
                    id,
                    path,
                    entry,
                    basis,
                })?;
                let mut status = self.status();
                status.files_sent += 1;
                status.bytes_sent += size;
            }
            Control::Offer { id, path } => {
                let basis = path
                    .under(&self.root)
                    .ok()
                    .and_then(|p| chunk::basis(&p).ok())
                    .unwrap_or_default();
                self.outbox.control(Control::Want { id, path, basis })?;
            }
            Control::Begin { id, path, entry } => {
                let save_as = self.save_as.remove(&id);
                self.receiving = Some((id, 0));
                self.applier.begin(id, path, entry, save_as);
            }
            Control::Copy { offset, len } => self.applier.copy(offset, len),
            Control::End { id } => {
                let (path, result) = self.applier.end(id);
                if let Some((_, bytes)) = self.receiving.take() {
                    let mut status = self.status();
                    status.files_received += 1;
                    status.bytes_received += bytes;
                }
                return self.received(id, path, result);
            }
            Control::Clone {
                id,
                path,
                entry,
                from,
            } => {
                let result = self.applier.clone_from(&path, &entry, &from);
                return self.received(id, path, result);
            }
            Control::Make { id, path, entry } => {
                let result = self.applier.make(&path, &entry);
                return self.received(id, path, result);
            }
            Control::Remove { id, path } => {
                let result = self.applier.remove(&path);
                return self.received(id, path, result);
            }
            Control::Done { id, error, .. } => return Ok(Applied::Done { id, error }),
            Control::Fatal { message } => return Err(SyncError::Peer(message)),
            other => return Ok(Applied::Other(other)),
        }
        Ok(Applied::Nothing)
    }

    fn received(
        &mut self,
        id: u64,
        path: SyncPath,
        result: Result<(), String>,
    ) -> Result<Applied, SyncError> {
        self.outbox.control(Control::Done {
            id,
            path: path.clone(),
            error: result.clone().err(),
        })?;
        Ok(Applied::Received { id, result })
    }

    /// A file as it is now, for sending it.
    fn entry_on_disk(&self, path: &SyncPath) -> Result<Entry, String> {
        let full = path.under(&self.root).map_err(|e| e.to_string())?;
        entry_of(&full).map_err(|e| format!("cannot read {path}: {e}"))
    }
}

/// What is at `full` now, hashed.
fn entry_of(full: &Path) -> std::io::Result<Entry> {
    match crate::scan::entry_at(full, None) {
        Ok(Some((entry, _))) => Ok(entry),
        Ok(None) => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a file, folder or link",
        )),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

fn next_input(input: &mut mpsc::Receiver<Input>) -> Input {
    input.blocking_recv().unwrap_or(Input::Closed(None))
}

fn scan_local(settings: &Settings) -> Result<Index, SyncError> {
    let previous = match settings.index_file.as_deref().map(Index::load) {
        Some(Ok(index)) => index,
        // A damaged index is rebuilt by the full scan.
        _ => None,
    };
    Ok(scan(&settings.root, &settings.options, previous.as_ref())?)
}

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
    let mut index = match previous {
        Some(previous) => scan(&settings.root, &settings.options, Some(&previous))?,
        None => scan_local(&settings)?,
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
        match next_input(&mut input) {
            Input::Peer(message) => match replica.handle(message)? {
                Applied::Other(Control::Synced) => synced(),
                Applied::Other(other) => {
                    return Err(SyncError::Protocol(format!(
                        "the agent does not take {other:?}"
                    )));
                }
                _ => {}
            },
            Input::Local(paths, since) => local.add(paths, since),
            Input::Rescan => local.rescan = true,
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
        let (changes, _) = local.apply(&settings, &mut index)?;
        for batch in changes.chunks(INDEX_BATCH) {
            outbox.control(Control::Changed {
                entries: batch.to_vec(),
            })?;
        }
    }
}

/// What the watcher saw, not yet looked at. Batches wait while the peer's
/// messages are queued (a large transfer in flight makes thousands of
/// events here), and are then looked at together: when nothing else is
/// waiting, or after [`LOCAL_DELAY`] at most.
#[derive(Default)]
struct Pending {
    paths: Vec<PathBuf>,
    since: Option<Instant>,
    rescan: bool,
}

/// The longest the watcher's batches wait behind the peer's messages.
const LOCAL_DELAY: Duration = Duration::from_millis(100);

impl Pending {
    fn add(&mut self, paths: Vec<PathBuf>, since: Instant) {
        self.paths.extend(paths);
        self.since = Some(self.since.map_or(since, |s| s.min(since)));
    }

    fn is_empty(&self) -> bool {
        self.since.is_none() && !self.rescan
    }

    /// Whether to look now: there is something, and nothing else waits or
    /// it has waited long enough.
    fn due(&self, input: &mpsc::Receiver<Input>) -> bool {
        !self.is_empty()
            && (input.is_empty() || self.since.is_some_and(|s| s.elapsed() > LOCAL_DELAY))
    }

    /// The paths (sorted, once each), when the first was seen, and whether
    /// to scan everything instead.
    fn take(&mut self) -> (Vec<PathBuf>, Option<Instant>, bool) {
        let mut paths = std::mem::take(&mut self.paths);
        paths.sort();
        paths.dedup();
        let rescan = std::mem::take(&mut self.rescan) || paths.len() > crate::watch::BURST;
        (paths, self.since.take(), rescan)
    }

    /// Brings `index` up to date; answers what changed and when the
    /// first of it was seen.
    fn apply(
        &mut self,
        settings: &Settings,
        index: &mut Index,
    ) -> Result<(Vec<Change>, Option<Instant>), SyncError> {
        let (paths, since, rescan) = self.take();
        let changes = if rescan {
            let fresh = scan(&settings.root, &settings.options, Some(index))?;
            let changes = diff(index, &fresh);
            *index = fresh;
            changes
        } else {
            index.update(&settings.root, &settings.options, &paths)?
        };
        Ok((changes, since))
    }
}

/// What differs between two indexes.
pub fn diff(old: &Index, new: &Index) -> Vec<Change> {
    let mut changes: Vec<Change> = old
        .entries
        .keys()
        .filter(|p| !new.entries.contains_key(*p))
        .map(|p| (p.clone(), None))
        .collect();
    for (path, entry) in &new.entries {
        if old.entries.get(path) != Some(entry) {
            changes.push((path.clone(), Some(entry.clone())));
        }
    }
    changes
}

/// Whether two entries hold the same thing (times do not matter; for a
/// file, its content and whether it is executable).
pub fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.kind == b.kind
                && match a.kind {
                    Kind::File => {
                        a.hash == b.hash && (a.mode & 0o111 != 0) == (b.mode & 0o111 != 0)
                    }
                    Kind::Dir => true,
                    Kind::Symlink => a.target == b.target,
                }
        }
        _ => false,
    }
}

/// An operation waiting for the peer.
#[derive(Debug)]
enum Op {
    /// Our version of `path` going over.
    Push {
        path: SyncPath,
        entry: Option<Entry>,
        since: Option<Instant>,
    },
    /// The peer's version coming here.
    Pull { path: SyncPath, entry: Entry },
    /// The peer's version of a conflicting file, saved beside ours as
    /// `copy`.
    ConflictCopy {
        path: SyncPath,
        copy: SyncPath,
        remote: Entry,
    },
}

impl Op {
    fn path(&self) -> &SyncPath {
        match self {
            Op::Push { path, .. } | Op::Pull { path, .. } | Op::ConflictCopy { path, .. } => path,
        }
    }
}

struct Coordinator {
    settings: Settings,
    replica: Replica,
    local: Index,
    remote: Index,
    base: BTreeMap<SyncPath, Entry>,
    /// No base yet: local wins without conflict copies.
    first: bool,
    next_id: u64,
    ops: HashMap<u64, Op>,
    busy: HashMap<SyncPath, u64>,
    /// Paths that changed while busy, looked at again when free.
    dirty: BTreeSet<SyncPath>,
    wire: WireCounter,
    last_save: Instant,
    /// A path holding each content hash, per side (for copies instead of
    /// transfers).
    local_holders: HashMap<String, SyncPath>,
    remote_holders: HashMap<String, SyncPath>,
}

fn note(holders: &mut HashMap<String, SyncPath>, path: &SyncPath, entry: &Entry) {
    if entry.kind == Kind::File
        && let Some(hash) = &entry.hash
    {
        holders.insert(hash.clone(), path.clone());
    }
}

/// A UTC timestamp for names: `20261127T194952Z`.
fn stamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

impl Coordinator {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.replica.status()
    }

    fn publish(&self) {
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

    fn save_index(&mut self, force: bool) {
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
    fn reconcile(
        &mut self,
        paths: impl Iterator<Item = SyncPath>,
        since: Option<Instant>,
    ) -> Result<(), SyncError> {
        let paths: BTreeSet<SyncPath> = paths.collect();
        let (removals, others): (Vec<&SyncPath>, Vec<&SyncPath>) = paths.iter().partition(|p| {
            !self.local.entries.contains_key(*p) || !self.remote.entries.contains_key(*p)
        });
        for path in removals.into_iter().rev().chain(others) {
            self.decide(path, since)?;
        }
        self.publish();
        Ok(())
    }

    fn decide(&mut self, path: &SyncPath, since: Option<Instant>) -> Result<(), SyncError> {
        if self.busy.contains_key(path) {
            self.dirty.insert(path.clone());
            return Ok(());
        }
        let local = self.local.entries.get(path).cloned();
        let remote = self.remote.entries.get(path).cloned();
        let base = self.base.get(path).cloned();
        if same(local.as_ref(), remote.as_ref()) {
            match local {
                Some(entry) => self.base.insert(path.clone(), entry),
                None => self.base.remove(path),
            };
            self.status().errors.remove(path.as_str());
            return Ok(());
        }
        let local_changed = !same(local.as_ref(), base.as_ref());
        let remote_changed = !same(remote.as_ref(), base.as_ref());
        if !local_changed && remote_changed {
            return match remote {
                Some(remote) => self.pull(path, remote, local.as_ref()),
                None => self.remove_here(path),
            };
        }
        if local_changed && !remote_changed {
            return self.push(path, local, remote.as_ref(), since);
        }
        // Both changed.
        match (local, remote) {
            // Deleted here, changed there: the change is kept.
            (None, Some(remote)) => self.pull(path, remote, None),
            (Some(local), Some(remote)) => {
                if local.kind == Kind::File && remote.kind == Kind::File && !self.first {
                    return self.conflict(path, remote);
                }
                self.push(path, Some(local), Some(&remote), since)
            }
            (local, remote) => self.push(path, local, remote.as_ref(), since),
        }
    }

    /// The peer deleted what this side had unchanged.
    fn remove_here(&mut self, path: &SyncPath) -> Result<(), SyncError> {
        if !self.still_as_indexed(path) {
            return self.decide(path, None);
        }
        match self.replica.applier.remove(path) {
            Ok(()) => {
                self.local.forget(path);
                self.base.remove(path);
            }
            Err(error) => self.failed(path, error),
        }
        Ok(())
    }

    fn start(&mut self, op: Op) -> u64 {
        let id = self.id();
        self.busy.insert(op.path().clone(), id);
        self.ops.insert(id, op);
        id
    }

    /// A file the tree holds elsewhere with this content. `holders` may
    /// be stale (paths are not forgotten when they change); what it names
    /// is checked against the index.
    fn holder(
        index: &Index,
        holders: &HashMap<String, SyncPath>,
        entry: &Entry,
        not: &SyncPath,
    ) -> Option<SyncPath> {
        let hash = entry.hash.as_ref()?;
        let path = holders.get(hash)?;
        let held = index.entries.get(path)?;
        (path != not && held.kind == Kind::File && held.hash.as_ref() == Some(hash))
            .then(|| path.clone())
    }

    fn push(
        &mut self,
        path: &SyncPath,
        local: Option<Entry>,
        remote: Option<&Entry>,
        since: Option<Instant>,
    ) -> Result<(), SyncError> {
        let id = self.start(Op::Push {
            path: path.clone(),
            entry: local.clone(),
            since,
        });
        let path = path.clone();
        let job = match local {
            None => Job::Control(Control::Remove { id, path }),
            Some(entry) if entry.kind != Kind::File => {
                Job::Control(Control::Make { id, path, entry })
            }
            Some(entry) => {
                if remote.is_some_and(|r| r.kind == Kind::File && r.hash == entry.hash) {
                    Job::Control(Control::Make { id, path, entry })
                } else if let Some(from) =
                    Self::holder(&self.remote, &self.remote_holders, &entry, &path)
                {
                    Job::Control(Control::Clone {
                        id,
                        path,
                        entry,
                        from,
                    })
                } else if remote.is_some_and(|r| r.kind == Kind::File) && entry.size >= DELTA_FROM {
                    // The peer answers with its chunks, then content follows.
                    self.replica.outbox.control(Control::Offer { id, path })?;
                    return Ok(());
                } else {
                    let mut status = self.status();
                    status.files_sent += 1;
                    status.bytes_sent += entry.size;
                    drop(status);
                    Job::Send {
                        id,
                        path,
                        entry,
                        basis: Vec::new(),
                    }
                }
            }
        };
        Ok(self.replica.job(job)?)
    }

    fn pull(
        &mut self,
        path: &SyncPath,
        remote: Entry,
        local: Option<&Entry>,
    ) -> Result<(), SyncError> {
        if !self.still_as_indexed(path) {
            // Edited here since the last look: decide again with that.
            return self.decide(path, None);
        }
        if remote.kind != Kind::File {
            let result = self.replica.applier.make(path, &remote);
            return self.pulled(path, remote, result);
        }
        if local.is_some_and(|l| l.kind == Kind::File && l.hash == remote.hash) {
            let result = self.replica.applier.make(path, &remote);
            return self.pulled(path, remote, result);
        }
        if let Some(from) = Self::holder(&self.local, &self.local_holders, &remote, path) {
            let result = self.replica.applier.clone_from(path, &remote, &from);
            return self.pulled(path, remote, result);
        }
        let basis = if local.is_some_and(|l| l.kind == Kind::File && l.size >= DELTA_FROM) {
            path.under(&self.settings.root)
                .ok()
                .and_then(|p| chunk::basis(&p).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let id = self.start(Op::Pull {
            path: path.clone(),
            entry: remote,
        });
        Ok(self.replica.outbox.control(Control::Want {
            id,
            path: path.clone(),
            basis,
        })?)
    }

    /// Saves the peer's version of `path` beside ours, under a conflict
    /// name.
    fn conflict(&mut self, path: &SyncPath, remote: Entry) -> Result<(), SyncError> {
        let copy = SyncPath::try_from(format!(
            "{}.berth-conflict-{}",
            path.as_str(),
            stamp(SystemTime::now())
        ))
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
        // The path stays busy until the copy is saved; only then does the
        // local version go over (it would otherwise overwrite what is being
        // copied).
        let id = self.start(Op::ConflictCopy {
            path: path.clone(),
            copy: copy.clone(),
            remote,
        });
        self.replica.save_as.insert(id, copy);
        Ok(self.replica.outbox.control(Control::Want {
            id,
            path: path.clone(),
            basis: Vec::new(),
        })?)
    }

    /// A pull finished here: the local index and the base now hold the
    /// peer's version.
    fn pulled(
        &mut self,
        path: &SyncPath,
        remote: Entry,
        result: Result<(), String>,
    ) -> Result<(), SyncError> {
        match result {
            Ok(()) => {
                let on_disk = path
                    .under(&self.settings.root)
                    .ok()
                    .and_then(|p| entry_of(&p).ok());
                match on_disk {
                    Some(entry) => {
                        note(&mut self.local_holders, path, &entry);
                        self.local.entries.insert(path.clone(), entry)
                    }
                    None => self.local.entries.remove(path),
                };
                self.base.insert(path.clone(), remote);
                self.status().errors.remove(path.as_str());
            }
            Err(error) => self.failed(path, error),
        }
        Ok(())
    }

    fn failed(&mut self, path: &SyncPath, error: String) {
        let mut status = self.status();
        status
            .errors
            .insert(path.as_str().to_owned(), error.clone());
        status.last_error = Some(error);
    }

    /// The peer's side of one of our operations finished.
    fn finished(&mut self, id: u64, error: Option<String>) -> Result<(), SyncError> {
        let Some(op) = self.ops.remove(&id) else {
            return Ok(());
        };
        if self.busy.get(op.path()) == Some(&id) {
            self.busy.remove(op.path());
        }
        match op {
            Op::Push { path, entry, since } => match error {
                None => {
                    match &entry {
                        Some(entry) => {
                            self.base.insert(path.clone(), entry.clone());
                            note(&mut self.remote_holders, &path, entry);
                            self.remote.entries.insert(path.clone(), entry.clone());
                        }
                        None => {
                            self.base.remove(&path);
                            self.remote.forget(&path);
                        }
                    }
                    let mut status = self.status();
                    status.errors.remove(path.as_str());
                    if let Some(since) = since {
                        status
                            .latencies_ms
                            .push(since.elapsed().as_secs_f64() * 1000.0);
                        let over = status.latencies_ms.len().saturating_sub(LATENCY_SAMPLES);
                        status.latencies_ms.drain(..over);
                    }
                }
                Some(error) => self.failed(&path, error),
            },
            Op::Pull { path, entry } => match error {
                None => self.pulled(&path, entry, Ok(()))?,
                Some(error) => self.failed(&path, error),
            },
            Op::ConflictCopy { path, copy, remote } => match error {
                None => {
                    self.status().conflicts.push(copy.as_str().to_owned());
                    // The peer's version is kept beside ours: ours goes over.
                    self.base.insert(path.clone(), remote);
                    self.dirty.insert(path);
                }
                Some(error) => self.failed(&copy, error),
            },
        }
        let dirty: Vec<SyncPath> = std::mem::take(&mut self.dirty).into_iter().collect();
        if !dirty.is_empty() {
            self.reconcile(dirty.into_iter(), None)?;
        }
        self.publish();
        if self.ops.is_empty() {
            self.save_index(false);
        }
        Ok(())
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
    fn still_as_indexed(&mut self, path: &SyncPath) -> bool {
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
    let local = scan_local(&settings)?;
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
        match next_input(&mut input) {
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
            None => next_input(&mut input),
        };
        match next {
            Input::Peer(message) => {
                match coordinator.replica.handle(coordinator.asked(message)?)? {
                    Applied::Done { id, error } => coordinator.finished(id, error)?,
                    Applied::Received { id, result } => {
                        // A pulled file or a conflict copy landed.
                        coordinator.finished(id, result.err())?;
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
            Input::Rescan => local.rescan = true,
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
        let (changes, since) = local.apply(&coordinator.settings, &mut coordinator.local)?;
        coordinator.local_changed(changes, since)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_808_992);
        assert_eq!(stamp(at), "20261127T194952Z");
        assert_eq!(stamp(SystemTime::UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn sameness_ignores_times_but_not_the_executable_bit() {
        let file = |hash: &str, mode: u32, mtime: i64| Entry {
            kind: Kind::File,
            size: 1,
            mtime_ns: mtime,
            mode,
            hash: Some(hash.into()),
            target: None,
        };
        assert!(same(Some(&file("a", 0o644, 1)), Some(&file("a", 0o600, 2))));
        assert!(!same(
            Some(&file("a", 0o644, 1)),
            Some(&file("a", 0o755, 1))
        ));
        assert!(!same(
            Some(&file("a", 0o644, 1)),
            Some(&file("b", 0o644, 1))
        ));
        assert!(!same(Some(&file("a", 0o644, 1)), None));
    }
}

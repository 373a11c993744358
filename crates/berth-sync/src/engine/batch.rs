//! The watcher's batches as the engine takes them: [`Pending`] holds them
//! while the peer's messages are queued, then brings the local index up to
//! date in one go; [`diff`] says what a rescan changed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Settings, SyncError};
use crate::link::Input;
use crate::scan::{Change, Index, scan};
use crate::stages::{Stage, StageClock};

/// What the watcher saw, not yet looked at. Batches wait while the peer's
/// messages are queued (a large transfer in flight makes thousands of
/// events here), and are then looked at together: when nothing else is
/// waiting, or after [`LOCAL_DELAY`] at most.
#[derive(Default)]
pub(super) struct Pending {
    paths: Vec<PathBuf>,
    since: Option<Instant>,
    rescan: bool,
}

/// The longest the watcher's batches wait behind the peer's messages.
const LOCAL_DELAY: Duration = Duration::from_millis(100);

impl Pending {
    pub(super) fn add(&mut self, paths: Vec<PathBuf>, since: Instant) {
        self.paths.extend(paths);
        self.since = Some(self.since.map_or(since, |s| s.min(since)));
    }

    /// The watcher lost events: everything is scanned again.
    pub(super) fn rescan(&mut self) {
        self.rescan = true;
    }

    fn is_empty(&self) -> bool {
        self.since.is_none() && !self.rescan
    }

    /// Whether to look now: there is something, and nothing else waits or
    /// it has waited long enough.
    pub(super) fn due(&self, input: &mpsc::Receiver<Input>) -> bool {
        !self.is_empty()
            && (input.is_empty() || self.since.is_some_and(|s| s.elapsed() > LOCAL_DELAY))
    }

    /// The paths (sorted, once each), when the first was seen, and whether
    /// to scan everything instead (then without paths): when the watcher
    /// lost events, or when the paths are more than a quarter of the
    /// `indexed` entries (and more than a watcher's burst), so that a walk
    /// of the whole tree costs less than looking at each.
    fn take(&mut self, indexed: usize) -> (Vec<PathBuf>, Option<Instant>, bool) {
        let since = self.since.take();
        let rescan = std::mem::take(&mut self.rescan);
        let limit = crate::watch::BURST.max(indexed / 4);
        match crate::watch::batch(std::mem::take(&mut self.paths), limit) {
            Some(paths) if !rescan => (paths, since, false),
            _ => (Vec::new(), since, true),
        }
    }

    /// Brings `index` up to date; answers what changed and when the
    /// first of it was seen.
    pub(super) fn apply(
        &mut self,
        settings: &Settings,
        index: &mut Index,
        stages: &StageClock,
    ) -> Result<(Vec<Change>, Option<Instant>), SyncError> {
        let _scanning = stages.time(Stage::Scan);
        let (paths, since, rescan) = self.take(index.entries.len());
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

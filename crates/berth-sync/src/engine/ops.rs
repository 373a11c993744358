//! The operations a coordinator starts for one path and how each ends:
//! pushing its version over (a copy of what the peer already holds, changed
//! chunks, or the whole file), pulling the peer's, removing here what the
//! peer deleted, and saving the peer's side of a conflict beside ours.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use super::coordinator::{Coordinator, note};
use super::replica::entry_of;
use super::send::Job;
use super::{DELTA_FROM, LATENCY_SAMPLES, SyncError};
use crate::chunk;
use crate::path::SyncPath;
use crate::scan::{Entry, Index, Kind};
use crate::wire::Control;

/// An operation waiting for the peer.
#[derive(Debug)]
pub(super) enum Op {
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

    /// The size of the file content this operation moves, if it moves a
    /// file (for progress).
    fn content(&self) -> Option<u64> {
        let entry = match self {
            Op::Push { entry, .. } => entry.as_ref()?,
            Op::Pull { entry, .. } => entry,
            Op::ConflictCopy { remote, .. } => remote,
        };
        (entry.kind == Kind::File).then_some(entry.size)
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
    /// The peer deleted what this side had unchanged.
    pub(super) fn remove_here(&mut self, path: &SyncPath) -> Result<(), SyncError> {
        if !self.still_as_indexed(path) {
            return self.reconcile_path(path, None);
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
        if let Some(size) = op.content() {
            let mut status = self.status();
            status.files_pending += 1;
            status.bytes_pending += size;
        }
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

    pub(super) fn push(
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

    pub(super) fn pull(
        &mut self,
        path: &SyncPath,
        remote: Entry,
        local: Option<&Entry>,
    ) -> Result<(), SyncError> {
        if !self.still_as_indexed(path) {
            // Edited here since the last look: decide again with that.
            return self.reconcile_path(path, None);
        }
        if remote.kind != Kind::File {
            let result = self.replica.applier.make(path, &remote);
            return self.pulled(path, remote, result, None);
        }
        if local.is_some_and(|l| l.kind == Kind::File && l.hash == remote.hash) {
            let result = self.replica.applier.make(path, &remote);
            return self.pulled(path, remote, result, None);
        }
        if let Some(from) = Self::holder(&self.local, &self.local_holders, &remote, path) {
            let result = self.replica.applier.clone_from(path, &remote, &from);
            return self.pulled(path, remote, result, None);
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
    pub(super) fn conflict(&mut self, path: &SyncPath, remote: Entry) -> Result<(), SyncError> {
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
        placed: Option<Entry>,
    ) -> Result<(), SyncError> {
        match result {
            Ok(()) => {
                let on_disk = placed.or_else(|| {
                    path.under(&self.settings.root)
                        .ok()
                        .and_then(|p| entry_of(&p).ok())
                });
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

    /// The peer's side of one of our operations finished; `placed` is
    /// the entry of a file pulled here, as it landed.
    pub(super) fn finished(
        &mut self,
        id: u64,
        error: Option<String>,
        placed: Option<Entry>,
    ) -> Result<(), SyncError> {
        let Some(op) = self.ops.remove(&id) else {
            return Ok(());
        };
        if self.busy.get(op.path()) == Some(&id) {
            self.busy.remove(op.path());
        }
        if let Some(size) = op.content() {
            let mut status = self.status();
            status.files_pending -= 1;
            status.bytes_pending -= size;
            if error.is_none() {
                status.files_done += 1;
                status.bytes_done += size;
            }
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
                None => self.pulled(&path, entry, Ok(()), placed)?,
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_808_992);
        assert_eq!(stamp(at), "20261127T194952Z");
        assert_eq!(stamp(SystemTime::UNIX_EPOCH), "19700101T000000Z");
    }
}

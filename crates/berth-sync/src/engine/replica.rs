//! The part both ends share: a [`Replica`] answers the peer's requests
//! (sends what it wants, offers chunks to compare against) and applies what
//! the peer sends (content, copies, folders, links, removals).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::send::{Job, sender};
use super::{SharedStatus, Status, SyncError};
use crate::apply::Applier;
use crate::chunk;
use crate::link::{Closed, Outbox};
use crate::path::SyncPath;
use crate::scan::Entry;
use crate::stages::Stage;
use crate::wire::{Control, Message};

/// The part both ends share: answering the peer's requests and applying
/// what it sends.
pub(super) struct Replica {
    root: PathBuf,
    pub(super) applier: Applier,
    jobs: std::sync::mpsc::Sender<Job>,
    pub(super) outbox: Outbox,
    status: SharedStatus,
    /// Where an incoming transfer lands instead of its own path.
    pub(super) save_as: HashMap<u64, SyncPath>,
    /// The path of the transfer being received.
    receiving: Option<(u64, u64)>,
}

/// What the replica did with a message the coordinator may care about.
pub(super) enum Applied {
    /// A transfer or operation from the peer finished here; `placed` is
    /// the entry a file it put at `path` has now (as a scan would find
    /// it), so the index can take it without reading the file again.
    Received {
        id: u64,
        path: SyncPath,
        result: Result<(), String>,
        placed: Option<Entry>,
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
    pub(super) fn new(root: PathBuf, outbox: Outbox, status: SharedStatus) -> Replica {
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

    pub(super) fn job(&self, job: Job) -> Result<(), Closed> {
        self.jobs.send(job).map_err(|_| Closed)
    }

    pub(super) fn status(&self) -> parking_lot::MutexGuard<'_, Status> {
        self.status.lock()
    }

    pub(super) fn handle(&mut self, message: Message) -> Result<Applied, SyncError> {
        let stages = self.outbox.stages().clone();
        let _applying = stages.time(Stage::Apply);
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
                let (result, placed) = match result {
                    Ok(placed) => (Ok(()), placed),
                    Err(error) => (Err(error), None),
                };
                return self.received(id, path, result, placed);
            }
            Control::Clone {
                id,
                path,
                entry,
                from,
            } => {
                let result = self.applier.clone_from(&path, &entry, &from);
                return self.received(id, path, result, None);
            }
            Control::Make { id, path, entry } => {
                let result = self.applier.make(&path, &entry);
                return self.received(id, path, result, None);
            }
            Control::Remove { id, path } => {
                let result = self.applier.remove(&path);
                return self.received(id, path, result, None);
            }
            Control::Done { id, error, .. } => return Ok(Applied::Done { id, error }),
            Control::Fatal { message } => return Err(SyncError::Peer(message)),
            other => return Ok(Applied::Other(other)),
        }
        Ok(Applied::Nothing)
    }

    /// Answers the peer's operation `id` with a `Done`; `placed` is the
    /// entry of a file it put at `path`, when known.
    fn received(
        &mut self,
        id: u64,
        path: SyncPath,
        result: Result<(), String>,
        placed: Option<Entry>,
    ) -> Result<Applied, SyncError> {
        self.outbox.control(Control::Done {
            id,
            path: path.clone(),
            error: result.clone().err(),
        })?;
        Ok(Applied::Received {
            id,
            path,
            result,
            placed,
        })
    }

    /// A file as it is now, for sending it.
    fn entry_on_disk(&self, path: &SyncPath) -> Result<Entry, String> {
        let full = path.under(&self.root).map_err(|e| e.to_string())?;
        entry_of(&full).map_err(|e| format!("cannot read {path}: {e}"))
    }
}

/// What is at `full` now, hashed.
pub(super) fn entry_of(full: &Path) -> std::io::Result<Entry> {
    match crate::scan::entry_at(full, None) {
        Ok(Some((entry, _))) => Ok(entry),
        Ok(None) => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a file, folder or link",
        )),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

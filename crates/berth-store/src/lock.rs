//! The data-directory lock: an advisory exclusive lock on `berthd.lock`, whose
//! contents say who holds it so that a refused daemon can name the holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StoreError;

const LOCK_FILE: &str = "berthd.lock";

/// Who holds a data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The address the holder listens on, so an operator can find it.
    pub listen: String,
    /// Seconds since the Unix epoch when the holder took the lock.
    pub since_unix: u64,
}

impl Holder {
    pub fn this_process(listen: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            listen: listen.to_owned(),
            since_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "berthd pid {} listening on {} (since unix time {})",
            self.pid, self.listen, self.since_unix
        )
    }
}

#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path, holder: &Holder) -> Result<DirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let lock_err = |source| StoreError::LockFile {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut contents = String::new();
                // The holder may be mid-write; a partial record still helps.
                let _ = file.read_to_string(&mut contents);
                let holder = serde_json::from_str::<Holder>(&contents)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|_| "another process".to_owned());
                return Err(StoreError::Locked {
                    dir: dir.to_owned(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(lock_err(source)),
        }
        let lock = DirLock { file };
        lock.record(dir, holder)?;
        Ok(lock)
    }

    pub(crate) fn record(&self, dir: &Path, holder: &Holder) -> Result<(), StoreError> {
        let lock_err = |source| StoreError::LockFile {
            path: dir.join(LOCK_FILE),
            source,
        };
        let record = serde_json::to_vec(holder).map_err(|e| lock_err(e.into()))?;
        let mut file = &self.file;
        file.set_len(0).map_err(lock_err)?;
        file.seek(SeekFrom::Start(0)).map_err(lock_err)?;
        file.write_all(&record).map_err(lock_err)?;
        file.sync_data().map_err(lock_err)?;
        Ok(())
    }
}

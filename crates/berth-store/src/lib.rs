//! The embedded store: one sled database in the daemon's data directory.
//!
//! Invariant: this is the only crate that touches sled, and a data directory is
//! opened by at most one process at a time. [`Store::open`] takes an exclusive
//! lock on `berthd.lock` before sled sees the directory, records who holds it,
//! and refuses a store whose schema is newer than this build understands.

mod compact;
mod disk;
mod lock;
mod memory;
mod table;

use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use compact::{Compacted, Compaction};
pub use lock::Holder;
pub use memory::{StoreOptions, cgroup_memory_limit};
pub use table::{Batch, Table, Tx, TxError};

/// The schema version this build writes. Bump it with a migration in
/// [`Store::migrate`] whenever the meaning of stored bytes changes.
///
/// - 1: the first.
/// - 2: the audit log keeps its events in sealed, compressed blocks with
///   per-block postings (`b/`, `p/` in the `audit` tree) instead of one index
///   key per event and term (`i/`). Version 1's events (`e/`) are exactly
///   version 2's unsealed tail, so the migration drops the `i/` keys and the
///   audit log seals and indexes those events when it opens.
pub const SCHEMA_VERSION: u32 = 2;

const META_TREE: &str = "meta";
const SCHEMA_KEY: &[u8] = b"schema_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open lock file {}", path.display())]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {} is in use by {holder}; stop that daemon or choose another --data-dir", dir.display())]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot open the store in {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("store in {} has schema version {found}, newer than this berthd understands ({supported}); run a newer berthd", dir.display())]
    SchemaTooNew {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("cannot compact the store: {}", path.display())]
    Compact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store in {} has an unreadable schema version record", dir.display())]
    SchemaCorrupt { dir: PathBuf },
    #[error("store operation failed")]
    Sled(#[from] sled::Error),
    #[error("record {key:?} in table {table} cannot be decoded")]
    Corrupt {
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode a record for table {table}")]
    Encode {
        table: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot read or create key file {}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the disk holding {} is full ({} MiB free; berthd keeps {} MiB free so that what it has acknowledged stays safe): nothing was written; free space or grow the volume",
        dir.display(), free >> 20, reserve >> 20
    )]
    DiskFull {
        dir: PathBuf,
        free: u64,
        reserve: u64,
    },
    /// The transaction's own logic refused to commit; nothing was written.
    #[error(transparent)]
    Aborted(#[from] berth_core::Error),
}

/// A store failure as the API answers it: an aborted transaction carries
/// its own error; anything else is internal, its detail only logged.
impl From<StoreError> for berth_core::Error {
    fn from(err: StoreError) -> berth_core::Error {
        match err {
            StoreError::Aborted(err) => err,
            full @ StoreError::DiskFull { .. } => berth_core::Error::unavailable(full.to_string()),
            other => berth_core::Error::internal(berth_core::error::chain(&other)),
        }
    }
}

/// What [`Store::open`] found about the store it opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    pub data_dir: PathBuf,
    pub schema_version: u32,
    /// True when this open created the store.
    pub created: bool,
    /// What compacting the store on this open did, if it did.
    #[serde(skip)]
    pub compacted: Option<Compacted>,
    /// The cache sled was opened with, in bytes.
    #[serde(skip)]
    pub cache_bytes: u64,
}

/// An open store. Dropping it releases the data-directory lock; call
/// [`Store::flush`] first so that nothing written is lost.
pub struct Store {
    db: sled::Db,
    trees: RwLock<HashMap<&'static str, sled::Tree>>,
    /// Taken to write by [`Store::apply`], to read by
    /// [`Store::whole_batches`]: sled applies a batch atomically on disk,
    /// but a concurrent reader may see part of it.
    batches: RwLock<()>,
    info: StoreInfo,
    // Held for the life of the store; the OS releases the lock when it closes.
    lock: lock::DirLock,
    disk: disk::DiskGuard,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("info", &self.info).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, locked for `holder`,
    /// with the default options (a cache sized from the memory limit).
    pub fn open(dir: &Path, holder: &Holder) -> Result<Store, StoreError> {
        Store::open_with(dir, holder, &StoreOptions::default())
    }

    /// Opens the store with explicit options.
    pub fn open_with(
        dir: &Path,
        holder: &Holder,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        create_private_dir(dir)?;
        let lock = lock::DirLock::acquire(dir, holder)?;
        let path = dir.join("store");
        let cache_bytes = options.cache_bytes();
        tracing::debug!(cache_bytes, "opening the store");
        compact::recover(dir)?;
        let compacted = if compact::due(dir, options.compaction) {
            let started = std::time::Instant::now();
            match compact::compact(dir, cache_bytes) {
                Ok(done) => {
                    tracing::info!(
                        bytes_before = done.bytes_before,
                        bytes_after = done.bytes_after,
                        seconds = started.elapsed().as_secs_f64(),
                        "store compacted"
                    );
                    Some(done)
                }
                // A copy that cannot be made (a disk too full for it) is
                // no reason not to start: the store opens as it was.
                Err(e) => {
                    compact::recover(dir)?;
                    tracing::warn!(error = %e, "the store was not compacted; it opens as it was");
                    None
                }
            }
        } else {
            None
        };
        let db = compact::open_sled(&path, cache_bytes)?;
        let meta = db.open_tree(META_TREE)?;
        let (schema_version, created) = match meta.get(SCHEMA_KEY)? {
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
                compact::record_size(dir, compact::size(&path))?;
                (SCHEMA_VERSION, true)
            }
            Some(bytes) => {
                let bytes: [u8; 4] =
                    bytes
                        .as_ref()
                        .try_into()
                        .map_err(|_| StoreError::SchemaCorrupt {
                            dir: dir.to_owned(),
                        })?;
                (u32::from_be_bytes(bytes), false)
            }
        };
        if schema_version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                dir: dir.to_owned(),
                found: schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        let mut store = Store {
            db,
            trees: RwLock::new(HashMap::new()),
            batches: RwLock::new(()),
            info: StoreInfo {
                data_dir: dir.to_owned(),
                schema_version,
                created,
                compacted,
                cache_bytes,
            },
            lock,
            disk: disk::DiskGuard::new(options.reserve_bytes),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Rewrites the holder record, once the daemon knows its real address.
    pub fn record_holder(&self, holder: &Holder) -> Result<(), StoreError> {
        self.lock.record(&self.info.data_dir, holder)
    }

    pub fn info(&self) -> &StoreInfo {
        &self.info
    }

    /// Brings an older schema up to [`SCHEMA_VERSION`], one version at a
    /// time; each step records its version when it is done, so a step cut
    /// short by a crash runs again (each is idempotent).
    fn migrate(&mut self) -> Result<(), StoreError> {
        debug_assert!(self.info.schema_version <= SCHEMA_VERSION);
        if self.info.schema_version < 2 {
            let removed = self.migrate_audit_blocks()?;
            tracing::info!(
                removed,
                "store migrated to schema 2: the audit log's per-event index is dropped; the audit log rebuilds it per block"
            );
            self.set_schema_version(2)?;
        }
        Ok(())
    }

    /// Version 1 to 2: drops the audit log's per-event index keys (`i/` in
    /// the `audit` tree). The events themselves stay where they are: they
    /// are version 2's unsealed tail.
    fn migrate_audit_blocks(&self) -> Result<usize, StoreError> {
        let tree = self.db.open_tree("audit")?;
        let mut removed = 0;
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for entry in tree.scan_prefix(b"i/").keys().take(10_000) {
                batch.remove(entry?);
                n += 1;
            }
            if n == 0 {
                break;
            }
            tree.apply_batch(batch)?;
            removed += n;
        }
        self.db.flush()?;
        Ok(removed)
    }

    fn set_schema_version(&mut self, version: u32) -> Result<(), StoreError> {
        let meta = self.db.open_tree(META_TREE)?;
        meta.insert(SCHEMA_KEY, &version.to_be_bytes())?;
        self.db.flush()?;
        self.info.schema_version = version;
        Ok(())
    }

    /// Refuses, before anything is written, a write the disk may not have
    /// room for: below the reserve of free space, sled could meet a full
    /// disk in the middle of a flush, and a flush that fails leaves the
    /// store unable to write until it is opened again. Above it again,
    /// writes go on: nothing needs restarting when space returns.
    pub fn check_space(&self) -> Result<(), StoreError> {
        self.disk.check(&self.info.data_dir)
    }

    /// The bytes sled's files take on disk, by sled's own accounting.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Makes every write so far durable. Returns the number of bytes flushed.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        Ok(self.db.flush_async().await?)
    }

    /// Checks that the store answers reads; used by the readiness probe.
    pub fn check(&self) -> Result<(), StoreError> {
        let meta = self.db.open_tree(META_TREE)?;
        meta.get(SCHEMA_KEY)?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(listen: &str) -> Holder {
        Holder::this_process(listen)
    }

    #[test]
    fn a_second_open_names_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = Store::open(dir.path(), &holder("127.0.0.1:1")).expect("first open");
        assert!(first.info().created);
        let err = Store::open(dir.path(), &holder("127.0.0.1:2")).expect_err("second open");
        let message = err.to_string();
        assert!(matches!(err, StoreError::Locked { .. }), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("127.0.0.1:1"), "{message}");
        drop(first);
        let reopened = Store::open(dir.path(), &holder("127.0.0.1:3")).expect("reopen");
        assert!(!reopened.info().created);
        assert_eq!(reopened.info().schema_version, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_intact() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Store::open(dir.path(), &holder("a")).expect("open");
            let meta = store.db.open_tree(META_TREE).expect("meta tree");
            meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .expect("write");
            store.db.flush().expect("flush");
        }
        let err = Store::open(dir.path(), &holder("b")).expect_err("newer schema");
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        // Refusing must not rewrite the record: a newer berthd can still open it.
        let db = sled::open(dir.path().join("store")).expect("raw open");
        let raw = db
            .open_tree(META_TREE)
            .and_then(|t| t.get(SCHEMA_KEY))
            .expect("read")
            .expect("present");
        assert_eq!(raw.as_ref(), (SCHEMA_VERSION + 1).to_be_bytes());
    }

    #[test]
    fn compaction_keeps_every_record_and_gives_space_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let things: Table<String> = Table::new("things");
        {
            let store = Store::open(dir.path(), &holder("a")).expect("open");
            // Garbage: every key written many times over.
            for round in 0..20 {
                let mut batch = store.batch(things);
                for i in 0..500 {
                    batch
                        .put(
                            things,
                            &format!("k{i:04}"),
                            &format!("{round}-{}", "x".repeat(200)),
                        )
                        .expect("put");
                }
                store.apply(batch).expect("apply");
            }
            store.db.flush().expect("flush");
        }
        let options = StoreOptions {
            compaction: Compaction::Always,
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path(), &holder("b"), &options).expect("compact");
        let done = store.info().compacted.expect("compacted");
        assert!(done.bytes_after < done.bytes_before, "{done:?}");
        let all = store.scan(things, "k").expect("scan");
        assert_eq!(all.len(), 500);
        assert!(all.iter().all(|(_, v)| v.starts_with("19-")));
        assert_eq!(store.info().schema_version, SCHEMA_VERSION);
        drop(store);
        // Auto: nothing grew since.
        let store = Store::open(dir.path(), &holder("c")).expect("reopen");
        assert_eq!(store.info().compacted, None);
    }

    #[test]
    fn an_interrupted_compaction_is_finished_or_undone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let things: Table<String> = Table::new("things");
        {
            let store = Store::open(dir.path(), &holder("a")).expect("open");
            store
                .transact(&[things.name], |tx| tx.put(things, "k", &"v".to_owned()))
                .expect("put");
            store.db.flush().expect("flush");
        }
        // A copy that was never marked complete: dropped.
        copy_tree(
            &dir.path().join("store"),
            &dir.path().join("store.compacting"),
        );
        let store = Store::open(dir.path(), &holder("b")).expect("open");
        assert!(!dir.path().join("store.compacting").exists());
        drop(store);
        // Cut between the two renames, with a complete copy: it goes in.
        copy_tree(
            &dir.path().join("store"),
            &dir.path().join("store.compacting"),
        );
        std::fs::write(dir.path().join("store.compacting/COMPLETE"), b"").expect("mark");
        std::fs::rename(dir.path().join("store"), dir.path().join("store.old")).expect("rename");
        let store = Store::open(dir.path(), &holder("c")).expect("open");
        assert_eq!(store.get(things, "k").expect("get").as_deref(), Some("v"));
        assert!(!dir.path().join("store.old").exists());
    }

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("dir");
        for entry in std::fs::read_dir(from).expect("read") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }

    #[test]
    fn a_corrupt_schema_record_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Store::open(dir.path(), &holder("a")).expect("open");
            let meta = store.db.open_tree(META_TREE).expect("meta tree");
            meta.insert(SCHEMA_KEY, b"x".as_slice()).expect("write");
            store.db.flush().expect("flush");
        }
        let err = Store::open(dir.path(), &holder("b")).expect_err("corrupt");
        assert!(matches!(err, StoreError::SchemaCorrupt { .. }), "{err}");
    }
}

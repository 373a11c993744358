//! The embedded store: one sled database in the daemon's data directory.
//!
//! Invariant: this is the only crate that touches sled, and a data directory is
//! opened by at most one process at a time. [`Store::open`] takes an exclusive
//! lock on `berthd.lock` before sled sees the directory, records who holds it,
//! and refuses a store whose schema is newer than this build understands.

mod lock;
mod table;

use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use lock::Holder;
pub use table::{Batch, Table, Tx, TxError};

/// The schema version this build writes. Bump it with a migration in
/// [`Store::migrate`] whenever the meaning of stored bytes changes.
pub const SCHEMA_VERSION: u32 = 1;

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
}

/// An open store. Dropping it releases the data-directory lock; call
/// [`Store::flush`] first so that nothing written is lost.
pub struct Store {
    db: sled::Db,
    trees: RwLock<HashMap<&'static str, sled::Tree>>,
    info: StoreInfo,
    // Held for the life of the store; the OS releases the lock when it closes.
    lock: lock::DirLock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("info", &self.info).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, locked for `holder`.
    pub fn open(dir: &Path, holder: &Holder) -> Result<Store, StoreError> {
        create_private_dir(dir)?;
        let lock = lock::DirLock::acquire(dir, holder)?;
        let path = dir.join("store");
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let meta = db.open_tree(META_TREE)?;
        let (schema_version, created) = match meta.get(SCHEMA_KEY)? {
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
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
        let store = Store {
            db,
            trees: RwLock::new(HashMap::new()),
            info: StoreInfo {
                data_dir: dir.to_owned(),
                schema_version,
                created,
            },
            lock,
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

    /// Brings an older schema up to [`SCHEMA_VERSION`]. Version 1 is the first,
    /// so there is nothing to migrate yet; each later version adds one step here.
    fn migrate(&self) -> Result<(), StoreError> {
        debug_assert!(self.info.schema_version <= SCHEMA_VERSION);
        Ok(())
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

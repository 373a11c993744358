//! Typed tables over sled trees, and transactions that span several of them
//! so that a change and its records commit together or not at all.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::{Store, StoreError};

/// A named table of JSON-encoded records of type `V`, keyed by strings.
pub struct Table<V> {
    pub name: &'static str,
    _record: PhantomData<fn() -> V>,
}

impl<V> Table<V> {
    pub const fn new(name: &'static str) -> Table<V> {
        Table {
            name,
            _record: PhantomData,
        }
    }
}

impl<V> Table<V> {
    /// The same table read or written as another record type, for tables
    /// that keep several kinds of record under distinct key prefixes.
    pub const fn retype<W>(self) -> Table<W> {
        Table::new(self.name)
    }
}

impl<V> Clone for Table<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Table<V> {}

/// Writes to one table, applied atomically by [`Store::apply`]: cheaper
/// than a transaction when only one table changes.
pub struct Batch {
    name: &'static str,
    inner: sled::Batch,
}

impl Batch {
    pub fn put<V: Serialize>(
        &mut self,
        table: Table<V>,
        key: &str,
        value: &V,
    ) -> Result<(), StoreError> {
        assert_eq!(table.name, self.name, "a batch writes one table");
        self.inner
            .insert(key.as_bytes(), encode(table.name, value)?);
        Ok(())
    }

    /// Writes bytes the caller encoded itself.
    pub fn put_raw<V>(&mut self, table: Table<V>, key: &str, bytes: &[u8]) {
        assert_eq!(table.name, self.name, "a batch writes one table");
        self.inner.insert(key.as_bytes(), bytes);
    }

    pub fn delete<V>(&mut self, table: Table<V>, key: &str) {
        assert_eq!(table.name, self.name, "a batch writes one table");
        self.inner.remove(key.as_bytes());
    }
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxError {
    /// The caller's logic refused; returned to the caller as is.
    Abort(berth_core::Error),
    /// Reading or writing failed.
    Store(StoreError),
    /// Another transaction touched the same keys; sled retries these.
    Conflict,
}

impl From<berth_core::Error> for TxError {
    fn from(err: berth_core::Error) -> Self {
        TxError::Abort(err)
    }
}

impl From<sled::transaction::UnabortableTransactionError> for TxError {
    fn from(err: sled::transaction::UnabortableTransactionError) -> Self {
        match err {
            sled::transaction::UnabortableTransactionError::Conflict => TxError::Conflict,
            sled::transaction::UnabortableTransactionError::Storage(e) => TxError::Store(e.into()),
        }
    }
}

/// The tables of one transaction, in the order they were named.
pub struct Tx<'a> {
    names: &'a [&'static str],
    trees: &'a [TransactionalTree],
}

impl Tx<'_> {
    fn tree(&self, name: &'static str) -> &TransactionalTree {
        let index = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("table {name} was not named when the transaction began"));
        &self.trees[index]
    }

    pub fn get<V: DeserializeOwned>(
        &self,
        table: Table<V>,
        key: &str,
    ) -> Result<Option<V>, TxError> {
        match self.tree(table.name).get(key.as_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(table.name, key, &bytes)
                .map(Some)
                .map_err(TxError::Store),
        }
    }

    pub fn put<V: Serialize>(&self, table: Table<V>, key: &str, value: &V) -> Result<(), TxError> {
        let bytes = encode(table.name, value).map_err(TxError::Store)?;
        self.tree(table.name).insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    pub fn delete<V>(&self, table: Table<V>, key: &str) -> Result<bool, TxError> {
        Ok(self.tree(table.name).remove(key.as_bytes())?.is_some())
    }

    /// Writes bytes the caller encoded itself.
    pub fn put_raw<V>(&self, table: Table<V>, key: &str, bytes: &[u8]) -> Result<(), TxError> {
        self.tree(table.name).insert(key.as_bytes(), bytes)?;
        Ok(())
    }
}

fn decode<V: DeserializeOwned>(
    table: &'static str,
    key: &str,
    bytes: &[u8],
) -> Result<V, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        table,
        key: key.to_owned(),
        source,
    })
}

fn encode<V: Serialize>(table: &'static str, value: &V) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode { table, source })
}

impl Store {
    fn tree(&self, name: &'static str) -> Result<sled::Tree, StoreError> {
        if let Some(tree) = self.trees.read().get(name) {
            return Ok(tree.clone());
        }
        let tree = self.db.open_tree(name)?;
        self.trees.write().insert(name, tree.clone());
        Ok(tree)
    }

    pub fn get<V: DeserializeOwned>(
        &self,
        table: Table<V>,
        key: &str,
    ) -> Result<Option<V>, StoreError> {
        match self.tree(table.name)?.get(key.as_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(table.name, key, &bytes).map(Some),
        }
    }

    /// Every record whose key starts with `prefix`, in key order.
    pub fn scan<V: DeserializeOwned>(
        &self,
        table: Table<V>,
        prefix: &str,
    ) -> Result<Vec<(String, V)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree(table.name)?.scan_prefix(prefix.as_bytes()) {
            let (key, bytes) = entry?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let value = decode(table.name, &key, &bytes)?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// The stored bytes under `key`, undecoded.
    pub fn get_raw<V>(&self, table: Table<V>, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree(table.name)?
            .get(key.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Writes bytes the caller encoded itself, as one atomic write.
    pub fn put_raw<V>(&self, table: Table<V>, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.tree(table.name)?.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// Keys and undecoded values in `[start, end)`, at most `limit`, in key
    /// order, or in reverse key order when `reverse`. Only the first `keep`
    /// bytes of each value are copied out (`usize::MAX` for all), for
    /// callers that need a header of a large value.
    pub fn range_raw<V>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
        limit: usize,
        reverse: bool,
        keep: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tree = self.tree(table.name)?;
        let range = tree.range(start.as_bytes()..end.as_bytes());
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut out = Vec::new();
        for entry in entries.take(limit) {
            let (key, value) = entry?;
            out.push((
                String::from_utf8_lossy(&key).into_owned(),
                value[..value.len().min(keep)].to_vec(),
            ));
        }
        Ok(out)
    }

    /// The entry with the greatest key in `[start, end]`, undecoded, with
    /// the first `keep` bytes of its value.
    pub fn last_raw_between<V>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
        keep: usize,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        match self
            .tree(table.name)?
            .range(start.as_bytes()..=end.as_bytes())
            .next_back()
        {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some((
                    String::from_utf8_lossy(&key).into_owned(),
                    value[..value.len().min(keep)].to_vec(),
                )))
            }
            None => Ok(None),
        }
    }

    pub fn batch<V>(&self, table: Table<V>) -> Batch {
        Batch {
            name: table.name,
            inner: sled::Batch::default(),
        }
    }

    /// Applies a batch atomically.
    pub fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let tree = self.tree(batch.name)?;
        let _whole = self.batches.write();
        tree.apply_batch(batch.inner)?;
        Ok(())
    }

    /// While the guard is held, batches are seen whole or not at all: a
    /// reader that reads several keys one batch moves (the audit log's
    /// tail and the block sealed from it) holds it across the reads. Never
    /// apply a batch while holding it.
    pub fn whole_batches(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        // Recursive, so a reader that nests does not wait behind a writer
        // that waits for it.
        self.batches.read_recursive()
    }

    /// The greatest key in `[start, end]`, for seeking backwards through an
    /// ordered index.
    pub fn last_key_between<V>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
    ) -> Result<Option<String>, StoreError> {
        self.key_between(table, start, end, Edge::Last)
    }

    /// The smallest key in `[start, end]`.
    pub fn first_key_between<V>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
    ) -> Result<Option<String>, StoreError> {
        self.key_between(table, start, end, Edge::First)
    }

    fn key_between<V>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
        edge: Edge,
    ) -> Result<Option<String>, StoreError> {
        let mut range = self
            .tree(table.name)?
            .range(start.as_bytes()..=end.as_bytes());
        let entry = match edge {
            Edge::First => range.next(),
            Edge::Last => range.next_back(),
        };
        match entry {
            Some(entry) => Ok(Some(String::from_utf8_lossy(&entry?.0).into_owned())),
            None => Ok(None),
        }
    }

    /// Records in key order in `[start, end)`, at most `limit`.
    pub fn scan_range<V: DeserializeOwned>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, V)>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .tree(table.name)?
            .range(start.as_bytes()..end.as_bytes())
            .take(limit)
        {
            let (key, bytes) = entry?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let value = decode(table.name, &key, &bytes)?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Deletes every key of `table` in `[start, end)`; returns how many.
    pub fn delete_between<V>(
        &self,
        table: Table<V>,
        start: &str,
        end: &str,
    ) -> Result<usize, StoreError> {
        let tree = self.tree(table.name)?;
        let mut removed = 0;
        for entry in tree.range(start.as_bytes()..end.as_bytes()) {
            let (key, _) = entry?;
            tree.remove(key)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Writes raw bytes under a key, bypassing encoding: only for tests that
    /// must damage a store on purpose, behind the `tamper` feature.
    #[cfg(feature = "tamper")]
    pub fn tamper_raw<V>(
        &self,
        table: Table<V>,
        key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let tree = self.tree(table.name)?;
        match bytes {
            Some(bytes) => {
                tree.insert(key.as_bytes(), bytes)?;
            }
            None => {
                tree.remove(key.as_bytes())?;
            }
        }
        Ok(())
    }

    /// How many keys `table` holds and the bytes of their keys and values:
    /// the live data sled's files hold for it, however large the files.
    pub fn table_bytes<V>(&self, table: Table<V>) -> Result<(u64, u64), StoreError> {
        let (mut keys, mut bytes) = (0, 0);
        for entry in self.tree(table.name)?.iter() {
            let (key, value) = entry?;
            keys += 1;
            bytes += (key.len() + value.len()) as u64;
        }
        Ok((keys, bytes))
    }

    pub fn is_empty<V>(&self, table: Table<V>) -> Result<bool, StoreError> {
        Ok(self.tree(table.name)?.is_empty())
    }

    /// Runs `f` as one atomic transaction over the named tables. `f` may run
    /// more than once when it conflicts with a concurrent transaction, so it
    /// must not have side effects outside `tx`.
    pub fn transact<R>(
        &self,
        tables: &[&'static str],
        f: impl Fn(&Tx<'_>) -> Result<R, TxError>,
    ) -> Result<R, StoreError> {
        use sled::Transactional;
        let trees = tables
            .iter()
            .map(|name| self.tree(name))
            .collect::<Result<Vec<_>, _>>()?;
        let result = trees.as_slice().transaction(|transactional| {
            let tx = Tx {
                names: tables,
                trees: transactional,
            };
            match f(&tx) {
                Ok(value) => Ok(value),
                Err(TxError::Conflict) => Err(ConflictableTransactionError::Conflict),
                Err(err) => Err(ConflictableTransactionError::Abort(err)),
            }
        });
        match result {
            Ok(value) => Ok(value),
            Err(sled::transaction::TransactionError::Abort(TxError::Abort(err))) => {
                Err(StoreError::Aborted(err))
            }
            Err(sled::transaction::TransactionError::Abort(TxError::Store(err))) => Err(err),
            Err(sled::transaction::TransactionError::Abort(TxError::Conflict)) => {
                unreachable!("conflicts are retried by sled, never aborted")
            }
            Err(sled::transaction::TransactionError::Storage(err)) => Err(err.into()),
        }
    }

    /// A key from the data directory's key folder, created (random, mode
    /// 0600) on first use. Used for keyed hashes of secrets.
    pub fn secret_key(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let dir = self.info().data_dir.join("keys");
        let path = dir.join(name);
        let io = |source| StoreError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::KeyFile {
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a key file holds exactly 32 bytes",
                    ),
                }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&dir).map_err(io)?;
                let key: [u8; 32] = rand::random();
                // Written to a temporary file and renamed, so a crash never
                // leaves a short key file behind.
                let staging = dir.join(format!(".{name}.tmp"));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&staging).map_err(io)?;
                std::io::Write::write_all(&mut file, &key).map_err(io)?;
                file.sync_all().map_err(io)?;
                std::fs::rename(&staging, &path).map_err(io)?;
                Ok(key)
            }
            Err(err) => Err(io(err)),
        }
    }
}

/// Which end of a key range to read.
#[derive(Clone, Copy)]
enum Edge {
    First,
    Last,
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::Holder;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Thing {
        n: u32,
    }

    const THINGS: Table<Thing> = Table::new("things");
    const LOG: Table<String> = Table::new("log");

    #[test]
    fn a_transaction_commits_both_tables_or_neither() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &Holder::this_process("t")).expect("open");
        store
            .transact(&[THINGS.name, LOG.name], |tx| {
                tx.put(THINGS, "a", &Thing { n: 1 })?;
                tx.put(LOG, "1", &"made a".to_owned())?;
                Ok(())
            })
            .expect("commit");
        let refused = store.transact(&[THINGS.name, LOG.name], |tx| {
            tx.put(THINGS, "a", &Thing { n: 2 })?;
            tx.put(LOG, "2", &"changed a".to_owned())?;
            Err::<(), _>(berth_core::Error::invalid("n", "refused").into())
        });
        assert!(matches!(refused, Err(StoreError::Aborted(_))));
        assert_eq!(store.get(THINGS, "a").expect("get"), Some(Thing { n: 1 }));
        assert_eq!(store.scan(LOG, "").expect("scan").len(), 1);
    }

    #[test]
    fn an_undecodable_record_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &Holder::this_process("t")).expect("open");
        store
            .tree("things")
            .expect("tree")
            .insert("bad", b"not json".as_slice())
            .expect("raw write");
        let err = store.get(THINGS, "bad").expect_err("corrupt");
        assert!(
            err.to_string().contains("\"bad\"") && err.to_string().contains("things"),
            "{err}"
        );
    }

    #[test]
    fn secret_keys_are_made_once_and_kept_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &Holder::this_process("t")).expect("open");
        let first = store.secret_key("token").expect("key");
        assert_eq!(store.secret_key("token").expect("key"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys/token"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

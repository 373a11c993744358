//! Compaction: the store rewritten into fresh files, so that the space its
//! garbage takes goes back to the disk.
//!
//! sled's files are a log: every write appends, and space freed by later
//! writes and removals is reused by sled but seldom given back (it cuts its
//! file only where the end is free). Under an append-heavy log the files
//! grow many times larger than what they hold live. Copying every tree
//! into a new store and swapping directories gives the space back; it runs
//! when the store is opened, before anything else uses it.
//!
//! The swap is crash-safe: the copy is made in `store.compacting` and
//! marked complete only after it is flushed; `store` is then renamed to
//! `store.old`, the copy to `store`, and `store.old` removed. Opening
//! finishes or undoes whatever a crash interrupted.

use std::path::{Path, PathBuf};

use crate::StoreError;

/// When opening compacts the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compaction {
    /// When the files have grown to more than twice their size after the
    /// last compaction, and past 64 MiB.
    #[default]
    Auto,
    Always,
    Never,
}

const GROWTH: u64 = 2;
const MIN_SIZE: u64 = 64 << 20;
/// The size of the files right after the last compaction (or creation).
const SIZE_RECORD: &str = "store.compacted";
const COMPLETE: &str = "COMPLETE";

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join("store"),
        dir.join("store.compacting"),
        dir.join("store.old"),
    )
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Compact {
        path: path.to_owned(),
        source,
    }
}

/// Finishes or undoes a compaction a crash interrupted.
pub(crate) fn recover(dir: &Path) -> Result<(), StoreError> {
    let (store, copy, old) = paths(dir);
    let complete = copy.join(COMPLETE).exists();
    if !store.exists() && old.exists() {
        // Between the two renames: the copy is whole (it was marked before
        // the first rename), so it goes in.
        if complete {
            std::fs::rename(&copy, &store).map_err(io(&copy))?;
        } else {
            std::fs::rename(&old, &store).map_err(io(&old))?;
        }
    }
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if copy.exists() {
        std::fs::remove_dir_all(&copy).map_err(io(&copy))?;
    }
    Ok(())
}

/// The bytes the store's files take on disk.
pub(crate) fn size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => size(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

fn recorded_size(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(SIZE_RECORD))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn record_size(dir: &Path, bytes: u64) -> Result<(), StoreError> {
    let path = dir.join(SIZE_RECORD);
    std::fs::write(&path, format!("{bytes}\n")).map_err(io(&path))
}

/// Whether `policy` compacts the store in `dir` now.
pub(crate) fn due(dir: &Path, policy: Compaction) -> bool {
    let (store, _, _) = paths(dir);
    if !store.exists() {
        return false;
    }
    match policy {
        Compaction::Never => false,
        Compaction::Always => true,
        Compaction::Auto => {
            let now = size(&store);
            match recorded_size(dir) {
                Some(recorded) => now > MIN_SIZE && now > GROWTH * recorded,
                // A store from before compaction existed: its size now is
                // the mark. Its first start after the upgrade is not the
                // moment for a copy of unknown length (the pod's startup
                // probe is waiting).
                None => {
                    let _ = record_size(dir, now);
                    false
                }
            }
        }
    }
}

/// Copies every tree of the store in `dir` into a fresh one and swaps it in.
pub(crate) fn compact(dir: &Path, cache_bytes: u64) -> Result<Compacted, StoreError> {
    let (store, copy, old) = paths(dir);
    let bytes_before = size(&store);
    let open = |path: &Path| open_sled(path, cache_bytes);
    {
        let from = open(&store)?;
        let to = open(&copy)?;
        for name in from.tree_names() {
            let source = from.open_tree(&name)?;
            let target = to.open_tree(&name)?;
            let mut batch = sled::Batch::default();
            let mut pending = 0;
            for entry in source.iter() {
                let (key, value) = entry?;
                batch.insert(key, value);
                pending += 1;
                if pending == 4096 {
                    target.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
            }
            target.apply_batch(batch)?;
        }
        to.flush()?;
    }
    let marker = copy.join(COMPLETE);
    std::fs::write(&marker, b"").map_err(io(&marker))?;
    std::fs::rename(&store, &old).map_err(io(&store))?;
    std::fs::rename(&copy, &store).map_err(io(&copy))?;
    std::fs::remove_file(store.join(COMPLETE)).map_err(io(&store))?;
    std::fs::remove_dir_all(&old).map_err(io(&old))?;
    let bytes_after = size(&store);
    record_size(dir, bytes_after)?;
    Ok(Compacted {
        bytes_before,
        bytes_after,
    })
}

/// Opens sled's database at `path`. A database this process closed a
/// moment ago may still hold sled's file lock while sled's background
/// thread winds down (sled 0.34 releases it asynchronously); that lock is
/// waited for, briefly. Another process's hold is ruled out before this by
/// the directory's own lock ([`crate::lock`]).
pub(crate) fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    const ATTEMPTS: u32 = 50;
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled says so only in the message of an `Other` I/O error.
            Err(sled::Error::Io(e))
                if attempt < ATTEMPTS && e.to_string().contains("could not acquire lock") =>
            {
                std::thread::sleep(PAUSE);
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
}

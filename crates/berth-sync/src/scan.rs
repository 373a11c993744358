//! What a tree holds: a parallel walk that honours `.gitignore`,
//! `.berthignore` and the manifest's ignore patterns (the `ignore` crate,
//! with git's semantics), and an index of every path's size, modification
//! time, mode and BLAKE3 hash, so a rescan hashes only what changed.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::path::SyncPath;

/// The per-folder ignore file of Berth, beside `.gitignore`.
pub const IGNORE_FILE: &str = ".berthignore";

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Patterns in `.gitignore` syntax from the manifest (`node_modules/`,
    /// `*.log`).
    pub ignores: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    pub size: u64,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The permission bits (the executable bit travels).
    pub mode: u32,
    /// BLAKE3 of a file's content, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Where a symbolic link points, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Everything a scan found, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub entries: BTreeMap<SyncPath, Entry>,
    /// Files whose content was read and hashed by the scan that made this
    /// index (the rest were unchanged since the previous one).
    #[serde(skip)]
    pub hashed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the manifest's ignore pattern {pattern:?} is not valid: {error}")]
    BadPattern { pattern: String, error: String },
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: String },
    #[error("the sync index {path} is damaged ({error}); it is rebuilt by a full scan")]
    BadIndex { path: PathBuf, error: String },
}

pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

pub(crate) fn hash_file(path: &Path) -> Result<String, ScanError> {
    // Streamed: a large file is never held in memory.
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).map_err(|e| ScanError::Read {
        path: path.to_owned(),
        error: e.to_string(),
    })?;
    hasher.update_reader(file).map_err(|e| ScanError::Read {
        path: path.to_owned(),
        error: e.to_string(),
    })?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// What is at `full` now, and whether its content was read: a file whose
/// size, time and mode match `previous` keeps its hash unread. None when
/// nothing is there, or something that never syncs (sockets, pipes and
/// devices: reading a pipe would wait forever).
pub(crate) fn entry_at(
    full: &Path,
    previous: Option<&Entry>,
) -> Result<Option<(Entry, bool)>, ScanError> {
    let Some(mut item) = std::fs::symlink_metadata(full)
        .ok()
        .and_then(|meta| stat_entry(&meta))
    else {
        return Ok(None);
    };
    let mut read = false;
    match item.kind {
        Kind::File => {
            let unchanged = previous.filter(|old| same_stat(old, &item));
            item.hash = match unchanged {
                Some(old) => old.hash.clone(),
                None => {
                    read = true;
                    Some(hash_file(full)?)
                }
            };
        }
        Kind::Symlink => {
            item.target = std::fs::read_link(full)
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
        }
        Kind::Dir => {}
    }
    Ok(Some((item, read)))
}

/// What `meta` tells of a path without reading it: its kind, size (of a
/// file), modification time and mode; `None` for what sync does not keep
/// (sockets, pipes, devices).
pub(crate) fn stat_entry(meta: &std::fs::Metadata) -> Option<Entry> {
    let kind = if meta.file_type().is_symlink() {
        Kind::Symlink
    } else if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else {
        return None;
    };
    Some(Entry {
        kind,
        size: if kind == Kind::File { meta.len() } else { 0 },
        mtime_ns: mtime_ns(meta),
        mode: meta.permissions().mode() & 0o7777,
        hash: None,
        target: None,
    })
}

/// Whether two entries agree on all a look at the path tells (kind, size,
/// modification time, mode): then its content is taken as unchanged.
fn same_stat(a: &Entry, b: &Entry) -> bool {
    a.kind == b.kind && a.size == b.size && a.mtime_ns == b.mtime_ns && a.mode == b.mode
}

/// What never syncs, whatever the ignore files say: git's own folder,
/// Berth's state folder, files being written and conflict copies.
pub const ALWAYS_IGNORED: [&str; 4] = [".git/", ".berth/", "*.berth-tmp-*", "*.berth-conflict-*"];

/// Scans `root`. With `previous`, a file whose size, modification time and
/// mode are unchanged keeps its hash without being read.
pub fn scan(
    root: &Path,
    options: &ScanOptions,
    previous: Option<&Index>,
) -> Result<Index, ScanError> {
    let (entries, hashed) = walk(root, root, None, options, previous)?;
    Ok(Index { entries, hashed })
}

/// Walks `start` (under `root`) to `depth` levels, honouring the ignore
/// files of `start`'s parents too.
fn walk(
    root: &Path,
    start: &Path,
    depth: Option<usize>,
    options: &ScanOptions,
    previous: Option<&Index>,
) -> Result<(BTreeMap<SyncPath, Entry>, u64), ScanError> {
    let mut overrides = ignore::overrides::OverrideBuilder::new(root);
    for pattern in ALWAYS_IGNORED
        .iter()
        .map(|p| (*p).to_owned())
        .chain(options.ignores.iter().cloned())
    {
        overrides
            .add(&format!("!{pattern}"))
            .map_err(|e| ScanError::BadPattern {
                pattern: pattern.clone(),
                error: e.to_string(),
            })?;
    }
    let overrides = overrides.build().map_err(|e| ScanError::BadPattern {
        pattern: options.ignores.join(", "),
        error: e.to_string(),
    })?;
    let mut builder = ignore::WalkBuilder::new(start);
    builder
        .hidden(false)
        .git_ignore(true)
        .git_exclude(false)
        .git_global(false)
        .require_git(false)
        .parents(true)
        .max_depth(depth)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .overrides(overrides);
    let found = Mutex::new(BTreeMap::new());
    let failure = Mutex::new(None::<ScanError>);
    let hashed = AtomicU64::new(0);
    let visit = |result: Result<ignore::DirEntry, ignore::Error>| {
        let record = |error: ScanError| {
            let mut slot = failure.lock();
            slot.get_or_insert(error);
            ignore::WalkState::Quit
        };
        let entry = match result {
            Ok(entry) => entry,
            // A folder removed while it was being listed (a build cleaning
            // up, a peer's delete): gone, as the next look will say.
            Err(e)
                if e.io_error()
                    .is_some_and(|e| e.kind() == ErrorKind::NotFound) =>
            {
                return ignore::WalkState::Continue;
            }
            Err(e) => {
                return record(ScanError::Read {
                    path: root.to_owned(),
                    error: e.to_string(),
                });
            }
        };
        let full = entry.path();
        let Ok(relative) = full.strip_prefix(root) else {
            return ignore::WalkState::Continue;
        };
        if entry.depth() == 0 || relative.as_os_str().is_empty() {
            return ignore::WalkState::Continue;
        }
        let Ok(path) = SyncPath::from_relative(relative) else {
            return ignore::WalkState::Continue;
        };
        let old = previous.and_then(|p| p.entries.get(&path));
        let item = match entry_at(full, old) {
            Ok(Some((item, read))) => {
                if read {
                    hashed.fetch_add(1, Ordering::Relaxed);
                }
                item
            }
            // Gone between listing and reading (the next scan sees it), or
            // something that never syncs.
            Ok(None) => return ignore::WalkState::Continue,
            Err(e) => return record(e),
        };
        found.lock().insert(path, item);
        ignore::WalkState::Continue
    };
    if depth == Some(1) {
        // Listing one folder (the watcher's common case): no threads.
        for result in builder.build() {
            if matches!(visit(result), ignore::WalkState::Quit) {
                break;
            }
        }
    } else {
        builder.build_parallel().run(|| Box::new(&visit));
    }
    if let Some(error) = failure.into_inner() {
        return Err(error);
    }
    Ok((found.into_inner(), hashed.load(Ordering::Relaxed)))
}

/// A change to one path: its new entry, or none when it is gone.
pub type Change = (SyncPath, Option<Entry>);

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn is_under(path: &str, folder: &str) -> bool {
    folder.is_empty()
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Index {
    /// Brings the index up to date after the watcher saw `changed` (paths
    /// relative to `root`, or absolute under it) and returns what changed.
    /// Only the folders holding those paths are listed again, and only new
    /// folders are walked whole; an ignore file that changed makes its
    /// folder be walked again. A path that is on disk exactly as the index
    /// has it (a file the sync itself just put there, a temporary file
    /// already gone) costs one look and lists nothing.
    pub fn update(
        &mut self,
        root: &Path,
        options: &ScanOptions,
        changed: &[PathBuf],
    ) -> Result<Vec<Change>, ScanError> {
        let mut shallow = std::collections::BTreeSet::new();
        let mut deep = std::collections::BTreeSet::new();
        for path in changed.iter().filter(|p| !self.as_indexed(root, p)) {
            let relative = path.strip_prefix(root).unwrap_or(path);
            let Ok(path) = SyncPath::from_relative(relative) else {
                // The root itself: list it.
                shallow.insert(String::new());
                continue;
            };
            let name = path.as_str().rsplit('/').next().unwrap_or_default();
            if name == ".gitignore" || name == IGNORE_FILE {
                deep.insert(parent_of(path.as_str()).to_owned());
                continue;
            }
            // The nearest folder the index knows: a new folder chain below
            // it is found by listing it.
            let mut folder = parent_of(path.as_str());
            while !folder.is_empty() && !self.is_dir(folder) {
                folder = parent_of(folder);
            }
            shallow.insert(folder.to_owned());
        }
        let mut changes = Vec::new();
        for folder in &deep {
            changes.extend(self.refresh(root, options, folder, None)?);
        }
        for folder in shallow {
            if deep.iter().any(|d| is_under(&folder, d) || *d == folder) {
                continue;
            }
            let listed = self.refresh(root, options, &folder, Some(1))?;
            // New folders are walked whole.
            let new_folders: Vec<String> = listed
                .iter()
                .filter(|(p, e)| {
                    e.as_ref().is_some_and(|e| e.kind == Kind::Dir) && !p.as_str().is_empty()
                })
                .map(|(p, _)| p.as_str().to_owned())
                .collect();
            changes.extend(listed);
            for new in new_folders {
                changes.extend(self.refresh(root, options, &new, None)?);
            }
        }
        Ok(changes)
    }

    /// Takes `path` and everything under it out of the index; answers
    /// what was there, what was under it first.
    pub fn forget(&mut self, path: &SyncPath) -> Vec<SyncPath> {
        let mut gone: Vec<SyncPath> = self
            .entries
            .keys()
            .filter(|p| is_under(p.as_str(), path.as_str()))
            .cloned()
            .collect();
        gone.push(path.clone());
        gone.retain(|p| self.entries.remove(p).is_some());
        gone
    }

    fn is_dir(&self, folder: &str) -> bool {
        SyncPath::try_from(folder.to_owned())
            .ok()
            .and_then(|p| self.entries.get(&p))
            .is_some_and(|e| e.kind == Kind::Dir)
    }

    /// Whether `path` (relative to `root` or absolute under it) is on disk
    /// as the index has it: no file where the index has none, or a file or
    /// folder of the same size, modification time and mode. Links and
    /// ignore files are always looked at again.
    fn as_indexed(&self, root: &Path, path: &Path) -> bool {
        let relative = path.strip_prefix(root).unwrap_or(path);
        let Ok(sync_path) = SyncPath::from_relative(relative) else {
            return false;
        };
        let name = sync_path.as_str().rsplit('/').next().unwrap_or_default();
        if name == ".gitignore" || name == IGNORE_FILE {
            return false;
        }
        let indexed = self.entries.get(&sync_path);
        match (std::fs::symlink_metadata(root.join(relative)), indexed) {
            (Err(e), None) => e.kind() == ErrorKind::NotFound,
            (Ok(meta), Some(entry)) => stat_entry(&meta)
                .is_some_and(|now| now.kind != Kind::Symlink && same_stat(entry, &now)),
            _ => false,
        }
    }

    /// Walks `folder` to `depth` and replaces what the index held there.
    fn refresh(
        &mut self,
        root: &Path,
        options: &ScanOptions,
        folder: &str,
        depth: Option<usize>,
    ) -> Result<Vec<Change>, ScanError> {
        let start = if folder.is_empty() {
            root.to_path_buf()
        } else {
            root.join(folder)
        };
        let within = |p: &SyncPath| {
            is_under(p.as_str(), folder) && (depth.is_none() || parent_of(p.as_str()) == folder)
        };
        let (found, hashed) = if std::fs::symlink_metadata(&start).is_ok_and(|m| m.is_dir()) {
            walk(root, &start, depth, options, Some(self))?
        } else {
            (BTreeMap::new(), 0)
        };
        self.hashed += hashed;
        let mut changes = Vec::new();
        let gone: Vec<SyncPath> = self
            .entries
            .keys()
            .filter(|p| within(p) && !found.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            // A folder that went takes everything under it.
            changes.extend(self.forget(&path).into_iter().map(|p| (p, None)));
        }
        for (path, entry) in found {
            if self.entries.get(&path) != Some(&entry) {
                self.entries.insert(path.clone(), entry.clone());
                changes.push((path, Some(entry)));
            }
        }
        Ok(changes)
    }
}

impl Index {
    /// Writes the index atomically (a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), ScanError> {
        let fail = |e: std::io::Error| ScanError::Read {
            path: path.to_owned(),
            error: e.to_string(),
        };
        let json = serde_json::to_vec(self).map_err(|e| ScanError::Read {
            path: path.to_owned(),
            error: e.to_string(),
        })?;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, json).map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }

    /// Reads an index; none when there is no file yet.
    pub fn load(path: &Path) -> Result<Option<Index>, ScanError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| ScanError::BadIndex {
                        path: path.to_owned(),
                        error: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ScanError::Read {
                path: path.to_owned(),
                error: e.to_string(),
            }),
        }
    }
}

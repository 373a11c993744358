//! The receiving side of a transfer, the same on both ends: content lands
//! in a temporary file beside its target, its hash is checked, its mode
//! set, and only then is it renamed into place. A failure (a full disk, a
//! hash that does not match, a hostile path) removes the temporary file
//! and leaves the previous version untouched.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::path::SyncPath;
use crate::scan::{Entry, Kind};

/// Temporary files carry this in their name; scans never list them.
pub const TEMP_MARK: &str = ".berth-tmp-";

#[derive(Debug)]
struct Incoming {
    id: u64,
    path: SyncPath,
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    basis: Option<File>,
    entry: Entry,
    hasher: blake3::Hasher,
    written: u64,
    error: Option<String>,
    /// Written to another path than its own (a conflict's copy).
    elsewhere: bool,
}

/// Applies what a peer sends to a tree.
#[derive(Debug)]
pub struct Applier {
    root: PathBuf,
    incoming: Option<Incoming>,
}

fn describe(path: &SyncPath, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::StorageFull {
        format!("the disk is full writing {path}; nothing of it was kept")
    } else {
        format!("cannot write {path}: {e}")
    }
}

fn temp_beside(target: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}{TEMP_MARK}{}-{n}", std::process::id()))
}

/// Whether a link at `path` pointing to `target` resolves outside the root.
pub fn link_escapes(path: &SyncPath, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() {
        return true;
    }
    // Depth of the folder holding the link, then walk the target from it.
    let mut depth = path.as_str().split('/').count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

impl Applier {
    pub fn new(root: PathBuf) -> Applier {
        Applier {
            root,
            incoming: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `path` lives, with its parent folders made.
    fn prepare(&self, path: &SyncPath) -> Result<PathBuf, String> {
        let target = path.under(&self.root).map_err(|e| e.to_string())?;
        if let Some(parent) = target.parent() {
            // A file where a folder must be goes (the other side's tree wins
            // for this path).
            if std::fs::symlink_metadata(parent).is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(parent).map_err(|e| describe(path, &e))?;
            }
            std::fs::create_dir_all(parent).map_err(|e| describe(path, &e))?;
        }
        Ok(target)
    }

    /// A file's content begins; `save_as` writes it somewhere other than
    /// its own path (a conflict's copy).
    pub fn begin(&mut self, id: u64, path: SyncPath, entry: Entry, save_as: Option<SyncPath>) {
        self.abandon();
        let elsewhere = save_as.is_some();
        let destination = save_as.unwrap_or_else(|| path.clone());
        let mut incoming = Incoming {
            elsewhere,
            id,
            target: PathBuf::new(),
            temp: PathBuf::new(),
            file: None,
            basis: None,
            entry,
            hasher: blake3::Hasher::new(),
            written: 0,
            error: None,
            path,
        };
        match self.create_temp(&destination) {
            Ok((target, temp, file)) => {
                incoming.target = target;
                incoming.temp = temp;
                incoming.file = Some(file);
            }
            Err(e) => incoming.error = Some(e),
        }
        self.incoming = Some(incoming);
    }

    /// A temporary file beside where `path` lives, with its parent
    /// folders made when they are missing: the target, the temporary
    /// file's path, and the file. The common case (the folder is there)
    /// costs the path's check and one open.
    fn create_temp(&self, path: &SyncPath) -> Result<(PathBuf, PathBuf, File), String> {
        let target = path.under(&self.root).map_err(|e| e.to_string())?;
        let temp = temp_beside(&target);
        match File::create(&temp) {
            Ok(file) => return Ok((target, temp, file)),
            // A folder missing on the way, or a file where one must be.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(describe(path, &e)),
        }
        let target = self.prepare(path)?;
        let file = File::create(&temp).map_err(|e| describe(path, &e))?;
        Ok((target, temp, file))
    }

    fn write(incoming: &mut Incoming, bytes: &[u8]) {
        if incoming.error.is_some() {
            return;
        }
        incoming.written += bytes.len() as u64;
        if incoming.written > incoming.entry.size {
            incoming.error = Some(format!(
                "{} is longer than the {} bytes announced",
                incoming.path, incoming.entry.size
            ));
            return;
        }
        incoming.hasher.update(bytes);
        if let Some(file) = incoming.file.as_mut()
            && let Err(e) = file.write_all(bytes)
        {
            incoming.error = Some(describe(&incoming.path, &e));
        }
    }

    /// Bytes of the version being replaced.
    pub fn copy(&mut self, offset: u64, len: u64) {
        let Some(incoming) = self.incoming.as_mut() else {
            return;
        };
        if incoming.error.is_some() {
            return;
        }
        if incoming.basis.is_none() {
            // The version being replaced, opened at the first copy from it
            // (most transfers are of new files and never copy).
            incoming.basis = incoming
                .path
                .under(&self.root)
                .ok()
                .and_then(|p| File::open(p).ok());
        }
        let Some(mut basis) = incoming.basis.take() else {
            incoming.error = Some(format!(
                "the peer copies from a previous version of {} that is not here",
                incoming.path
            ));
            return;
        };
        let result = (|| -> std::io::Result<()> {
            basis.seek(SeekFrom::Start(offset))?;
            let mut left = len;
            let mut buffer = vec![0u8; 256 * 1024];
            while left > 0 {
                let want = left.min(buffer.len() as u64) as usize;
                let n = basis.read(&mut buffer[..want])?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the previous version is shorter than the peer thinks",
                    ));
                }
                Self::write(incoming, &buffer[..n]);
                if incoming.error.is_some() {
                    return Ok(());
                }
                left -= n as u64;
            }
            Ok(())
        })();
        incoming.basis = Some(basis);
        if let Err(e) = result
            && incoming.error.is_none()
        {
            incoming.error = Some(format!("cannot reuse {}: {e}", incoming.path));
        }
    }

    pub fn data(&mut self, bytes: &[u8]) {
        if let Some(incoming) = self.incoming.as_mut() {
            Self::write(incoming, bytes);
        }
    }

    /// The content is whole: check it and put it in place. Answers the
    /// entry the file has now, as a scan would find it, when it went to
    /// its own path: taken from the file before it was renamed into place,
    /// so a change someone makes after the rename still shows as one.
    pub fn end(&mut self, id: u64) -> (SyncPath, Result<Option<Entry>, String>) {
        let Some(mut incoming) = self.incoming.take().filter(|i| i.id == id) else {
            let path = SyncPath::try_from("unknown".to_owned()).expect("a valid path");
            return (path, Err(format!("transfer {id} ended without beginning")));
        };
        let result = (|| {
            if let Some(error) = incoming.error.take() {
                return Err(error);
            }
            if incoming.written != incoming.entry.size {
                return Err(format!(
                    "{} ended after {} of its {} bytes",
                    incoming.path, incoming.written, incoming.entry.size
                ));
            }
            let hash = incoming.hasher.finalize().to_hex().to_string();
            if incoming.entry.hash.as_deref() != Some(hash.as_str()) {
                return Err(format!(
                    "the content of {} does not match its hash; refused",
                    incoming.path
                ));
            }
            let file = incoming.file.take().ok_or("no temporary file")?;
            file.set_permissions(std::fs::Permissions::from_mode(incoming.entry.mode & 0o777))
                .map_err(|e| describe(&incoming.path, &e))?;
            let placed = (!incoming.elsewhere)
                .then(|| file.metadata().ok())
                .flatten()
                .and_then(|meta| crate::scan::stat_entry(&meta))
                .map(|entry| Entry {
                    hash: Some(hash),
                    ..entry
                });
            // No fsync: the other side holds the content, and a resync
            // repairs a file a crash cut short; ten thousand fsyncs would
            // make the first sync ten times slower.
            drop(file);
            replace(&incoming.temp, &incoming.target).map_err(|e| describe(&incoming.path, &e))?;
            Ok(placed)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&incoming.temp);
        }
        (incoming.path, result)
    }

    /// Drops a transfer that will not end (the stream closed).
    pub fn abandon(&mut self) {
        if let Some(incoming) = self.incoming.take() {
            let _ = std::fs::remove_file(&incoming.temp);
        }
    }

    /// Copies content this side already has at `from` to `path`.
    pub fn clone_from(
        &mut self,
        path: &SyncPath,
        entry: &Entry,
        from: &SyncPath,
    ) -> Result<(), String> {
        let source = from.under(&self.root).map_err(|e| e.to_string())?;
        let mut reader = File::open(&source).map_err(|e| format!("cannot read {from}: {e}"))?;
        let (target, temp, mut file) = self.create_temp(path)?;
        let result = (|| {
            let mut hasher = blake3::Hasher::new();
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let n = reader
                    .read(&mut buffer)
                    .map_err(|e| format!("cannot read {from}: {e}"))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                file.write_all(&buffer[..n])
                    .map_err(|e| describe(path, &e))?;
            }
            if entry.hash.as_deref() != Some(hasher.finalize().to_hex().as_str()) {
                return Err(format!("{from} changed; it is no longer a copy of {path}"));
            }
            file.set_permissions(std::fs::Permissions::from_mode(entry.mode & 0o777))
                .map_err(|e| describe(path, &e))?;
            replace(&temp, &target).map_err(|e| describe(path, &e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// A folder, a symbolic link, or a file's new mode.
    pub fn make(&mut self, path: &SyncPath, entry: &Entry) -> Result<(), String> {
        let target = self.prepare(path)?;
        let existing = std::fs::symlink_metadata(&target).ok();
        match entry.kind {
            Kind::Dir => {
                if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                    std::fs::remove_file(&target).map_err(|e| describe(path, &e))?;
                }
                std::fs::create_dir_all(&target).map_err(|e| describe(path, &e))
            }
            Kind::Symlink => {
                let link = entry
                    .target
                    .as_deref()
                    .ok_or_else(|| format!("the link {path} has no target"))?;
                if link_escapes(path, link) {
                    return Err(format!(
                        "the link {path} points to {link:?}, outside the sync root; refused"
                    ));
                }
                let temp = temp_beside(&target);
                std::os::unix::fs::symlink(link, &temp).map_err(|e| describe(path, &e))?;
                replace(&temp, &target).map_err(|e| {
                    let _ = std::fs::remove_file(&temp);
                    describe(path, &e)
                })
            }
            Kind::File => {
                // Only the mode changed: the content must already match.
                let hash = crate::scan::hash_file(&target).map_err(|e| e.to_string())?;
                if entry.hash.as_deref() != Some(hash.as_str()) {
                    return Err(format!("{path} changed here; its mode is not applied"));
                }
                std::fs::set_permissions(
                    &target,
                    std::fs::Permissions::from_mode(entry.mode & 0o777),
                )
                .map_err(|e| describe(path, &e))
            }
        }
    }

    /// Removes a file or link, or a folder whose synced contents are gone
    /// already (removals come deepest first). A folder that still holds
    /// something stays: what is left is ignored here (build output, a
    /// local `.env`), and sync never deletes what it does not sync.
    pub fn remove(&mut self, path: &SyncPath) -> Result<(), String> {
        let target = path.under(&self.root).map_err(|e| e.to_string())?;
        let result = match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => match std::fs::remove_dir(&target) {
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(()),
                other => other,
            },
            Ok(_) => std::fs::remove_file(&target),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {path}: {e}"))
            }
            _ => Ok(()),
        }
    }
}

/// Renames `temp` over `target`; a folder in the way is removed first.
fn replace(temp: &Path, target: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(target)?;
    }
    std::fs::rename(temp, target)
}

impl Drop for Applier {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> SyncPath {
        SyncPath::try_from(p.to_owned()).expect("path")
    }

    #[test]
    fn links_that_leave_the_root_are_recognised() {
        assert!(!link_escapes(&path("a/link"), "../b"));
        assert!(!link_escapes(&path("link"), "a/b"));
        assert!(link_escapes(&path("link"), "../outside"));
        assert!(link_escapes(&path("a/link"), "../../outside"));
        assert!(link_escapes(&path("a/link"), "/etc/passwd"));
        assert!(link_escapes(&path("a/link"), "b/../../../x"));
    }

    #[test]
    fn a_file_whose_content_does_not_match_its_hash_leaves_nothing() {
        let root = tempfile::tempdir().expect("root");
        std::fs::write(root.path().join("a.txt"), b"before").expect("write");
        let mut applier = Applier::new(root.path().to_owned());
        let entry = Entry {
            kind: Kind::File,
            size: 5,
            mtime_ns: 0,
            mode: 0o644,
            hash: Some(blake3::hash(b"other").to_hex().to_string()),
            target: None,
        };
        applier.begin(1, path("a.txt"), entry, None);
        applier.data(b"after");
        let (_, result) = applier.end(1);
        assert!(
            result
                .expect_err("mismatch")
                .contains("does not match its hash")
        );
        assert_eq!(
            std::fs::read(root.path().join("a.txt")).expect("read"),
            b"before"
        );
        let names: Vec<_> = std::fs::read_dir(root.path()).expect("list").collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    /// What a transfer reports as placed is what a scan finds, so the
    /// index takes it without reading the file; a change made after it
    /// landed still differs from it.
    #[test]
    fn a_placed_file_is_what_a_scan_finds() {
        let root = tempfile::tempdir().expect("root");
        let mut applier = Applier::new(root.path().to_owned());
        let content = b"fn main() {}\n";
        let entry = Entry {
            kind: Kind::File,
            size: content.len() as u64,
            mtime_ns: 1,
            mode: 0o755,
            hash: Some(blake3::hash(content).to_hex().to_string()),
            target: None,
        };
        applier.begin(1, path("src/main.rs"), entry.clone(), None);
        applier.data(content);
        let (_, placed) = applier.end(1);
        let placed = placed.expect("applied").expect("an entry");
        let full = root.path().join("src/main.rs");
        let (scanned, _) = crate::scan::entry_at(&full, None)
            .expect("scan")
            .expect("a file");
        assert_eq!(placed, scanned);
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(&full, b"changed").expect("edit");
        let (edited, _) = crate::scan::entry_at(&full, Some(&placed))
            .expect("scan")
            .expect("a file");
        assert_ne!(edited.hash, placed.hash, "the edit is read, not assumed");

        // A conflict's copy lands elsewhere: nothing is said of its path.
        applier.begin(2, path("src/main.rs"), entry, Some(path("copy.rs")));
        applier.data(content);
        let (_, placed) = applier.end(2);
        assert_eq!(placed.expect("applied"), None);
    }
}

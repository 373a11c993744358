//! The data directory's ownership: what to do when berthd may not write it,
//! and `berthd chown-data-dir`, which makes it berthd's.
//!
//! In Kubernetes the pod's `fsGroup` makes a volume writable to berthd's
//! user (65532). Some storage ignores fsGroup (some NFS and hostPath
//! provisioners) and hands over a directory owned by root. The chart's
//! opt-in init container runs `berthd chown-data-dir` as root with only
//! CAP_CHOWN and CAP_FOWNER, from berthd's own image (which has no shell to
//! run `chown` with).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use berth_store::StoreError;

/// What to do, added to the store's error when the data directory is not
/// berthd's to write.
pub fn explain_open_error(dir: &Path, err: StoreError) -> anyhow::Error {
    let denied = match &err {
        StoreError::CreateDir { source, .. } | StoreError::LockFile { source, .. } => {
            source.kind() == std::io::ErrorKind::PermissionDenied
        }
        _ => false,
    };
    if !denied {
        return anyhow::Error::new(err);
    }
    let (uid, gid) = ids().unwrap_or((65532, 65532));
    anyhow::anyhow!(
        "{}. The data directory {dir} must be writable by berthd's user (uid {uid}, gid {gid}): \
         in Kubernetes set the pod's securityContext.fsGroup to {gid} (the Helm chart does), and \
         where the storage ignores fsGroup (some NFS and hostPath provisioners) set \
         persistence.chownInitContainer.enabled=true in the chart; elsewhere run \
         `berthd chown-data-dir --data-dir {dir} --owner {uid}:{gid}` as root",
        berth_core::error::chain(&err),
        dir = dir.display(),
    )
}

/// This process's effective user and group, from `/proc/self/status`.
fn ids() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let effective = |key: &str| -> Option<u32> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        // Real, effective, saved, filesystem.
        line.split_whitespace().nth(2)?.parse().ok()
    };
    Some((effective("Uid:")?, effective("Gid:")?))
}

/// What [`chown`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chowned {
    /// Entries whose owner or mode changed.
    pub changed: u64,
    /// Directories already berthd's, left as they are with what they hold.
    pub kept: u64,
}

/// Makes `dir` and everything in it owned by `uid`:`gid`, the owner allowed
/// to read and write (and enter directories). Symbolic links are changed
/// themselves, never followed. A directory already owned by `uid`:`gid`
/// (below `dir`) is left alone with its contents: berthd made it, and made
/// everything in it.
///
/// Run as root with CAP_CHOWN and CAP_FOWNER only, this reads a directory
/// as its owner: one that belongs to another user and hides its entries
/// from others is made root's first (CAP_CHOWN), then read, then given to
/// `uid`. Directories are done after what they hold, so a run stopped
/// halfway leaves nothing that looks done and is not.
pub fn chown(dir: &Path, uid: u32, gid: u32) -> anyhow::Result<Chowned> {
    let me = ids().map(|(uid, _)| uid);
    let mut done = Chowned::default();
    let meta = std::fs::symlink_metadata(dir)
        .with_context(|| format!("cannot read the data directory {}", dir.display()))?;
    anyhow::ensure!(
        meta.is_dir(),
        "the data directory {} is not a directory",
        dir.display()
    );
    walk(dir, &meta, uid, gid, me, true, &mut done)?;
    Ok(done)
}

fn walk(
    path: &Path,
    meta: &std::fs::Metadata,
    uid: u32,
    gid: u32,
    me: Option<u32>,
    top: bool,
    done: &mut Chowned,
) -> anyhow::Result<()> {
    let kind = meta.file_type();
    if kind.is_dir() {
        if !top && meta.uid() == uid && meta.gid() == gid && meta.mode() & 0o700 == 0o700 {
            done.kept += 1;
            return Ok(());
        }
        for entry in read_dir(path, meta, me)? {
            let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
            let child = entry.path();
            let child_meta = std::fs::symlink_metadata(&child)
                .with_context(|| format!("cannot read {}", child.display()))?;
            walk(&child, &child_meta, uid, gid, me, false, done)?;
        }
        // Read again: reading it may have made it this process's.
        let now = std::fs::symlink_metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        own(path, &now, uid, gid, Some(0o700), done)
    } else if kind.is_file() {
        own(path, meta, uid, gid, Some(0o600), done)
    } else {
        // Symbolic links (changed themselves, not their targets), sockets,
        // pipes: ownership only.
        own(path, meta, uid, gid, None, done)
    }
}

/// The entries of a directory; one this process may not list is made its
/// own first, as owner bits allow what "others" bits may not.
fn read_dir(
    path: &Path,
    meta: &std::fs::Metadata,
    me: Option<u32>,
) -> anyhow::Result<std::fs::ReadDir> {
    match std::fs::read_dir(path) {
        Ok(entries) => Ok(entries),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && me.is_some() => {
            let me = me.unwrap_or_default();
            std::os::unix::fs::lchown(path, Some(me), None).with_context(|| {
                format!(
                    "cannot read {} and cannot take it over to read it (this needs CAP_CHOWN)",
                    path.display()
                )
            })?;
            let mode = meta.mode() & 0o7777;
            if mode & 0o500 != 0o500 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o700))
                    .with_context(|| format!("cannot change the mode of {}", path.display()))?;
            }
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Gives `path` to `uid`:`gid` and adds `owner_bits` to its mode.
fn own(
    path: &Path,
    meta: &std::fs::Metadata,
    uid: u32,
    gid: u32,
    owner_bits: Option<u32>,
    done: &mut Chowned,
) -> anyhow::Result<()> {
    let mut changed = false;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).with_context(|| {
            format!(
                "cannot make {} owned by {uid}:{gid} (this needs CAP_CHOWN)",
                path.display()
            )
        })?;
        changed = true;
    }
    if let Some(bits) = owner_bits {
        // chown clears set-user-ID and set-group-ID bits; what is left of
        // the mode is kept, with the owner's bits added.
        let mode = std::fs::symlink_metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .mode()
            & 0o7777;
        if mode & bits != bits {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | bits))
                .with_context(|| {
                    format!(
                        "cannot change the mode of {} (this needs CAP_FOWNER)",
                        path.display()
                    )
                })?;
            changed = true;
        }
    }
    if changed {
        done.changed += 1;
    }
    Ok(())
}

/// `UID:GID`, as `--owner` takes it.
pub fn parse_owner(text: &str) -> Result<(u32, u32), String> {
    let (uid, gid) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not UID:GID (for example 65532:65532)"))?;
    let number = |n: &str| {
        n.parse::<u32>()
            .map_err(|_| format!("{n:?} in {text:?} is not a numeric id"))
    };
    Ok((number(uid)?, number(gid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_two_numbers() {
        assert_eq!(parse_owner("65532:65532"), Ok((65532, 65532)));
        assert!(parse_owner("65532").is_err());
        assert!(parse_owner("berth:berth").is_err());
    }

    #[test]
    fn what_berthd_cannot_open_is_told_with_what_to_do() {
        let dir = Path::new("/var/lib/berth");
        let err = StoreError::LockFile {
            path: dir.join("berthd.lock"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let text = format!("{:#}", explain_open_error(dir, err));
        assert!(
            text.starts_with("cannot open lock file /var/lib/berth/berthd.lock: permission denied"),
            "{text}"
        );
        assert!(text.contains("securityContext.fsGroup"), "{text}");
        assert!(
            text.contains("persistence.chownInitContainer.enabled=true"),
            "{text}"
        );
    }

    #[test]
    fn every_entry_ends_up_the_owners_to_read_and_write() {
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join("data");
        std::fs::create_dir_all(dir.join("store/blobs")).expect("dirs");
        std::fs::write(dir.join("store/db"), "x").expect("file");
        std::fs::set_permissions(dir.join("store/db"), std::fs::Permissions::from_mode(0o400))
            .expect("mode");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).expect("link");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).expect("mode");
        // As root, the image's user; otherwise this user (only the modes
        // change then).
        let (uid, gid) = match ids().expect("ids") {
            (0, _) => (65532, 65532),
            mine => mine,
        };
        let done = chown(&dir, uid, gid).expect("chown");
        assert!(done.changed >= 2, "{done:?}");
        let meta = |p: &Path| std::fs::symlink_metadata(p).expect("meta");
        for path in [
            &dir,
            &dir.join("store/blobs"),
            &dir.join("store/db"),
            &dir.join("link"),
        ] {
            assert_eq!(
                (meta(path).uid(), meta(path).gid()),
                (uid, gid),
                "{}",
                path.display()
            );
        }
        assert_eq!(meta(&dir).mode() & 0o777, 0o700);
        assert_eq!(meta(&dir.join("store/db")).mode() & 0o777, 0o600);
        assert!(meta(&dir.join("link")).file_type().is_symlink());
        // A second run finds the store directory done and leaves it.
        assert_eq!(
            chown(&dir, uid, gid).expect("again"),
            Chowned {
                changed: 0,
                kept: 1
            }
        );
    }
}

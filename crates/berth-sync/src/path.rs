//! Paths as they travel: relative, `/`-separated, never leaving the root.

use std::path::{Component, Path, PathBuf};

/// A path relative to the sync root, checked.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SyncPath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0:?} is empty")]
    Empty(String),
    #[error("{0:?} is absolute; sync paths are relative to the root")]
    Absolute(String),
    #[error("{0:?} leaves the sync root through `..`")]
    Escapes(String),
    #[error("{0:?} has an empty, `.` or NUL component")]
    Malformed(String),
    #[error("{path:?} goes through {link:?}, a symbolic link; sync never writes through one")]
    ThroughSymlink { path: String, link: String },
}

impl TryFrom<String> for SyncPath {
    type Error = PathError;

    fn try_from(value: String) -> Result<Self, PathError> {
        if value.is_empty() {
            return Err(PathError::Empty(value));
        }
        if value.starts_with('/') || value.starts_with('\\') || value.contains(':') && cfg!(windows)
        {
            return Err(PathError::Absolute(value));
        }
        for part in value.split('/') {
            match part {
                ".." => return Err(PathError::Escapes(value)),
                "" | "." => return Err(PathError::Malformed(value)),
                p if p.contains('\0') || p.contains('\\') => {
                    return Err(PathError::Malformed(value));
                }
                _ => {}
            }
        }
        Ok(SyncPath(value))
    }
}

impl From<SyncPath> for String {
    fn from(p: SyncPath) -> String {
        p.0
    }
}

impl std::fmt::Display for SyncPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SyncPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of a file under `root`, from a path relative to it.
    pub fn from_relative(relative: &Path) -> Result<SyncPath, PathError> {
        let mut parts = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(PathError::Escapes(relative.display().to_string()));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(PathError::Absolute(relative.display().to_string()));
                }
            }
        }
        SyncPath::try_from(parts.join("/"))
    }

    /// Where this path lives under `root`, refusing a path whose parent
    /// directories include a symbolic link (which could point anywhere).
    /// The last component may itself be a link: sync keeps links as links.
    pub fn under(&self, root: &Path) -> Result<PathBuf, PathError> {
        let mut at = root.to_path_buf();
        let parts: Vec<&str> = self.0.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let last = i + 1 == parts.len();
            if !last && std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(PathError::ThroughSymlink {
                    path: self.0.clone(),
                    link: parts[..=i].join("/"),
                });
            }
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_the_wire_stay_under_the_root() {
        for good in ["a", "src/main.rs", "deep/er/file.txt", ".env", "..hidden"] {
            assert!(SyncPath::try_from(good.to_owned()).is_ok(), "{good}");
        }
        let bad = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../up", "`..`"),
            ("a/../../b", "`..`"),
            ("a//b", "empty"),
            ("./a", "`.`"),
            ("a/\0", "NUL"),
        ];
        for (path, why) in bad {
            let err = SyncPath::try_from(path.to_owned())
                .expect_err(path)
                .to_string();
            assert!(err.contains(why), "{path}: {err}");
        }
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let root = tempfile::tempdir().expect("root");
        let outside = tempfile::tempdir().expect("outside");
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).expect("symlink");
        let through = SyncPath::try_from("link/secret".to_owned()).expect("valid");
        let err = through.under(root.path()).expect_err("through a link");
        assert!(err.to_string().contains("\"link\""), "{err}");
        // The link itself may be synced, as a link.
        let itself = SyncPath::try_from("link".to_owned()).expect("valid");
        assert_eq!(itself.under(root.path()), Ok(root.path().join("link")));
    }
}

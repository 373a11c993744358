//! How much memory the store's cache may take: configured, or a share of
//! the container's memory limit.
//!
//! sled's own default is 1 GiB, and when that exceeds a cgroup v1 limit
//! sled cuts it to the whole limit and logs an ERROR at every start. Sizing
//! the cache here, below the limit, leaves room for the rest of the daemon
//! and keeps a normal start free of errors.

use std::path::Path;

/// The cache when no memory limit applies.
const UNLIMITED_CACHE: u64 = 256 << 20;
/// The share of a memory limit the cache gets: a quarter, as sled's cache
/// is a target, not a bound, and the daemon needs the rest.
const LIMIT_SHARE: u64 = 4;
/// The smallest cache worth having.
const MIN_CACHE: u64 = 16 << 20;

/// Options for [`crate::Store::open_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// The cache's size in bytes; `None` sizes it from the memory limit.
    pub cache_bytes: Option<u64>,
    /// Free space kept on the data directory's disk ([`crate::Store::check_space`]);
    /// `None`: a twentieth of the disk, between 4 and 256 MiB.
    pub reserve_bytes: Option<u64>,
    /// Whether opening rewrites the store to give its garbage back to the
    /// disk ([`crate::Compaction`]).
    pub compaction: crate::Compaction,
}

impl StoreOptions {
    /// The cache size these options give on this machine.
    pub fn cache_bytes(&self) -> u64 {
        self.cache_bytes
            .unwrap_or_else(|| default_cache(cgroup_memory_limit()))
    }
}

fn default_cache(limit: Option<u64>) -> u64 {
    match limit {
        Some(limit) => (limit / LIMIT_SHARE).clamp(MIN_CACHE.min(limit / 2), UNLIMITED_CACHE),
        None => UNLIMITED_CACHE,
    }
}

/// The memory limit of this process's cgroup (v2 `memory.max`, or v1
/// `memory.limit_in_bytes`), when there is one.
pub fn cgroup_memory_limit() -> Option<u64> {
    let root = Path::new("/sys/fs/cgroup");
    // The process's own cgroup, as /proc/self/cgroup names it: `0::<path>`
    // (v2) or `<n>:memory:<path>` (v1). In a container's cgroup namespace
    // the path is `/` and the files at the root are the container's.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut candidates = Vec::new();
    for line in own.lines() {
        if let Some(path) = line.strip_prefix("0::") {
            candidates.push(root.join(path.trim_start_matches('/')).join("memory.max"));
        } else if let Some((_, path)) = line.split_once(":memory:") {
            candidates.push(
                root.join("memory")
                    .join(path.trim_start_matches('/'))
                    .join("memory.limit_in_bytes"),
            );
        }
    }
    candidates.push(root.join("memory.max"));
    candidates.push(root.join("memory/memory.limit_in_bytes"));
    candidates
        .iter()
        .find_map(|path| parse_limit(&std::fs::read_to_string(path).ok()?))
}

/// A limit file's value; `max` (v2) or a huge number (v1's "no limit",
/// 2^63 rounded down to a page) is no limit.
fn parse_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    (value < 1 << 62).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_as_the_kernel_writes_them() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("536870912\n"), Some(512 << 20));
    }

    #[test]
    fn the_cache_is_a_share_of_the_limit() {
        assert_eq!(default_cache(Some(512 << 20)), 128 << 20);
        assert_eq!(default_cache(Some(8 << 30)), UNLIMITED_CACHE);
        assert_eq!(default_cache(Some(32 << 20)), 16 << 20);
        assert_eq!(default_cache(None), UNLIMITED_CACHE);
        assert_eq!(
            StoreOptions {
                cache_bytes: Some(1 << 20),
                ..StoreOptions::default()
            }
            .cache_bytes(),
            1 << 20
        );
    }
}

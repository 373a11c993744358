//! The free space the store keeps on its disk.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::StoreError;

/// How long a measurement of free space is trusted. Writes made in this
/// time must fit in the reserve: at 20,000 events/s of about a kilobyte
/// each, a few hundred kilobytes.
const RECHECK: Duration = Duration::from_millis(20);
const MIN_RESERVE: u64 = 4 << 20;
const MAX_RESERVE: u64 = 256 << 20;

pub(crate) struct DiskGuard {
    /// Configured, or `None` for a share of the disk's size.
    reserve: Option<u64>,
    last: Mutex<Option<Instant>>,
    free: AtomicU64,
    size: AtomicU64,
}

impl DiskGuard {
    pub fn new(reserve: Option<u64>) -> DiskGuard {
        DiskGuard {
            reserve,
            last: Mutex::new(None),
            free: AtomicU64::new(u64::MAX),
            size: AtomicU64::new(u64::MAX),
        }
    }

    fn reserve(&self) -> u64 {
        self.reserve.unwrap_or_else(|| {
            (self.size.load(Ordering::Relaxed) / 20).clamp(MIN_RESERVE, MAX_RESERVE)
        })
    }

    pub fn check(&self, dir: &Path) -> Result<(), StoreError> {
        {
            let mut last = self.last.lock();
            if last.is_none_or(|at| at.elapsed() >= RECHECK) {
                *last = Some(Instant::now());
                // A disk that cannot be measured is not refused: the flush
                // that follows reports what is wrong with it.
                if let Ok(stat) = nix::sys::statvfs::statvfs(dir) {
                    let unit = stat.fragment_size();
                    self.free
                        .store(stat.blocks_available() * unit, Ordering::Relaxed);
                    self.size.store(stat.blocks() * unit, Ordering::Relaxed);
                }
            }
        }
        let (free, reserve) = (self.free.load(Ordering::Relaxed), self.reserve());
        if free < reserve {
            return Err(StoreError::DiskFull {
                dir: dir.to_owned(),
                free,
                reserve,
            });
        }
        Ok(())
    }
}

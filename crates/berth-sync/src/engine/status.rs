//! What a sync is doing, as the engine publishes it: its [`Phase`] and the
//! counters, conflicts, errors and save latencies in [`Status`], shared
//! with whoever shows them (progress lines, `berth sync status`, the
//! daemon's metrics).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use serde::{Deserialize, Serialize};

/// Where the engine is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Scanning,
    /// The first exchange: both trees are being made the same.
    Initial,
    /// In sync; changes go over as they happen.
    Watching,
    Stopped,
    Failed,
}

/// What a sync is doing, for progress lines, `berth sync status` and the
/// daemon's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub phase: Phase,
    /// Entries in the local tree (files, folders and links).
    pub local_entries: usize,
    /// Operations waiting for the peer.
    pub pending: usize,
    pub files_sent: u64,
    pub files_received: u64,
    /// File content sent or received, before compression.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// What went on the wire (compressed, with framing).
    pub wire_bytes_sent: u64,
    /// Conflict copies made, as local paths.
    pub conflicts: Vec<String>,
    /// Paths that failed to sync, with why (cleared when they succeed).
    pub errors: BTreeMap<String, String>,
    pub last_error: Option<String>,
    /// Milliseconds from a local save to the peer having it, most recent
    /// last (at most [`LATENCY_SAMPLES`]).
    pub latencies_ms: Vec<f64>,
    /// Saves timed so far (the latencies above are the last of them).
    pub saves: u64,
    /// Files (and their content) that operations the peer has finished
    /// moved, both ways: what a progress bar shows as done.
    #[serde(default)]
    pub files_done: u64,
    #[serde(default)]
    pub bytes_done: u64,
    /// Files (and their content) in operations still waiting for the peer:
    /// with the done counters, the whole of what a first sync moves.
    #[serde(default)]
    pub files_pending: u64,
    #[serde(default)]
    pub bytes_pending: u64,
}

pub const LATENCY_SAMPLES: usize = 1000;

pub type SharedStatus = Arc<Mutex<Status>>;

/// A copy of a sync's status as it is now.
pub fn snapshot(status: &SharedStatus) -> Status {
    status.lock().clone()
}

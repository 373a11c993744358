//! File sync, shared by the CLI and the agent: what a tree holds (a scan
//! honouring ignore files, with an index so a rescan hashes only what
//! changed), content-defined chunks, the wire messages, the receiving side
//! that applies content atomically, the watcher, and the engine that makes
//! two trees the same and keeps them so.
//!
//! Invariant: a path that would leave the sync root (`..`, an absolute
//! path, a symlinked parent, a link pointing out) is refused before
//! anything touches the disk, and a file is only ever replaced whole, by a
//! rename, after its content matched its hash.

pub mod apply;
pub mod chunk;
pub mod engine;
pub mod link;
pub mod path;
pub mod scan;
pub mod stages;
pub mod watch;
pub mod wire;

pub use engine::{Phase, Settings, SharedStatus, Status, SyncError, coordinate, serve};
pub use link::{Input, Outbox, WireCounter};
pub use path::{PathError, SyncPath};
pub use scan::{Entry, Index, Kind, ScanError, ScanOptions, scan};
pub use stages::{Stage, StageClock, StageTimes};

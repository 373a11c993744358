//! File sync's building blocks, shared by the CLI and the agent: what a
//! tree holds (a scan honouring ignore files, with an index so a rescan
//! hashes only what changed) and which paths from the wire may be written.
//!
//! Invariant: a path that would leave the sync root (`..`, an absolute
//! path, a symlinked parent) is refused before anything touches the disk.

pub mod path;
pub mod scan;

pub use path::{PathError, SyncPath};
pub use scan::{Entry, Index, Kind, ScanError, ScanOptions, scan};

//! Berth's shared vocabulary: the public error type, build information and the
//! readiness report that the daemon, the CLI and the console all speak.
//!
//! Invariant: this crate performs no IO and depends on no runtime, store or
//! network library. Every other Berth crate may depend on it; it depends on none.

pub mod app;
pub mod audit;
pub mod catalog;
pub mod dev;
pub mod endpoint;
pub mod error;
pub mod health;
pub mod identity;
pub mod name;
pub mod session;
pub mod space;
pub mod time;
pub mod version;

pub use error::{Error, ErrorCode};
pub use health::{ComponentStatus, ReadinessReport};
pub use name::DnsLabel;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use version::BuildInfo;

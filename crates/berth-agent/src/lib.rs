//! The agent: the dev container's side of a dev session (or, in the
//! embedded mode, run inside `berthd` on a folder). It connects to the
//! relay with `berth-dial` and serves exec, port-forward and sync streams.
//!
//! Invariant: the agent touches nothing outside its root; every path a
//! sync stream names is checked against it before use.

pub mod serve;

pub use serve::{AgentConfig, AgentError, pump, run};

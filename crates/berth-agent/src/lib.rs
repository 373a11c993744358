//! The agent: the dev container's side of a dev session (or, in the
//! embedded mode, run inside `berthd` on a folder). It connects to the
//! relay with `berth-dial` and serves exec, port-forward, reverse-forward,
//! SSH (`ssh`, with SFTP: `sftp`) and sync streams.
//! In a dev container it is the entry point, PID 1: `init` makes it one
//! that passes signals on and reaps orphans, and a stop signal stops the
//! dev command's whole process group (`dev`) before the agent exits.
//!
//! Invariant: the agent touches nothing outside its root; every path a
//! sync stream names is checked against it before use.

pub mod dev;
pub mod init;
mod process;
pub mod serve;
mod sftp;
mod ssh;

pub use dev::{DevStopped, STOP_GRACE};
pub use serve::{AgentConfig, AgentError, Stopped, pump, pump_tcp, run, run_until_stopped};

//! Both ends of a dev session's connection to the relay, outside the
//! daemon: [`dial`] connects to `berthd` (WebSocket, TLS, proxies) and
//! keeps an attachment resumed; [`serve`] is the agent that runs in the
//! dev container (or, in the embedded mode, inside `berthd` on a folder)
//! and serves exec, port-forward and sync streams.
//!
//! Invariant: the agent touches nothing outside its root; every path a
//! sync stream names is checked against it before use.

pub mod dial;
pub mod serve;

pub use serve::{AgentConfig, AgentError, pump, run};

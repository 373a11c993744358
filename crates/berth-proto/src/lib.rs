//! Berth's wire protocol between the `berth` CLI, the relay in `berthd` and
//! `berth agent`: binary WebSocket messages, one frame each, carrying
//! multiplexed logical streams with per-stream credit-based flow control,
//! and sequence numbers with acknowledgements so a session survives a
//! dropped connection with no byte lost or duplicated. `docs/protocol.md`
//! is the specification; this crate is its one implementation.
//!
//! Invariant: pure protocol, no sockets: [`frame`] encodes and decodes,
//! [`mux`] runs streams over any [`mux::Link`]. Every malformed input is an
//! error that names what is wrong, never a panic, and no side buffers more
//! than the credit it granted plus its bounded replay buffer.

pub mod exec;
pub mod frame;
pub mod messages;
pub mod mux;
pub(crate) mod pace;

pub use frame::{Frame, FrameError, Header, StreamKind};
pub use messages::{
    CloseReason, ControlOpen, ExecOpen, Handshake, Hello, ListenOpen, Listening, MessageError,
    MetaError, OpenMeta, PortForwardOpen, ResetCode, Resume, ReverseOpen, SshOpen, SyncOpen,
    Welcome,
};

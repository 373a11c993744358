//! A session's live state in memory: the connections waiting for their
//! other side, the attachments (one CLI connection paired with one agent
//! connection each), resume tokens, open streams and traffic counters.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::records::SessionRecord;
use crate::socket::{SocketRx, SocketTx};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Client = 0,
    Agent = 1,
}

impl Role {
    pub(crate) fn other(self) -> Role {
        match self {
            Role::Client => Role::Agent,
            Role::Agent => Role::Client,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Agent => "agent",
        }
    }
}

/// A connection that said HELLO and waits for its other side.
pub(crate) struct Waiting {
    pub(crate) tx: Box<dyn SocketTx>,
    pub(crate) rx: Box<dyn SocketRx>,
    pub(crate) last_received: u64,
}

/// A running splice, and how to stop it with a reason both sides are told.
pub(crate) struct Splice {
    pub(crate) stop: tokio::sync::oneshot::Sender<String>,
}

/// One CLI connection paired with one agent connection. A session has as
/// many as the CLI commands using it at once (`berth exec` in one
/// terminal, `berth port-forward` in another); each resumes on its own.
#[derive(Default)]
pub(crate) struct Attachment {
    /// A side that reconnected and waits for the other to.
    pub(crate) waiting: [Option<Waiting>; 2],
    pub(crate) connected: bool,
    /// Bumped each time a splice starts; a splice that ends checks it is
    /// still the current one before touching the state.
    pub(crate) epoch: u64,
    pub(crate) splice: Option<Splice>,
    /// When the attachment was last without both sides (for the grace
    /// period).
    pub(crate) apart_since: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct LiveState {
    /// Agent connections ready for the next CLI.
    pub(crate) idle_agents: VecDeque<Waiting>,
    /// CLI connections waiting for an agent.
    pub(crate) waiting_clients: VecDeque<Waiting>,
    pub(crate) attachments: HashMap<u64, Attachment>,
    pub(crate) next_attachment: u64,
    /// Resume token to the attachment and side it resumes.
    pub(crate) tokens: HashMap<String, (u64, Role)>,
    pub(crate) open_streams: HashSet<(u64, u32)>,
    pub(crate) ended: Option<String>,
}

pub(crate) struct Live {
    pub(crate) record: SessionRecord,
    pub(crate) state: Mutex<LiveState>,
    pub(crate) to_agent: AtomicU64,
    pub(crate) to_client: AtomicU64,
    pub(crate) last_traffic: Mutex<Instant>,
    pub(crate) last_activity_note: Mutex<Option<Instant>>,
}

//! The relay: dev sessions that pair a `berth` CLI and a `berth agent`, both
//! dialling out to `berthd` over WebSockets, and splice their frames.
//!
//! The relay reads only frame headers ([`berth_proto::Header`]): it audits
//! stream opens, counts streams and bytes, and enforces limits; payloads
//! pass untouched. Each direction is its own task, so a slow reader on one
//! side holds back only the writer on the other (through TCP), never the
//! relay or another session. When either side drops, the relay closes the
//! other too; both reconnect within the grace period with their resume
//! tokens, learn in the WELCOME how far the other got, and resend the rest
//! from their replay buffers (see `docs/protocol.md`).
//!
//! Invariant: a session's two sides are its owner's CLI (with the owner's
//! API token) and an agent holding that session's own agent token (stored
//! hashed); nothing else attaches, and every stream open is audited.

pub mod config;
mod live;
mod pairing;
mod records;
mod reports;
mod sessions;
mod socket;
mod splice;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

use berth_audit::Audit;
use berth_auth::Auth;
use berth_auth::secrets::Hasher;
use berth_core::{Clock, Error};
use berth_spaces::Spaces;
use berth_store::Store;

pub use berth_proto::messages::VERSION;
pub use config::RelayConfig;
pub use socket::{BoxFuture, Credentials, SocketRx, SocketTx};

use live::Live;

/// Agent tokens start with this, so leaked ones can be found by scanners.
pub const AGENT_PREFIX: &str = "berth_agt_";

/// The relay service.
pub struct Relay {
    store: Arc<Store>,
    audit: Arc<Audit>,
    auth: Arc<Auth>,
    spaces: Arc<Spaces>,
    config: RelayConfig,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(
        auth: Arc<Auth>,
        spaces: Arc<Spaces>,
        config: RelayConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Relay>, Error> {
        config.validate().map_err(|e| Error::invalid("relay", e))?;
        let store = auth.audit().store().clone();
        let hasher = Hasher::new(store.secret_key("relay-hash").map_err(Error::from)?);
        Ok(Arc::new(Relay {
            audit: auth.audit().clone(),
            store,
            auth,
            spaces,
            config,
            clock,
            hasher,
            live: Mutex::default(),
        }))
    }

    pub fn config(&self) -> &RelayConfig {
        &self.config
    }
}

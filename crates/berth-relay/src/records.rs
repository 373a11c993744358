//! The stored record of a dev session and its agent token, and how a
//! session is named in audit events.

use berth_audit::EventResource;
use berth_core::Timestamp;
use berth_store::Table;
use serde::{Deserialize, Serialize};

pub(crate) const SESSIONS: Table<SessionRecord> = Table::new("relay.sessions");
/// Agent token hash to session id.
pub(crate) const AGENT_TOKENS: Table<String> = Table::new("relay.agent_tokens");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) id: String,
    pub(crate) space: String,
    pub(crate) owner_id: String,
    pub(crate) owner: String,
    pub(crate) created_at: Timestamp,
    pub(crate) ended_at: Option<Timestamp>,
    pub(crate) ended_reason: Option<String>,
}

/// A session as the resource of an audit event.
pub(crate) fn target(id: &str, space: &str) -> EventResource {
    EventResource {
        kind: "session".to_owned(),
        id: Some(id.to_owned()),
        name: Some(id.to_owned()),
        space: Some(space.to_owned()),
    }
}

//! An audit event: who did what to which resource, with what outcome, sealed
//! into the hash chain.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Token,
    System,
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventActor {
    pub kind: ActorKind,
    /// The user id (for users and tokens), or the component.
    pub id: Option<String>,
    /// The user name or component name.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct EventResource {
    pub kind: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub space: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One field's value before and after; secrets are never put here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Origin {
    pub source: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
}

/// What a caller records; the log adds sequence, time and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub actor: EventActor,
    pub origin: Origin,
    pub action: String,
    pub resource: EventResource,
    pub outcome: Outcome,
    /// The HTTP status the request answered, where there was one.
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub changes: BTreeMap<String, Change>,
}

impl NewEvent {
    pub fn new(
        actor: EventActor,
        action: &str,
        resource: EventResource,
        outcome: Outcome,
    ) -> NewEvent {
        NewEvent {
            actor,
            origin: Origin::default(),
            action: action.to_owned(),
            resource,
            outcome,
            status: None,
            reason: None,
            changes: BTreeMap::new(),
        }
    }

    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn change(
        mut self,
        field: &str,
        before: serde_json::Value,
        after: serde_json::Value,
    ) -> Self {
        self.changes
            .insert(field.to_owned(), Change { before, after });
        self
    }
}

/// A sealed event as stored. `hash` covers every other field, including
/// `prev_hash`, so changing, removing or reordering any event breaks the
/// chain from there on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub seq: u64,
    /// Nanoseconds since the Unix epoch (UTC).
    pub time_unix_nano: u64,
    pub actor: EventActor,
    #[serde(default)]
    pub origin: Origin,
    pub action: String,
    pub resource: EventResource,
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub reason: Option<String>,
    #[serde(default)]
    pub changes: BTreeMap<String, Change>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    pub(crate) fn seal(
        seq: u64,
        time_unix_nano: u64,
        prev_hash: &str,
        new: NewEvent,
    ) -> AuditEvent {
        let mut event = AuditEvent {
            seq,
            time_unix_nano,
            actor: new.actor,
            origin: new.origin,
            action: new.action,
            resource: new.resource,
            outcome: new.outcome,
            status: new.status,
            reason: new.reason,
            changes: new.changes,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// BLAKE3 over the canonical encoding: the event as JSON with `hash`
    /// empty. Field order is the struct's and maps are sorted, so the
    /// encoding is the same every time.
    pub fn compute_hash(&self) -> String {
        let mut unsealed = self.clone();
        unsealed.hash = String::new();
        let bytes = serde_json::to_vec(&unsealed).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// RFC 3339 with nanoseconds, for people.
    pub fn time(&self) -> String {
        let secs = self.time_unix_nano / 1_000_000_000;
        let nanos = (self.time_unix_nano % 1_000_000_000) as u32;
        let at = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
        humantime_nanos(at)
    }
}

fn humantime_nanos(at: std::time::SystemTime) -> String {
    // Seconds from the core Timestamp, then the fraction.
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let nanos = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = berth_core::Timestamp(secs).rfc3339();
    format!("{}.{nanos:09}Z", base.trim_end_matches('Z'))
}

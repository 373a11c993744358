//! The audit log's vocabulary: events, queries, pages and verification
//! results, shared by the daemon, the CLI and the console. Sealing and
//! verifying live in `berth-audit`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

impl EventActor {
    /// The daemon itself, acting on its own (the idle clock, the
    /// reconciler, the relay).
    pub fn system() -> EventActor {
        EventActor {
            kind: ActorKind::System,
            id: None,
            name: "berth".to_owned(),
        }
    }
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
    /// RFC 3339 with nanoseconds, for people.
    pub fn time(&self) -> String {
        let secs = self.time_unix_nano / 1_000_000_000;
        let nanos = self.time_unix_nano % 1_000_000_000;
        let base = crate::Timestamp(secs).rfc3339();
        format!("{}.{nanos:09}Z", base.trim_end_matches('Z'))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Events at or after this time (Unix nanoseconds).
    #[param(maximum = 9223372036854775807u64)]
    pub since: Option<u64>,
    /// Events at or before this time (Unix nanoseconds).
    #[param(maximum = 9223372036854775807u64)]
    pub until: Option<u64>,
    /// The actor's name: a user name or a component.
    pub actor: Option<String>,
    /// An action or a prefix of one: `token.` matches `token.create`.
    pub action: Option<String>,
    /// The resource kind: `user`, `token`, `space`, ...
    pub resource_kind: Option<String>,
    /// The resource's name or id; of any kind unless `resource_kind` says.
    pub resource: Option<String>,
    pub space: Option<String>,
    pub outcome: Option<Outcome>,
    /// At most this many events (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The cursor: only events older than this sequence number.
    #[param(maximum = 9223372036854775807u64)]
    pub before: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyProblem {
    /// An event's content does not match its hash: it was changed.
    Altered,
    /// An event does not link to the one before: one was removed or moved.
    BrokenLink,
    /// A sequence number is missing.
    Missing,
    /// A stored record cannot be read.
    Unreadable,
    /// A checkpoint's signature is not valid for the audit key.
    BadSignature,
    /// A checkpoint names an event that is gone or different: the tail was
    /// cut or rewritten.
    CheckpointMismatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoints: u64,
    /// The first sequence number that failed, and why.
    pub first_broken_seq: Option<u64>,
    pub problem: Option<VerifyProblem>,
    pub detail: Option<String>,
    /// The key checkpoints must be signed with, hex.
    pub public_key: String,
}

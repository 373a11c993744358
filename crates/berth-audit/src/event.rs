//! Sealing events into the hash chain. The event types are Berth's shared
//! vocabulary and live in `berth-core`.

pub use berth_core::audit::{
    ActorKind, AuditEvent, Change, EventActor, EventResource, NewEvent, Origin, Outcome,
};

pub(crate) fn seal(seq: u64, time_unix_nano: u64, prev_hash: &str, new: NewEvent) -> AuditEvent {
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
    event.hash = hash_of(&event);
    event
}

/// BLAKE3 over the canonical encoding: the event as JSON with `hash` empty.
/// Field order is the struct's and maps are sorted, so the encoding is the
/// same every time.
pub fn hash_of(event: &AuditEvent) -> String {
    let mut unsealed = event.clone();
    unsealed.hash = String::new();
    let bytes = serde_json::to_vec(&unsealed).unwrap_or_default();
    blake3::hash(&bytes).to_hex().to_string()
}

//! The audit log against sled in a temporary directory: the chain, its
//! verification under tampering, atomicity, queries checked against a
//! brute-force filter, and pruning.

use std::sync::Arc;

use berth_audit::{
    ActorKind, Audit, AuditEvent, EventActor, EventResource, NewEvent, Outcome, Query,
};
use berth_store::{Holder, Store, Table};

mod blocks;
mod chain;
mod disk;
mod forward;
mod migrate;
mod query;

pub fn open() -> (tempfile::TempDir, Arc<Audit>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(dir.path(), &Holder::this_process("test")).expect("store"));
    (dir, Audit::open(store).expect("audit"))
}

/// A log that seals every `block_events` events, so that small tests
/// exercise sealed blocks.
pub fn open_blocks(block_events: u32) -> (tempfile::TempDir, Arc<Audit>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(dir.path(), &Holder::this_process("test")).expect("store"));
    (dir, Audit::open_with(store, block_events).expect("audit"))
}

pub fn user(name: &str) -> EventActor {
    EventActor {
        kind: ActorKind::User,
        id: Some(format!("u-{name}")),
        name: name.to_owned(),
    }
}

pub fn event(
    actor: &str,
    action: &str,
    kind: &str,
    name: &str,
    space: Option<&str>,
    outcome: Outcome,
) -> NewEvent {
    NewEvent::new(
        user(actor),
        action,
        EventResource {
            kind: kind.to_owned(),
            id: None,
            name: Some(name.to_owned()),
            space: space.map(str::to_owned),
        },
        outcome,
    )
}

pub const EVENTS: Table<AuditEvent> = Table::new("audit");

/// The store key of unsealed event `seq`.
pub fn key(seq: u64) -> String {
    format!("e/{seq:016x}")
}

/// The store key of the sealed block that starts at `first`.
pub fn block_key(first: u64) -> String {
    format!("b/{first:016x}")
}

pub fn all(audit: &Audit) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut before = None;
    loop {
        let page = audit
            .query(&Query {
                limit: Some(1000),
                before,
                ..Query::default()
            })
            .expect("query");
        events.extend(page.events);
        match page.next {
            Some(next) => before = Some(next),
            None => return events,
        }
    }
}

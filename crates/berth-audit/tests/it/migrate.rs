//! A data directory written by schema 1 (one key per event and one index key
//! per event and term) is migrated on open: the same events, the same
//! answers, the chain still verifying.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_audit::{Audit, AuditEvent, Origin, Outcome, Query, hash_of};
use berth_store::{Holder, Store, Table};

const RAW: Table<()> = Table::new("audit");

/// Schema 1's index terms of an event, as that layout wrote them.
fn v1_terms(e: &AuditEvent) -> Vec<String> {
    let mut terms = vec![
        format!("actor:{}", e.actor.name),
        format!("action:{}", e.action),
        format!("kind:{}", e.resource.kind),
        format!("outcome:{}", e.outcome.as_str()),
    ];
    if let Some(name) = &e.resource.name {
        terms.push(format!("res:{}/{name}", e.resource.kind));
    }
    if let Some(space) = &e.resource.space {
        terms.push(format!("space:{space}"));
    }
    terms
}

/// Writes `n` events the way schema 1 did: `e/<seq>` (the event as JSON),
/// `i/<term>\0<seq>` per term, `a/<action>`, `m/head`, and the schema
/// record at 1.
fn write_v1(dir: &std::path::Path, n: u64) -> Vec<AuditEvent> {
    let store = Store::open(dir, &Holder::this_process("schema 1")).expect("store");
    let mut prev = berth_audit::GENESIS.to_owned();
    let mut events = Vec::new();
    for seq in 1..=n {
        let actor = ["alice", "bob", "carol"][(seq % 3) as usize];
        let action = ["token.create", "space.create", "auth.login"][(seq % 5 % 3) as usize];
        let new = crate::event(
            actor,
            action,
            "space",
            &format!("s{}", seq % 7),
            Some(&format!("s{}", seq % 7)),
            if seq % 11 == 0 {
                Outcome::Denied
            } else {
                Outcome::Success
            },
        );
        let mut event = AuditEvent {
            seq,
            time_unix_nano: 1_700_000_000_000_000_000 + seq * 1000,
            actor: new.actor,
            origin: Origin::default(),
            action: new.action,
            resource: new.resource,
            outcome: new.outcome,
            status: None,
            reason: None,
            changes: BTreeMap::new(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        event.hash = hash_of(&event);
        prev = event.hash.clone();
        let json = serde_json::to_vec(&event).expect("json");
        store
            .tamper_raw(RAW, &format!("e/{seq:016x}"), Some(&json))
            .expect("event");
        for term in v1_terms(&event) {
            store
                .tamper_raw(RAW, &format!("i/{term}\0{seq:016x}"), Some(b"null"))
                .expect("index");
        }
        store
            .tamper_raw(RAW, &format!("a/{}", event.action), Some(b"null"))
            .expect("action");
        events.push(event);
    }
    let head = serde_json::json!({"seq": n, "hash": prev});
    store
        .tamper_raw(
            RAW,
            "m/head",
            Some(&serde_json::to_vec(&head).expect("json")),
        )
        .expect("head");
    let meta: Table<()> = Table::new("meta");
    store
        .tamper_raw(meta, "schema_version", Some(&1u32.to_be_bytes()))
        .expect("schema");
    drop(store);
    events
}

#[tokio::test]
async fn a_schema_1_log_is_migrated_and_reads_the_same() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written = write_v1(dir.path(), 300);
    let store = Arc::new(Store::open(dir.path(), &Holder::this_process("test")).expect("open"));
    assert_eq!(store.info().schema_version, berth_store::SCHEMA_VERSION);
    assert!(
        store
            .range_raw(RAW, "i/", "i0", 1, false, 0)
            .expect("scan")
            .is_empty(),
        "schema 1's per-event index is gone"
    );
    let audit = Audit::open_with(store, 32).expect("audit");
    assert_eq!(audit.head().seq, 300);
    // Opening sealed every full block of the old events.
    assert!(
        audit
            .store()
            .range_raw(RAW, "e/", &format!("e/{:016x}", 288), 1, false, 0)
            .expect("scan")
            .is_empty()
    );
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.events, 300);
    let mut newest_first = written.clone();
    newest_first.reverse();
    assert_eq!(crate::all(&audit), newest_first);
    for q in [
        Query {
            actor: Some("bob".to_owned()),
            ..Query::default()
        },
        Query {
            action: Some("space.".to_owned()),
            outcome: Some(Outcome::Denied),
            ..Query::default()
        },
        Query {
            resource: Some("s3".to_owned()),
            since: Some(written[99].time_unix_nano),
            ..Query::default()
        },
    ] {
        let page = audit
            .query(&Query {
                limit: Some(1000),
                ..q.clone()
            })
            .expect("query");
        let expected: Vec<u64> = newest_first
            .iter()
            .filter(|e| {
                q.actor.as_ref().is_none_or(|a| e.actor.name == *a)
                    && q.action
                        .as_ref()
                        .is_none_or(|p| e.action.starts_with(p.as_str()))
                    && q.outcome.is_none_or(|o| e.outcome == o)
                    && q.resource
                        .as_ref()
                        .is_none_or(|r| e.resource.name.as_ref() == Some(r))
                    && q.since.is_none_or(|s| e.time_unix_nano >= s)
            })
            .map(|e| e.seq)
            .collect();
        assert!(!expected.is_empty(), "{q:?}");
        assert_eq!(
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            expected,
            "{q:?}"
        );
    }
    // The chain goes on from the migrated head.
    let next = audit
        .record(crate::event(
            "alice",
            "token.revoke",
            "token",
            "t",
            None,
            Outcome::Success,
        ))
        .expect("record");
    assert_eq!(
        (next.seq, next.prev_hash.as_str()),
        (301, written[299].hash.as_str())
    );
    assert!(audit.verify().ok);
}

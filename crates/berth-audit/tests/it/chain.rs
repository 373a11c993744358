//! The hash chain and what verification reports when it is damaged.

use berth_audit::{Audit, AuditEvent, NewEvent, Outcome, VerifyProblem};
use berth_store::Table;

use crate::{EVENTS, event, open, user};

fn fill(audit: &Audit, n: usize) {
    for i in 0..n {
        audit
            .record(event(
                "alice",
                "token.create",
                "token",
                &format!("t{i}"),
                None,
                Outcome::Success,
            ))
            .expect("record");
    }
}

/// The stored event `seq`, read around the log.
fn stored(audit: &Audit, seq: u64) -> AuditEvent {
    audit
        .store()
        .get(EVENTS, &crate::key(seq))
        .expect("get")
        .unwrap_or_else(|| panic!("event {seq} is stored"))
}

/// Writes `event` in place of event `seq`, around the log, as an attacker
/// with the data directory could.
fn overwrite(audit: &Audit, seq: u64, event: &AuditEvent) {
    audit
        .store()
        .tamper_raw(
            EVENTS,
            &crate::key(seq),
            Some(&serde_json::to_vec(event).expect("json")),
        )
        .expect("tamper");
}

#[tokio::test]
async fn a_clean_log_verifies_and_links_each_event_to_the_last() {
    let (_dir, audit) = open();
    fill(&audit, 20);
    let checkpoint = audit
        .checkpoint()
        .expect("checkpoint")
        .expect("a new checkpoint");
    assert_eq!(checkpoint.seq, 20);
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        (
            result.events,
            result.first_seq,
            result.last_seq,
            result.checkpoints
        ),
        (20, Some(1), Some(20), 1)
    );
    let first = crate::all(&audit);
    assert_eq!(first.len(), 20);
    for pair in first.windows(2) {
        assert_eq!(
            pair[0].prev_hash, pair[1].hash,
            "newest first: each links to the one before it"
        );
    }
    let seq = first[0].seq;
    audit.durable(seq).await.expect("durable");
}

#[tokio::test]
async fn a_changed_event_is_found() {
    let (_dir, audit) = open();
    fill(&audit, 10);
    let mut victim = stored(&audit, 5);
    victim.actor = user("mallory");
    overwrite(&audit, 5, &victim);
    let result = audit.verify();
    assert_eq!(
        (result.ok, result.first_broken_seq, result.problem),
        (false, Some(5), Some(VerifyProblem::Altered))
    );
}

#[tokio::test]
async fn a_rehashed_change_breaks_the_next_link() {
    let (_dir, audit) = open();
    fill(&audit, 10);
    let mut victim = stored(&audit, 5);
    victim.reason = Some("rewritten".to_owned());
    victim.hash = berth_audit::hash_of(&victim);
    overwrite(&audit, 5, &victim);
    let result = audit.verify();
    assert_eq!(
        (result.first_broken_seq, result.problem),
        (Some(6), Some(VerifyProblem::BrokenLink))
    );
}

#[tokio::test]
async fn a_deleted_or_moved_event_is_found() {
    let (_dir, audit) = open();
    fill(&audit, 10);
    let store = audit.store();
    store
        .tamper_raw(EVENTS, &crate::key(4), None)
        .expect("delete");
    let result = audit.verify();
    assert_eq!(
        (result.first_broken_seq, result.problem),
        (Some(4), Some(VerifyProblem::Missing))
    );

    let (_dir, audit) = open();
    fill(&audit, 10);
    let (three, four) = (stored(&audit, 3), stored(&audit, 4));
    overwrite(&audit, 3, &four);
    overwrite(&audit, 4, &three);
    let result = audit.verify();
    assert_eq!(result.first_broken_seq, Some(3), "{result:?}");
}

#[tokio::test]
async fn a_cut_tail_is_found_by_the_signed_checkpoint() {
    let (_dir, audit) = open();
    fill(&audit, 10);
    audit.checkpoint().expect("checkpoint");
    let store = audit.store();
    // Cut the last three events and rewrite the head to match: only the
    // signed checkpoint still remembers event 10.
    for key in [crate::key(8), crate::key(9), crate::key(10)] {
        let key = key.as_str();
        store.tamper_raw(EVENTS, key, None).expect("delete");
    }
    let seven = stored(&audit, 7);
    let meta: Table<serde_json::Value> = Table::new("audit");
    store
        .tamper_raw(
            meta,
            "m/head",
            Some(
                &serde_json::to_vec(&serde_json::json!({"seq": 7, "hash": seven.hash}))
                    .expect("json"),
            ),
        )
        .expect("head");
    let result = audit.verify();
    assert_eq!(
        (result.first_broken_seq, result.problem),
        (Some(10), Some(VerifyProblem::CheckpointMismatch)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_refused_change_writes_neither_state_nor_event() {
    let (_dir, audit) = open();
    fill(&audit, 2);
    let state: Table<String> = Table::new("test.state");
    let refused = audit.commit::<()>(&[state.name], |tx| {
        tx.put(state, "k", &"v".to_owned())?;
        Err(berth_core::Error::invalid("k", "refused").into())
    });
    assert!(refused.is_err());
    assert_eq!(audit.store().get(state, "k").expect("get"), None);
    assert_eq!(audit.head().seq, 2);
    let (_, recorded) = audit
        .commit(&[state.name], |tx| {
            tx.put(state, "k", &"v".to_owned())?;
            Ok((
                (),
                NewEvent::new(
                    user("alice"),
                    "test.set",
                    Default::default(),
                    Outcome::Success,
                ),
            ))
        })
        .expect("commit");
    assert_eq!(recorded.seq, 3);
    assert_eq!(
        audit.store().get(state, "k").expect("get").as_deref(),
        Some("v")
    );
    assert!(audit.verify().ok);
}

#[tokio::test]
async fn pruning_keeps_the_rest_verifiable() {
    let (_dir, audit) = open();
    fill(&audit, 10);
    let events = crate::all(&audit);
    let cut_time = events
        .iter()
        .find(|e| e.seq == 6)
        .expect("event 6")
        .time_unix_nano;
    let removed = audit.prune(cut_time).expect("prune");
    assert_eq!(removed, 5);
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!((result.first_seq, result.last_seq), (Some(6), Some(10)));
    audit
        .record(event(
            "bob",
            "user.update",
            "user",
            "carol",
            None,
            Outcome::Success,
        ))
        .expect("record");
    assert!(audit.verify().ok);
}

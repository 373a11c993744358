//! Sealed blocks: what verification finds when one is damaged, pruning
//! through them, and reading them while they are being sealed.

use berth_audit::{Audit, AuditEvent, Outcome, Query, VerifyProblem};
use berth_store::Table;

use crate::{EVENTS, block_key, event, open_blocks};

const RAW: Table<()> = Table::new("audit");

fn fill(audit: &Audit, from: usize, n: usize) {
    for i in from..from + n {
        audit
            .record(event(
                if i % 3 == 0 { "alice" } else { "bob" },
                "token.create",
                "token",
                &format!("t{i}"),
                None,
                Outcome::Success,
            ))
            .expect("record");
    }
}

/// The sequence numbers of `actor`'s events, newest first.
fn seqs_of(audit: &Audit, actor: &str) -> Vec<u64> {
    audit
        .query(&Query {
            actor: Some(actor.to_owned()),
            limit: Some(1000),
            ..Query::default()
        })
        .expect("query")
        .events
        .iter()
        .map(|e| e.seq)
        .collect()
}

/// A block as stored: the 21-byte header (format, count, first and last
/// time) and the zstd-compressed JSON lines of its events.
fn read_block(audit: &Audit, first: u64) -> (Vec<u8>, Vec<String>) {
    let bytes = audit
        .store()
        .get_raw(RAW, &block_key(first))
        .expect("read")
        .unwrap_or_else(|| panic!("block {first} is stored"));
    let text = zstd::stream::decode_all(&bytes[21..]).expect("a zstd frame");
    let lines = String::from_utf8(text)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect();
    (bytes[..21].to_vec(), lines)
}

/// Writes a block in place, around the log, as an attacker with the data
/// directory could.
fn write_block(audit: &Audit, first: u64, header: &[u8], lines: &[String]) {
    let mut text = lines.join("\n").into_bytes();
    text.push(b'\n');
    let mut bytes = header.to_vec();
    bytes.extend(zstd::bulk::compress(&text, 3).expect("compress"));
    audit
        .store()
        .tamper_raw(RAW, &block_key(first), Some(&bytes))
        .expect("tamper");
}

#[tokio::test]
async fn sealed_events_verify_and_read_back() {
    let (_dir, audit) = open_blocks(8);
    fill(&audit, 0, 30);
    audit.seal().expect("seal");
    // Three full blocks of eight; the tail keeps the six events no block
    // holds yet.
    assert!(
        audit
            .store()
            .get(EVENTS, &crate::key(24))
            .expect("get")
            .is_none()
    );
    assert!(
        audit
            .store()
            .get(EVENTS, &crate::key(25))
            .expect("get")
            .is_some()
    );
    let (_, lines) = read_block(&audit, 9);
    assert_eq!(lines.len(), 8);
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        (result.events, result.first_seq, result.last_seq),
        (30, Some(1), Some(30))
    );
    let all = crate::all(&audit);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=30).rev().collect::<Vec<_>>()
    );
    // A filter answered from blocks and tail alike.
    let expected: Vec<u64> = (1..=30).rev().filter(|s| (s - 1) % 3 == 0).collect();
    assert_eq!(seqs_of(&audit, "alice"), expected);
    // Reopened, the log finds its head in the blocks and the tail.
    let store = audit.store().clone();
    drop(audit);
    let audit = Audit::open_with(store, 8).expect("reopen");
    assert_eq!(audit.head().seq, 30);
    fill(&audit, 30, 3);
    assert!(audit.verify().ok);
}

#[tokio::test]
async fn a_changed_event_in_a_block_is_found() {
    let (_dir, audit) = open_blocks(8);
    fill(&audit, 0, 20);
    audit.seal().expect("seal");
    let (header, mut lines) = read_block(&audit, 9);
    // Event 12 is the fourth line of the block that starts at 9.
    let mut victim: AuditEvent = serde_json::from_str(&lines[3]).expect("event");
    assert_eq!(victim.seq, 12);
    victim.actor = crate::user("mallory");
    lines[3] = serde_json::to_string(&victim).expect("json");
    write_block(&audit, 9, &header, &lines);
    let result = audit.verify();
    assert_eq!(
        (result.ok, result.first_broken_seq, result.problem),
        (false, Some(12), Some(VerifyProblem::Altered)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_damaged_or_removed_block_is_found() {
    let (_dir, audit) = open_blocks(8);
    fill(&audit, 0, 20);
    audit.seal().expect("seal");
    let (header, lines) = read_block(&audit, 9);
    // Two events swapped inside the block.
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    write_block(&audit, 9, &header, &swapped);
    let result = audit.verify();
    assert_eq!(result.first_broken_seq, Some(11), "{result:?}");
    // Bytes that are no longer a block.
    audit
        .store()
        .tamper_raw(RAW, &block_key(9), Some(b"garbage"))
        .expect("tamper");
    let result = audit.verify();
    assert_eq!(
        (result.ok, result.problem),
        (false, Some(VerifyProblem::Altered)),
        "{result:?}"
    );
    // The whole block gone.
    audit
        .store()
        .tamper_raw(RAW, &block_key(9), None)
        .expect("tamper");
    let result = audit.verify();
    assert_eq!(
        (result.first_broken_seq, result.problem),
        (Some(9), Some(VerifyProblem::Missing)),
        "{result:?}"
    );
}

#[tokio::test]
async fn pruning_through_blocks_keeps_the_rest_verifiable() {
    let (_dir, audit) = open_blocks(4);
    fill(&audit, 0, 30);
    audit.seal().expect("seal");
    audit.checkpoint().expect("checkpoint");
    let all = crate::all(&audit);
    let time_of = |seq: u64| {
        all.iter()
            .find(|e| e.seq == seq)
            .expect("event")
            .time_unix_nano
    };
    // Event 11 is inside the block that starts at 9: that block is cut.
    let removed = audit.prune(time_of(11)).expect("prune");
    assert_eq!(removed, 10);
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!(
        (result.first_seq, result.last_seq, result.checkpoints),
        (Some(11), Some(30), 1)
    );
    assert_eq!(
        crate::all(&audit).iter().map(|e| e.seq).collect::<Vec<_>>(),
        (11..=30).rev().collect::<Vec<_>>()
    );
    let expected: Vec<u64> = (11..=30).rev().filter(|s| (s - 1) % 3 == 0).collect();
    assert_eq!(seqs_of(&audit, "alice"), expected);
    // Past every event: the newest stays.
    fill(&audit, 30, 5);
    audit.seal().expect("seal");
    let removed = audit.prune(u64::MAX).expect("prune all");
    assert_eq!(removed, 24);
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!((result.first_seq, result.last_seq), (Some(35), Some(35)));
    fill(&audit, 35, 9);
    audit.seal().expect("seal");
    assert!(audit.verify().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_while_sealing_miss_nothing() {
    let (_dir, audit) = open_blocks(16);
    let writer = {
        let audit = audit.clone();
        tokio::task::spawn_blocking(move || fill(&audit, 0, 3000))
    };
    // Every page read while events are sealed under it holds exactly the
    // events from its newest down, without a gap.
    let mut checked = 0;
    while !writer.is_finished() || checked == 0 {
        let page = audit
            .query(&Query {
                limit: Some(1000),
                ..Query::default()
            })
            .expect("query");
        let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        if let Some(&newest) = seqs.first() {
            let expected: Vec<u64> = (1..=newest).rev().take(1000).collect();
            assert_eq!(seqs, expected);
        }
        checked += 1;
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    assert!(audit.verify().ok);
}

/// Reads in sequence order (verification, the OTLP forwarder) while events
/// are sealed under them: a seal that lands between reading the blocks and
/// the tail must not make a stretch of events look missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_in_order_while_sealing_see_every_event() {
    let (_dir, audit) = open_blocks(16);
    let writer = {
        let audit = audit.clone();
        tokio::task::spawn_blocking(move || fill(&audit, 0, 3000))
    };
    let mut checked = 0;
    while !writer.is_finished() || checked == 0 {
        let verification = audit.verify();
        assert!(verification.ok, "{verification:?}");
        checked += 1;
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    assert!(audit.verify().ok);
}

/// A damaged event in the unsealed tail keeps the log from being sealed
/// past it, not from opening: the daemon starts, appends, and `verify`
/// names the damage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_tail_event_does_not_stop_the_log_from_opening() {
    let (_dir, audit) = open_blocks(16);
    fill(&audit, 0, 10);
    audit
        .store()
        .put_raw(RAW, &crate::key(5), b"not an event")
        .expect("damage");
    fill(&audit, 10, 10);
    let reopened = Audit::open_with(audit.store().clone(), 16).expect("the log opens");
    reopened
        .record(event(
            "alice",
            "token.create",
            "token",
            "after",
            None,
            Outcome::Success,
        ))
        .expect("an append after the damage");
    let verification = reopened.verify();
    assert!(!verification.ok);
    assert_eq!(verification.first_broken_seq, Some(5), "{verification:?}");
}

//! Queries and paging, checked against a brute-force filter over the same
//! generated events.

use berth_audit::{AuditEvent, Outcome, Query};
use rand::prelude::*;

use crate::{event, open};

const ACTORS: &[&str] = &["alice", "bob", "carol", "system"];
const ACTIONS: &[&str] = &[
    "auth.login",
    "auth.logout",
    "token.create",
    "token.revoke",
    "space.create",
    "space.delete",
    "user.update",
];
const KINDS: &[&str] = &["session", "token", "space", "user"];
const SPACES: &[&str] = &["alice", "team-a", "team-b"];
const OUTCOMES: &[Outcome] = &[Outcome::Success, Outcome::Failure, Outcome::Denied];

fn matches(e: &AuditEvent, q: &Query) -> bool {
    q.since.is_none_or(|s| e.time_unix_nano >= s)
        && q.until.is_none_or(|u| e.time_unix_nano <= u)
        && q.actor.as_ref().is_none_or(|a| e.actor.name == *a)
        && q.action
            .as_ref()
            .is_none_or(|p| e.action.starts_with(p.as_str()))
        && q.resource_kind
            .as_ref()
            .is_none_or(|k| e.resource.kind == *k)
        && q.resource.as_ref().is_none_or(|r| {
            e.resource.name.as_ref() == Some(r) || e.resource.id.as_ref() == Some(r)
        })
        && q.space
            .as_ref()
            .is_none_or(|s| e.resource.space.as_ref() == Some(s))
        && q.outcome.is_none_or(|o| e.outcome == o)
}

#[tokio::test]
async fn random_queries_agree_with_a_brute_force_filter() {
    let (_dir, audit) = open();
    random_queries(&audit).await;
}

/// The same over small blocks: most answers come from sealed blocks and
/// their postings, the rest from the tail.
#[tokio::test]
async fn random_queries_over_blocks_agree_with_a_brute_force_filter() {
    let (_dir, audit) = crate::open_blocks(37);
    random_queries(&audit).await;
}

async fn random_queries(audit: &berth_audit::Audit) {
    let mut rng = StdRng::seed_from_u64(7);
    for i in 0..1500 {
        let kind = KINDS.choose(&mut rng).copied().unwrap_or("user");
        let space = if rng.random_bool(0.5) {
            SPACES.choose(&mut rng).copied()
        } else {
            None
        };
        audit
            .record(event(
                ACTORS.choose(&mut rng).copied().unwrap_or("alice"),
                ACTIONS.choose(&mut rng).copied().unwrap_or("auth.login"),
                kind,
                &format!("r{}", i % 40),
                space,
                OUTCOMES
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or(Outcome::Success),
            ))
            .expect("record");
    }
    audit.seal().expect("seal");
    let mut everything = crate::all(audit);
    assert_eq!(everything.len(), 1500);
    everything.sort_by_key(|e| std::cmp::Reverse(e.seq));
    let times: Vec<u64> = everything.iter().map(|e| e.time_unix_nano).collect();

    for round in 0..300 {
        let pick = |rng: &mut StdRng, list: &[&str]| {
            rng.random_bool(0.4)
                .then(|| list.choose(rng).copied().unwrap_or("x").to_owned())
        };
        let kind = pick(&mut rng, KINDS);
        let q = Query {
            since: rng
                .random_bool(0.3)
                .then(|| *times.choose(&mut rng).unwrap_or(&0)),
            until: rng
                .random_bool(0.3)
                .then(|| *times.choose(&mut rng).unwrap_or(&u64::MAX)),
            actor: pick(&mut rng, ACTORS),
            action: rng.random_bool(0.4).then(|| {
                let action = ACTIONS.choose(&mut rng).copied().unwrap_or("auth.login");
                let cut = rng.random_range(1..=action.len());
                action[..cut].to_owned()
            }),
            // With a kind or without: a resource of any kind.
            resource: rng
                .random_bool(0.3)
                .then(|| format!("r{}", rng.random_range(0..40))),
            resource_kind: kind,
            space: pick(&mut rng, SPACES),
            outcome: rng
                .random_bool(0.3)
                .then(|| *OUTCOMES.choose(&mut rng).unwrap_or(&Outcome::Success)),
            limit: Some(rng.random_range(1..60)),
            before: None,
        };
        let expected: Vec<u64> = everything
            .iter()
            .filter(|e| matches(e, &q))
            .map(|e| e.seq)
            .collect();
        let mut got = Vec::new();
        let mut page_query = q.clone();
        loop {
            let page = audit.query(&page_query).expect("query");
            assert!(page.events.len() <= q.limit.unwrap_or(100));
            got.extend(page.events.iter().map(|e| e.seq));
            match page.next {
                Some(next) => page_query.before = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "round {round}: {q:?}");
    }
}

#[tokio::test]
async fn bad_queries_are_named() {
    let (_dir, audit) = open();
    let err = audit
        .query(&Query {
            limit: Some(0),
            ..Query::default()
        })
        .expect_err("limit");
    assert!(err.message.contains("limit"));
    // Times and cursors are int64 in the API: one past the largest is refused.
    let err = audit
        .query(&Query {
            until: Some(1 << 63),
            ..Query::default()
        })
        .expect_err("until past int64");
    assert!(err.message.starts_with("until:"), "{}", err.message);
    let page = audit
        .query(&Query {
            until: Some(i64::MAX.unsigned_abs()),
            ..Query::default()
        })
        .expect("the largest int64 is a time");
    assert!(page.events.is_empty());
}

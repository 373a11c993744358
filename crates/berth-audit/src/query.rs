//! Filtered queries, newest first, with cursor paging. Every filterable
//! attribute is indexed as a term (`actor:alice`, `action:token.create`,
//! ...) with the event's sequence number; a query walks the indexes of its
//! filters backwards in step (a zig-zag join), so it reads only the entries
//! near its answers however large the log is.

use berth_core::Error;
use berth_store::{Store, StoreError};

use crate::{
    ACTION_PREFIX, ACTIONS, AuditEvent, EVENT_PREFIX, EVENTS, INDEX, INDEX_PREFIX, seq_key,
};
pub use berth_core::audit::{Page, Query};

/// The index terms of an event.
pub(crate) fn terms(event: &AuditEvent) -> Vec<String> {
    let r = &event.resource;
    let mut terms = vec![
        format!("actor:{}", event.actor.name),
        format!("action:{}", event.action),
        format!("kind:{}", r.kind),
        format!("outcome:{}", event.outcome.as_str()),
    ];
    if let Some(name) = &r.name {
        terms.push(format!("res:{}/{name}", r.kind));
    }
    if let Some(id) = &r.id
        && r.name.as_ref() != Some(id)
    {
        terms.push(format!("res:{}/{id}", r.kind));
    }
    if let Some(space) = &r.space {
        terms.push(format!("space:{space}"));
    }
    terms
}

pub(crate) fn event_seq(key: &str) -> Option<u64> {
    u64::from_str_radix(key.strip_prefix(EVENT_PREFIX)?, 16).ok()
}

fn parse_seq(key: &str) -> Option<u64> {
    let suffix = key.rsplit('\0').next()?;
    u64::from_str_radix(suffix, 16).ok()
}

/// A sorted set of sequence numbers that can be searched backwards.
enum Stream {
    /// Every event.
    All,
    /// Events with any of these terms.
    Terms(Vec<String>),
}

impl Stream {
    /// The largest sequence number in this stream that is at most `at_most`.
    fn seek(&self, store: &Store, at_most: u64) -> Result<Option<u64>, StoreError> {
        match self {
            Stream::All => Ok(store
                .last_key_between(EVENTS, &seq_key(0), &seq_key(at_most))?
                .and_then(|k| event_seq(&k))),
            Stream::Terms(terms) => {
                let mut best = None;
                for term in terms {
                    let found = store
                        .last_key_between(
                            INDEX,
                            &format!("{INDEX_PREFIX}{term}\0"),
                            &format!("{INDEX_PREFIX}{term}\0{at_most:016x}"),
                        )?
                        .and_then(|k| parse_seq(&k));
                    best = best.max(found);
                }
                Ok(best)
            }
        }
    }
}

pub(crate) fn first_seq(store: &Store) -> Result<Option<u64>, StoreError> {
    Ok(store
        .first_key_between(EVENTS, &seq_key(0), &seq_key(u64::MAX))?
        .and_then(|k| event_seq(&k)))
}

fn last_seq(store: &Store) -> Result<Option<u64>, StoreError> {
    Ok(store
        .last_key_between(EVENTS, &seq_key(0), &seq_key(u64::MAX))?
        .and_then(|k| event_seq(&k)))
}

/// The time of the event nearest at or after `seq` (events are contiguous
/// but may have been damaged; skip gaps).
fn time_at(store: &Store, seq: u64, hi: u64) -> Result<Option<(u64, u64)>, StoreError> {
    let mut s = seq;
    while s <= hi {
        if let Some(event) = store.get(EVENTS, &seq_key(s))? {
            return Ok(Some((s, event.time_unix_nano)));
        }
        s += 1;
    }
    Ok(None)
}

/// The first sequence number whose event is at or after `ns`.
pub(crate) fn first_seq_at_or_after(store: &Store, ns: u64) -> Result<Option<u64>, StoreError> {
    let (Some(mut lo), Some(hi)) = (first_seq(store)?, last_seq(store)?) else {
        return Ok(None);
    };
    let mut hi_bound = hi + 1;
    // Sequence and time grow together, so binary search by time.
    while lo < hi_bound {
        let mid = lo + (hi_bound - lo) / 2;
        match time_at(store, mid, hi)? {
            Some((_, t)) if t >= ns => hi_bound = mid,
            Some(_) => lo = mid + 1,
            None => hi_bound = mid,
        }
    }
    Ok((lo <= hi).then_some(lo))
}

/// The last sequence number whose event is at or before `ns`.
fn last_seq_at_or_before(store: &Store, ns: u64) -> Result<Option<u64>, StoreError> {
    match first_seq_at_or_after(store, ns.saturating_add(1))? {
        Some(seq) => Ok(seq.checked_sub(1)),
        None => last_seq(store),
    }
}

impl crate::Audit {
    /// Runs a query. Filters are combined with AND.
    pub fn query(&self, q: &Query) -> Result<Page, Error> {
        run(self.store(), q).map_err(|e| match e {
            QueryError::Invalid(e) => e,
            QueryError::Store(e) => Error::internal(format!("audit query: {e}")),
        })
    }
}

enum QueryError {
    Invalid(Error),
    Store(StoreError),
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        QueryError::Store(e)
    }
}

/// The largest time or sequence number a query takes: the API documents
/// `since`, `until` and `before` as int64.
const MAX_BOUND: u64 = i64::MAX.unsigned_abs();

/// A query as every read of the log takes it: an empty filter is no filter,
/// and a bad one is refused with an error naming its parameter. Callers that
/// answer in more than one read (an export) check it here before the first.
pub fn checked(q: &Query) -> Result<Query, Error> {
    let mut q = q.clone();
    for field in [
        &mut q.actor,
        &mut q.action,
        &mut q.resource_kind,
        &mut q.resource,
        &mut q.space,
    ] {
        if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *field = None;
        }
    }
    if q.limit.is_some_and(|limit| !(1..=1000).contains(&limit)) {
        return Err(Error::invalid("limit", "must be between 1 and 1000"));
    }
    for (name, value) in [("since", q.since), ("until", q.until), ("before", q.before)] {
        if value.is_some_and(|v| v > MAX_BOUND) {
            return Err(Error::invalid(name, format!("must be at most {MAX_BOUND}")));
        }
    }
    Ok(q)
}

/// Every resource kind the log has an event of, by skipping from one kind's
/// index terms to the next: a seek per kind, however many events each has.
fn kinds(store: &Store) -> Result<Vec<String>, StoreError> {
    let prefix = format!("{INDEX_PREFIX}kind:");
    // The first key past every `kind:` term (';' follows ':').
    let end = format!("{INDEX_PREFIX}kind;");
    let mut kinds = Vec::new();
    let mut from = prefix.clone();
    while let Some(key) = store.first_key_between(INDEX, &from, &end)? {
        let Some(kind) = key
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('\0').next())
        else {
            break;
        };
        // Past every term of this kind: they go on with '\0' and a number.
        from = format!("{prefix}{kind}\u{1}");
        kinds.push(kind.to_owned());
    }
    Ok(kinds)
}

fn run(store: &Store, q: &Query) -> Result<Page, QueryError> {
    let q = &checked(q).map_err(QueryError::Invalid)?;
    let limit = q.limit.unwrap_or(100);
    let Some(mut upper) = last_seq(store)? else {
        return Ok(Page {
            events: Vec::new(),
            next: None,
        });
    };
    let lower = match q.since {
        Some(since) => match first_seq_at_or_after(store, since)? {
            Some(seq) => seq,
            None => {
                return Ok(Page {
                    events: Vec::new(),
                    next: None,
                });
            }
        },
        None => 0,
    };
    if let Some(until) = q.until {
        match last_seq_at_or_before(store, until)? {
            Some(seq) => upper = upper.min(seq),
            None => {
                return Ok(Page {
                    events: Vec::new(),
                    next: None,
                });
            }
        }
    }
    if let Some(before) = q.before {
        match before.checked_sub(1) {
            Some(b) => upper = upper.min(b),
            None => {
                return Ok(Page {
                    events: Vec::new(),
                    next: None,
                });
            }
        }
    }

    let mut streams = Vec::new();
    if let Some(actor) = &q.actor {
        streams.push(Stream::Terms(vec![format!("actor:{actor}")]));
    }
    if let Some(prefix) = &q.action {
        let actions: Vec<String> = store
            .scan(ACTIONS, &format!("{ACTION_PREFIX}{prefix}"))?
            .into_iter()
            .map(|(key, ())| format!("action:{}", key.strip_prefix(ACTION_PREFIX).unwrap_or(&key)))
            .collect();
        if actions.is_empty() {
            return Ok(Page {
                events: Vec::new(),
                next: None,
            });
        }
        streams.push(Stream::Terms(actions));
    }
    match (&q.resource_kind, &q.resource) {
        (Some(kind), Some(resource)) => {
            streams.push(Stream::Terms(vec![format!("res:{kind}/{resource}")]));
        }
        (Some(kind), None) => streams.push(Stream::Terms(vec![format!("kind:{kind}")])),
        // A name of any kind: the resource's term under each kind the log has.
        (None, Some(resource)) => streams.push(Stream::Terms(
            kinds(store)?
                .into_iter()
                .map(|kind| format!("res:{kind}/{resource}"))
                .collect(),
        )),
        (None, None) => {}
    }
    if let Some(space) = &q.space {
        streams.push(Stream::Terms(vec![format!("space:{space}")]));
    }
    if let Some(outcome) = q.outcome {
        streams.push(Stream::Terms(vec![format!("outcome:{}", outcome.as_str())]));
    }
    if streams.is_empty() {
        streams.push(Stream::All);
    }

    // Zig-zag: ask every stream for its largest member at or below the
    // target; when all agree it is a match, otherwise the smallest answer
    // becomes the next target.
    let mut found = Vec::with_capacity(limit);
    let mut target = upper;
    'search: while target >= lower {
        let mut candidate = target;
        let mut agreed = true;
        for stream in &streams {
            match stream.seek(store, candidate)? {
                None => break 'search,
                Some(seq) if seq < lower => break 'search,
                Some(seq) if seq < candidate => {
                    candidate = seq;
                    agreed = false;
                }
                Some(_) => {}
            }
        }
        if agreed {
            if let Some(event) = store.get(EVENTS, &seq_key(candidate))? {
                found.push(event);
                if found.len() == limit {
                    break;
                }
            }
            match candidate.checked_sub(1) {
                Some(next) => target = next,
                None => break,
            }
        } else {
            target = candidate;
        }
    }
    let next = (found.len() == limit)
        .then(|| found.last().map(|e| e.seq))
        .flatten()
        .filter(|seq| *seq > lower);
    Ok(Page {
        events: found,
        next,
    })
}

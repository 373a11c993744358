//! Filtered queries, newest first, with cursor paging. Every filterable
//! attribute of a sealed event is indexed as a term (`actor:alice`,
//! `action:token.create`, ...) in its block's postings; a query walks the
//! postings of its filters backwards in step (a zig-zag join), so it reads
//! only the keys near its answers however large the log is. The unsealed
//! tail (at most a block or two) is read and filtered directly.

use berth_core::Error;
use berth_store::Table;

use crate::ACTION_PREFIX;
use crate::AuditEvent;
use crate::layout::{self, BlockHeader, POSTING_PREFIX, RAW, ReadError, Reader};
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

/// A sorted set of sealed sequence numbers that can be searched backwards.
/// Each stream is asked for ever smaller bounds (the zig-zag only moves
/// down), so it keeps what it read last and reads on only when the bound
/// passes below it.
enum Stream {
    /// Every event; the block read last.
    All(Option<BlockHeader>),
    /// Events with any of these terms.
    Terms(Vec<TermCursor>),
}

/// Postings blocks read per seek of a term: one ordered scan of the index
/// instead of a seek per block, for terms found in most blocks.
const POSTINGS_READ: usize = 64;

struct TermCursor {
    term: String,
    /// Postings blocks read last, newest first, and how many of them the
    /// bound has already passed.
    blocks: Vec<(u64, Vec<u32>)>,
    next: usize,
    /// No postings of this term lie below the last of `blocks`.
    exhausted: bool,
}

impl TermCursor {
    fn new(term: String) -> TermCursor {
        TermCursor {
            term,
            blocks: Vec::new(),
            next: 0,
            exhausted: false,
        }
    }

    fn seek(&mut self, reader: &Reader<'_>, at_most: u64) -> Result<Option<u64>, ReadError> {
        loop {
            while let Some((first, offsets)) = self.blocks.get(self.next) {
                if *first <= at_most {
                    let limit = at_most - first;
                    // The largest offset at most `limit`.
                    let n = offsets.partition_point(|o| u64::from(*o) <= limit);
                    if n > 0 {
                        return Ok(Some(first + u64::from(offsets[n - 1])));
                    }
                }
                self.next += 1;
            }
            if self.exhausted {
                return Ok(None);
            }
            let bound = match self.blocks.last() {
                Some((first, _)) => match first.checked_sub(1) {
                    Some(below) => below.min(at_most),
                    None => return Ok(None),
                },
                None => at_most,
            };
            self.blocks = reader.postings_back(&self.term, bound, POSTINGS_READ)?;
            self.next = 0;
            self.exhausted = self.blocks.len() < POSTINGS_READ;
            if self.blocks.is_empty() {
                return Ok(None);
            }
        }
    }
}

impl Stream {
    /// The largest sealed sequence number in this stream that is at most
    /// `at_most`.
    fn seek(&mut self, reader: &Reader<'_>, at_most: u64) -> Result<Option<u64>, ReadError> {
        match self {
            Stream::All(last) => {
                let header = match last {
                    Some(h) if h.first <= at_most => *h,
                    _ => match reader.block_header_at_or_before(at_most)? {
                        Some(h) => {
                            *last = Some(h);
                            h
                        }
                        None => return Ok(None),
                    },
                };
                Ok(Some(at_most.min(header.end().saturating_sub(1))))
            }
            Stream::Terms(terms) => {
                let mut best = None;
                for term in terms {
                    best = best.max(term.seek(reader, at_most)?);
                }
                Ok(best)
            }
        }
    }
}

/// The first sequence number whose event is at or after `ns`: by binary
/// search over the blocks' headers (times only grow with the sequence),
/// then inside one block or over the tail.
pub(crate) fn first_seq_at_or_after(
    reader: &mut Reader<'_>,
    ns: u64,
) -> Result<Option<u64>, ReadError> {
    let (Some(first), Some(last)) = (reader.first_seq()?, reader.last_seq()?) else {
        return Ok(None);
    };
    let sealed_end = reader.sealed_end()?;
    let (mut lo, mut hi) = (first, sealed_end.max(first));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(h) = reader.block_header_at_or_before(mid)? else {
            lo = mid + 1;
            continue;
        };
        if h.last_time < ns {
            lo = h.end().max(mid + 1);
        } else if h.first_time >= ns {
            hi = h.first;
        } else if let Some(block) = reader.block(h.first)? {
            for seq in h.first..h.end() {
                let line = block.line(seq).unwrap_or_default();
                if layout::decode_event(seq, line)?.time_unix_nano >= ns {
                    return Ok(Some(seq));
                }
            }
            lo = h.end();
        } else {
            lo = h.end();
        }
    }
    if lo < sealed_end {
        return Ok(Some(lo));
    }
    // The tail: binary search over its events.
    let (mut lo, mut hi) = (lo.max(first), last + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // Events are contiguous but may have been damaged: use the nearest
        // one at or after `mid`.
        let found = reader
            .events_from(mid, 1)?
            .into_iter()
            .next()
            .filter(|(seq, _)| *seq <= last);
        match found {
            Some((seq, bytes)) if layout::decode_event(seq, &bytes)?.time_unix_nano >= ns => {
                hi = mid;
            }
            Some((seq, _)) => lo = seq + 1,
            None => hi = mid,
        }
    }
    Ok((lo <= last).then_some(lo))
}

/// The last sequence number whose event is at or before `ns`.
fn last_seq_at_or_before(reader: &mut Reader<'_>, ns: u64) -> Result<Option<u64>, ReadError> {
    match first_seq_at_or_after(reader, ns.saturating_add(1))? {
        Some(seq) => Ok(seq.checked_sub(1)),
        None => reader.last_seq(),
    }
}

impl crate::Audit {
    /// Runs a query. Filters are combined with AND.
    pub fn query(&self, q: &Query) -> Result<Page, Error> {
        // A seal moves events from the tail into a block: seen whole.
        let _whole = self.store().whole_batches();
        run(&mut Reader::new(self.store()), q).map_err(|e| match e {
            QueryError::Invalid(e) => e,
            QueryError::Read(e) => Error::internal(format!("audit query: {e}")),
        })
    }
}

enum QueryError {
    Invalid(Error),
    Read(ReadError),
}

impl From<ReadError> for QueryError {
    fn from(e: ReadError) -> Self {
        QueryError::Read(e)
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

/// Every resource kind the sealed log has an event of, by skipping from one
/// kind's postings to the next: a seek per kind, however many blocks each
/// has.
fn kinds(reader: &Reader<'_>) -> Result<Vec<String>, ReadError> {
    let prefix = format!("{POSTING_PREFIX}kind:");
    // The first key past every `kind:` term (';' follows ':').
    let end = format!("{POSTING_PREFIX}kind;");
    let mut kinds = Vec::new();
    let mut from = prefix.clone();
    while let Some((key, _)) = reader
        .store
        .range_raw(RAW, &from, &end, 1, false, 0)?
        .into_iter()
        .next()
    {
        let Some(kind) = key
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('\0').next())
        else {
            break;
        };
        // Past every key of this kind: they go on with '\0' and a number.
        from = format!("{prefix}{kind}\u{1}");
        kinds.push(kind.to_owned());
    }
    Ok(kinds)
}

/// The filters of a query as a test of one event, for the unsealed tail.
fn matches(e: &AuditEvent, q: &Query) -> bool {
    q.actor.as_ref().is_none_or(|a| e.actor.name == *a)
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

fn empty() -> Page {
    Page {
        events: Vec::new(),
        next: None,
    }
}

fn run(reader: &mut Reader<'_>, q: &Query) -> Result<Page, QueryError> {
    let q = &checked(q).map_err(QueryError::Invalid)?;
    let limit = q.limit.unwrap_or(100);
    let Some(mut upper) = reader.last_seq()? else {
        return Ok(empty());
    };
    let lower = match q.since {
        Some(since) => match first_seq_at_or_after(reader, since)? {
            Some(seq) => seq,
            None => return Ok(empty()),
        },
        None => 0,
    };
    if let Some(until) = q.until {
        match last_seq_at_or_before(reader, until)? {
            Some(seq) => upper = upper.min(seq),
            None => return Ok(empty()),
        }
    }
    if let Some(before) = q.before {
        match before.checked_sub(1) {
            Some(b) => upper = upper.min(b),
            None => return Ok(empty()),
        }
    }
    if upper < lower {
        return Ok(empty());
    }
    let mut found = Vec::with_capacity(limit);

    // The tail, newest first, filtered event by event. A seal running now
    // moves its oldest events into a block: what the scan no longer finds
    // in the tail is read from the blocks.
    let sealed_end = reader.sealed_end()?;
    let mut next = upper;
    if next >= sealed_end.max(lower) {
        let low = sealed_end.max(lower);
        'tail: loop {
            let chunk = reader.tail_entries_back(low, next, 256)?;
            let Some(&(oldest, _)) = chunk.last() else {
                break;
            };
            for (seq, bytes) in chunk {
                for missing in (seq + 1..=next).rev() {
                    if let Some(event) = reader.event(missing)?
                        && matches(&event, q)
                    {
                        found.push(event);
                        if found.len() == limit {
                            break 'tail;
                        }
                    }
                }
                let event = layout::decode_event(seq, &bytes)?;
                next = seq.saturating_sub(1);
                if matches(&event, q) {
                    found.push(event);
                    if found.len() == limit {
                        break 'tail;
                    }
                }
                if seq == 0 {
                    break 'tail;
                }
            }
            if oldest <= low {
                break;
            }
        }
        // Below what the tail still holds: what a seal took meanwhile.
        let now_sealed = reader.sealed_end()?;
        while found.len() < limit && next >= low && next < now_sealed {
            if let Some(event) = reader.event(next)?
                && matches(&event, q)
            {
                found.push(event);
            }
            if next == 0 {
                break;
            }
            next -= 1;
        }
        if found.len() == limit || next < lower || next == 0 {
            return Ok(finish(found, limit, lower));
        }
    }
    let upper = next.min(sealed_end.saturating_sub(1));
    if sealed_end == 0 || found.len() == limit {
        return Ok(finish(found, limit, lower));
    }

    let mut streams = Vec::new();
    if let Some(actor) = &q.actor {
        streams.push(Stream::Terms(vec![TermCursor::new(format!(
            "actor:{actor}"
        ))]));
    }
    if let Some(prefix) = &q.action {
        let actions: Vec<TermCursor> = reader
            .store
            .scan(ACTIONS, &format!("{ACTION_PREFIX}{prefix}"))
            .map_err(ReadError::Store)?
            .into_iter()
            .map(|(key, ())| {
                TermCursor::new(format!(
                    "action:{}",
                    key.strip_prefix(ACTION_PREFIX).unwrap_or(&key)
                ))
            })
            .collect();
        if actions.is_empty() {
            return Ok(finish(found, limit, lower));
        }
        streams.push(Stream::Terms(actions));
    }
    match (&q.resource_kind, &q.resource) {
        (Some(kind), Some(resource)) => {
            streams.push(Stream::Terms(vec![TermCursor::new(format!(
                "res:{kind}/{resource}"
            ))]));
        }
        (Some(kind), None) => {
            streams.push(Stream::Terms(vec![TermCursor::new(format!("kind:{kind}"))]));
        }
        // A name of any kind: the resource's term under each kind the log has.
        (None, Some(resource)) => streams.push(Stream::Terms(
            kinds(reader)?
                .into_iter()
                .map(|kind| TermCursor::new(format!("res:{kind}/{resource}")))
                .collect(),
        )),
        (None, None) => {}
    }
    if let Some(space) = &q.space {
        streams.push(Stream::Terms(vec![TermCursor::new(format!(
            "space:{space}"
        ))]));
    }
    if let Some(outcome) = q.outcome {
        streams.push(Stream::Terms(vec![TermCursor::new(format!(
            "outcome:{}",
            outcome.as_str()
        ))]));
    }
    if streams.is_empty() {
        streams.push(Stream::All(None));
    }

    // Zig-zag: ask every stream for its largest member at or below the
    // target; when all agree it is a match, otherwise the smallest answer
    // becomes the next target.
    let mut target = upper;
    'search: while target >= lower {
        let mut candidate = target;
        let mut agreed = true;
        for stream in &mut streams {
            match stream.seek(reader, candidate)? {
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
            if let Some(event) = reader.event(candidate)? {
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
    Ok(finish(found, limit, lower))
}

/// `ACTIONS` keys: `a/<action>` -> ().
const ACTIONS: Table<()> = Table::new(layout::TREE);

fn finish(found: Vec<AuditEvent>, limit: usize, lower: u64) -> Page {
    let next = (found.len() == limit)
        .then(|| found.last().map(|e| e.seq))
        .flatten()
        .filter(|seq| *seq > lower);
    Page {
        events: found,
        next,
    }
}

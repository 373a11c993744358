//! Sealing: the oldest tail events become a compressed block and their
//! postings, in one atomic batch that also removes their tail keys.
//!
//! Appends write one small key each (the event); everything else a query
//! needs is written here, once per block, off the writers' path.

use std::collections::BTreeMap;

use berth_store::Store;
use parking_lot::Mutex;

use crate::layout::{self, RAW, ReadError, Reader};
use crate::{AuditEvent, ChainPoint, HEAD, META, query};

/// The sealer's state, shared by the audit log and its background task.
pub(crate) struct Sealer {
    pub store: std::sync::Arc<Store>,
    /// Events per block.
    pub block_events: u32,
    /// Held while sealing or pruning: both rewrite the same old end of the
    /// tail.
    pub maintenance: Mutex<()>,
    /// The tail's first event as last seen, to decide when to wake.
    pub sealed_end: std::sync::atomic::AtomicU64,
    /// Set after a failure, so it is logged once, not once per append.
    pub stuck: std::sync::atomic::AtomicBool,
}

impl Sealer {
    /// Seals every full block the tail holds. Returns how many events were
    /// sealed.
    pub fn seal_ready(&self) -> Result<u64, ReadError> {
        let _guard = self.maintenance.lock();
        let mut sealed = 0;
        loop {
            let reader = Reader::new(&self.store);
            let start = match reader.block_header_at_or_before(u64::MAX)? {
                Some(h) => h.end(),
                None => match reader.first_seq()? {
                    Some(first) => first,
                    None => return Ok(sealed),
                },
            };
            self.sealed_end
                .store(start, std::sync::atomic::Ordering::SeqCst);
            let n = u64::from(self.block_events);
            let entries = reader.tail_entries_back(start, start + n - 1, n as usize)?;
            if entries.len() < n as usize {
                return Ok(sealed);
            }
            self.seal_block(start, entries)?;
            sealed += n;
            self.sealed_end
                .store(start + n, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Seals `entries` (newest first, consecutive from `start`) as one block.
    fn seal_block(&self, start: u64, mut entries: Vec<(u64, Vec<u8>)>) -> Result<(), ReadError> {
        entries.reverse();
        let mut events = Vec::with_capacity(entries.len());
        for (i, (seq, bytes)) in entries.iter().enumerate() {
            let event = layout::decode_event(*seq, bytes)?;
            if *seq != start + i as u64 || event.seq != *seq {
                return Err(ReadError::Corrupt(
                    start + i as u64,
                    format!("the tail is not consecutive here (found event {seq})"),
                ));
            }
            events.push(event);
        }
        let lines: Vec<Vec<u8>> = entries.into_iter().map(|(_, bytes)| bytes).collect();
        let mut batch = self.store.batch(RAW);
        write_block(&mut batch, start, &lines, &events)?;
        if let Some(last) = events.last() {
            batch
                .put(
                    META,
                    HEAD,
                    &ChainPoint {
                        seq: last.seq,
                        hash: last.hash.clone(),
                    },
                )
                .map_err(ReadError::Store)?;
        }
        for event in &events {
            batch.delete(RAW, &layout::seq_key(event.seq));
        }
        self.store.apply(batch)?;
        Ok(())
    }
}

/// The postings of a run of consecutive events, term by term.
pub(crate) fn postings(events: &[AuditEvent]) -> BTreeMap<String, Vec<u32>> {
    let mut postings: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (offset, event) in events.iter().enumerate() {
        for term in query::terms(event) {
            postings.entry(term).or_default().push(offset as u32);
        }
    }
    postings
}

/// Adds to `batch` the block of `events` (stored as `lines`) starting at
/// `first`, its postings and its actions.
pub(crate) fn write_block(
    batch: &mut berth_store::Batch,
    first: u64,
    lines: &[Vec<u8>],
    events: &[AuditEvent],
) -> Result<(), ReadError> {
    let (Some(head), Some(tail)) = (events.first(), events.last()) else {
        return Ok(());
    };
    let block = layout::encode_block(lines, head.time_unix_nano, tail.time_unix_nano)
        .map_err(|e| ReadError::Corrupt(first, format!("cannot compress the block: {e}")))?;
    batch.put_raw(RAW, &layout::block_key(first), &block);
    for (term, offsets) in postings(events) {
        batch.put_raw(
            RAW,
            &layout::posting_key(&term, first),
            &layout::encode_postings(&offsets),
        );
    }
    let actions: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.action.as_str()).collect();
    for action in actions {
        batch.put_raw(RAW, &format!("{}{action}", crate::ACTION_PREFIX), b"null");
    }
    Ok(())
}

/// Removes from `batch` the postings a block of `events` starting at
/// `first` wrote.
pub(crate) fn remove_postings(batch: &mut berth_store::Batch, first: u64, events: &[AuditEvent]) {
    for term in postings(events).into_keys() {
        batch.delete(RAW, &layout::posting_key(&term, first));
    }
}

//! How the log lies in its sled tree, and reading it back.
//!
//! The log is one tree (`audit`), its parts told apart by key prefix:
//!
//! - `e/<seq>`: an event not yet sealed (the tail), as JSON: what an append
//!   writes, one key in the same transaction as the change it records.
//! - `b/<first seq>`: a sealed block of consecutive events: a header (format,
//!   count, first and last event time) and the events' JSON lines, exactly
//!   the bytes the tail held, compressed with zstd.
//! - `p/<term>\0<first seq>`: the postings of one index term in one block:
//!   the offsets in the block of the events that have the term, as
//!   delta-coded varints.
//! - `a/<action>`: the distinct actions of sealed events, to expand an action
//!   prefix; `c/<seq>`: signed checkpoints; `m/…`: the anchor left by
//!   pruning, the last sealed event, the OTLP cursor.
//!
//! The sealer turns the oldest `block_events` tail events into a block, its
//! postings and the removal of their tail keys in one atomic batch, so every
//! event is at every moment either in the tail or in a block, never in
//! neither; readers look in the tail first and then in the blocks, so a seal
//! between the two reads cannot hide an event.

use std::sync::Arc;

use berth_store::{Store, StoreError, Table};

use crate::AuditEvent;

pub(crate) const TREE: &str = "audit";
/// Raw access to the tree, for the keys this module encodes itself.
pub(crate) const RAW: Table<()> = Table::new(TREE);

pub(crate) const EVENT_PREFIX: &str = "e/";
/// The first key past every event key ('0' sorts right after '/').
pub(crate) const EVENT_END: &str = "e0";
pub(crate) const BLOCK_PREFIX: &str = "b/";
pub(crate) const BLOCK_END: &str = "b0";
pub(crate) const POSTING_PREFIX: &str = "p/";

pub(crate) fn seq_key(seq: u64) -> String {
    format!("{EVENT_PREFIX}{seq:016x}")
}

pub(crate) fn block_key(first: u64) -> String {
    format!("{BLOCK_PREFIX}{first:016x}")
}

pub(crate) fn posting_key(term: &str, first: u64) -> String {
    format!("{POSTING_PREFIX}{term}\0{first:016x}")
}

pub(crate) fn posting_prefix(term: &str) -> String {
    format!("{POSTING_PREFIX}{term}\0")
}

fn hex_suffix(key: &str) -> Option<u64> {
    let (_, hex) = key.split_at_checked(key.len().checked_sub(16)?)?;
    u64::from_str_radix(hex, 16).ok()
}

/// The format byte that starts every block.
const BLOCK_FORMAT: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 8 + 8;
/// zstd's level for blocks: sealing runs beside the writers, so a level that
/// compresses these JSON lines nearly as well as the slow ones, fast.
const ZSTD_LEVEL: i32 = 3;
/// What a block says of itself without being decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub first: u64,
    pub count: u32,
    pub first_time: u64,
    pub last_time: u64,
}

impl BlockHeader {
    /// One past the block's last sequence number.
    pub fn end(&self) -> u64 {
        self.first + u64::from(self.count)
    }

    fn decode(first: u64, bytes: &[u8]) -> Option<BlockHeader> {
        if bytes.len() < HEADER_LEN || bytes[0] != BLOCK_FORMAT {
            return None;
        }
        let u64_at = |at: usize| bytes[at..at + 8].try_into().ok().map(u64::from_le_bytes);
        Some(BlockHeader {
            first,
            count: u32::from_le_bytes(bytes[1..5].try_into().ok()?),
            first_time: u64_at(5)?,
            last_time: u64_at(13)?,
        })
    }
}

/// Encodes a block of consecutive events given as their stored JSON.
pub(crate) fn encode_block(
    lines: &[Vec<u8>],
    first_time: u64,
    last_time: u64,
) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let mut out = Vec::with_capacity(HEADER_LEN + text.len() / 4);
    out.push(BLOCK_FORMAT);
    out.extend_from_slice(&u32::try_from(lines.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&first_time.to_le_bytes());
    out.extend_from_slice(&last_time.to_le_bytes());
    out.extend_from_slice(&zstd::bulk::compress(&text, ZSTD_LEVEL)?);
    Ok(out)
}

/// A decompressed block: its events' JSON lines.
#[derive(Debug)]
pub(crate) struct Block {
    pub header: BlockHeader,
    text: Vec<u8>,
    /// Where each event's line starts and ends in `text`.
    lines: Vec<(usize, usize)>,
}

impl Block {
    fn decode(header: BlockHeader, bytes: &[u8]) -> Option<Block> {
        let text = zstd::stream::decode_all(&bytes[HEADER_LEN..]).ok()?;
        let mut lines = Vec::with_capacity(header.count as usize);
        let mut start = 0;
        for (i, b) in text.iter().enumerate() {
            if *b == b'\n' {
                lines.push((start, i));
                start = i + 1;
            }
        }
        (lines.len() == header.count as usize && start == text.len()).then_some(Block {
            header,
            text,
            lines,
        })
    }

    /// The stored JSON of event `seq`, if this block holds it.
    pub fn line(&self, seq: u64) -> Option<&[u8]> {
        let index = usize::try_from(seq.checked_sub(self.header.first)?).ok()?;
        let (start, end) = *self.lines.get(index)?;
        Some(&self.text[start..end])
    }
}

/// Delta-coded LEB128 varints of ascending offsets.
pub(crate) fn encode_postings(offsets: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(offsets.len() + 2);
    let mut last = 0;
    for (i, &offset) in offsets.iter().enumerate() {
        let mut delta = if i == 0 { offset } else { offset - last };
        last = offset;
        loop {
            let byte = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

pub(crate) fn decode_postings(bytes: &[u8]) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut value: u32 = 0;
    let mut shift = 0;
    let mut last: u32 = 0;
    for &byte in bytes {
        value |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            last = if out.is_empty() {
                value
            } else {
                last.checked_add(value)?
            };
            out.push(last);
            value = 0;
            shift = 0;
        } else {
            shift += 7;
            if shift > 28 {
                return None;
            }
        }
    }
    (shift == 0).then_some(out)
}

/// Why the log could not be read at some point.
#[derive(Debug)]
pub(crate) enum ReadError {
    Store(StoreError),
    /// Stored bytes that do not decode: the first sequence number they
    /// cover, and what is wrong.
    Corrupt(u64, String),
}

impl From<StoreError> for ReadError {
    fn from(err: StoreError) -> Self {
        ReadError::Store(err)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Store(err) => write!(f, "{}", berth_core::error::chain(err)),
            ReadError::Corrupt(seq, what) => write!(f, "at event {seq}: {what}"),
        }
    }
}

pub(crate) fn decode_event(seq: u64, bytes: &[u8]) -> Result<AuditEvent, ReadError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ReadError::Corrupt(seq, format!("the event cannot be decoded: {e}")))
}

/// Reads the log, keeping the block it read last: one reader per query or
/// walk, so reading many events of one block decompresses it once.
pub(crate) struct Reader<'a> {
    pub store: &'a Store,
    block: Option<Arc<Block>>,
}

impl<'a> Reader<'a> {
    pub fn new(store: &'a Store) -> Reader<'a> {
        Reader { store, block: None }
    }

    /// The header of the last block whose first event is at most `seq`.
    pub fn block_header_at_or_before(&self, seq: u64) -> Result<Option<BlockHeader>, ReadError> {
        self.header_between(&block_key(0), &block_key(seq), true)
    }

    /// The header of the first block whose first event is at least `seq`.
    pub fn block_header_at_or_after(&self, seq: u64) -> Result<Option<BlockHeader>, ReadError> {
        self.header_between(&block_key(seq), BLOCK_END, false)
    }

    fn header_between(
        &self,
        start: &str,
        end: &str,
        last: bool,
    ) -> Result<Option<BlockHeader>, ReadError> {
        let found = if last {
            self.store.last_raw_between(RAW, start, end, HEADER_LEN)?
        } else {
            self.store
                .range_raw(RAW, start, end, 1, false, HEADER_LEN)?
                .into_iter()
                .next()
        };
        let Some((key, bytes)) = found else {
            return Ok(None);
        };
        let first = hex_suffix(&key).unwrap_or(0);
        BlockHeader::decode(first, &bytes)
            .map(Some)
            .ok_or_else(|| ReadError::Corrupt(first, "a block's header is damaged".to_owned()))
    }

    /// One past the last sealed event: where the tail begins.
    pub fn sealed_end(&self) -> Result<u64, ReadError> {
        Ok(self
            .block_header_at_or_before(u64::MAX)?
            .map_or(0, |h| h.end()))
    }

    /// The block whose first event is `first`, decompressed.
    pub fn block(&mut self, first: u64) -> Result<Option<Arc<Block>>, ReadError> {
        if let Some(block) = &self.block
            && block.header.first == first
        {
            return Ok(Some(block.clone()));
        }
        let Some(bytes) = self.store.get_raw(RAW, &block_key(first))? else {
            return Ok(None);
        };
        let damaged = || ReadError::Corrupt(first, "a sealed block cannot be decoded".to_owned());
        let header = BlockHeader::decode(first, &bytes).ok_or_else(damaged)?;
        let block = Arc::new(Block::decode(header, &bytes).ok_or_else(damaged)?);
        self.block = Some(block.clone());
        Ok(Some(block))
    }

    /// The block that holds `seq`, if a block does.
    pub fn block_holding(&mut self, seq: u64) -> Result<Option<Arc<Block>>, ReadError> {
        if let Some(block) = &self.block
            && (block.header.first..block.header.end()).contains(&seq)
        {
            return Ok(Some(block.clone()));
        }
        match self.block_header_at_or_before(seq)? {
            Some(header) if seq < header.end() => self.block(header.first),
            _ => Ok(None),
        }
    }

    /// The stored JSON of event `seq`: from the tail, else from a block
    /// (in this order, so that a seal in between cannot hide it).
    pub fn event_bytes(&mut self, seq: u64) -> Result<Option<Vec<u8>>, ReadError> {
        if let Some(bytes) = self.store.get_raw(RAW, &seq_key(seq))? {
            return Ok(Some(bytes));
        }
        Ok(self
            .block_holding(seq)?
            .and_then(|b| b.line(seq).map(<[u8]>::to_vec)))
    }

    pub fn event(&mut self, seq: u64) -> Result<Option<AuditEvent>, ReadError> {
        match self.event_bytes(seq)? {
            Some(bytes) => decode_event(seq, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Up to `limit` events from `from` on, in sequence order: the blocks
    /// first, then the tail. Read under [`Store::whole_batches`], so a seal
    /// that moves events from the tail into a block lands before or after
    /// the read, never in its middle: a gap in what is returned is an event
    /// really missing, for `verify` to name.
    pub fn events_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, ReadError> {
        let _whole = self.store.whole_batches();
        let mut out = Vec::new();
        let mut next = from;
        // Blocks first: the one holding `next`, then those after it.
        let mut header = match self.block_header_at_or_before(next)? {
            Some(h) if next < h.end() => Some(h),
            _ => self.block_header_at_or_after(next)?,
        };
        while let Some(h) = header {
            let Some(block) = self.block(h.first)? else {
                break;
            };
            let start = next.max(h.first);
            for seq in start..h.end() {
                if out.len() == limit {
                    return Ok(out);
                }
                if let Some(line) = block.line(seq) {
                    out.push((seq, line.to_vec()));
                }
            }
            next = h.end();
            header = self.block_header_at_or_after(next)?;
        }
        let tail = self.store.range_raw(
            RAW,
            &seq_key(next),
            EVENT_END,
            limit - out.len(),
            false,
            usize::MAX,
        )?;
        for (key, bytes) in tail {
            out.push((hex_suffix(&key).unwrap_or(0), bytes));
        }
        Ok(out)
    }

    /// The first stored event's sequence number.
    pub fn first_seq(&self) -> Result<Option<u64>, ReadError> {
        let block = self.block_header_at_or_after(0)?.map(|h| h.first);
        let tail = self
            .store
            .range_raw(RAW, &seq_key(0), EVENT_END, 1, false, 0)?
            .first()
            .and_then(|(k, _)| hex_suffix(k));
        Ok(match (block, tail) {
            (Some(b), Some(t)) => Some(b.min(t)),
            (b, t) => b.or(t),
        })
    }

    /// The last stored event's sequence number.
    pub fn last_seq(&self) -> Result<Option<u64>, ReadError> {
        if let Some((key, _)) =
            self.store
                .last_raw_between(RAW, &seq_key(0), &seq_key(u64::MAX), 0)?
        {
            return Ok(hex_suffix(&key));
        }
        Ok(self
            .block_header_at_or_before(u64::MAX)?
            .and_then(|h| h.end().checked_sub(1)))
    }

    /// Up to `limit` tail events in `[low, high]`, newest first, undecoded.
    pub fn tail_entries_back(
        &self,
        low: u64,
        high: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, ReadError> {
        if high < low {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .range_raw(
                RAW,
                &seq_key(low),
                &seq_key(high.saturating_add(1)),
                limit,
                true,
                usize::MAX,
            )?
            .into_iter()
            .map(|(k, v)| (hex_suffix(&k).unwrap_or(0), v))
            .collect())
    }

    /// The postings of `term` in up to `limit` blocks, the last of them the
    /// last block at or before `at_most` that has any, newest first: each
    /// block's first sequence number and the term's offsets in it.
    pub fn postings_back(
        &self,
        term: &str,
        at_most: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u32>)>, ReadError> {
        let mut end = posting_key(term, at_most);
        // The range's end is exclusive: one past `at_most`'s key.
        end.push('\0');
        self.store
            .range_raw(RAW, &posting_prefix(term), &end, limit, true, usize::MAX)?
            .into_iter()
            .map(|(key, bytes)| {
                let first = hex_suffix(&key).unwrap_or(0);
                decode_postings(&bytes)
                    .map(|offsets| (first, offsets))
                    .ok_or_else(|| {
                        ReadError::Corrupt(first, format!("the postings of {term} are damaged"))
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip() {
        for offsets in [
            vec![],
            vec![0],
            vec![0, 1, 2, 200, 201, 65_535, 1_000_000],
            (0..4096).step_by(3).collect::<Vec<u32>>(),
        ] {
            let bytes = encode_postings(&offsets);
            assert_eq!(decode_postings(&bytes), Some(offsets));
        }
        // A varint cut short is refused, not read as a smaller number.
        assert_eq!(decode_postings(&[0x80]), None);
    }

    #[test]
    fn blocks_round_trip_and_refuse_damage() {
        let lines: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect();
        let bytes = encode_block(&lines, 10, 50).expect("encode");
        let header = BlockHeader::decode(7, &bytes).expect("header");
        assert_eq!(
            header,
            BlockHeader {
                first: 7,
                count: 5,
                first_time: 10,
                last_time: 50
            }
        );
        let block = Block::decode(header, &bytes).expect("block");
        assert_eq!(block.line(9), Some(&b"{\"n\":2}"[..]));
        assert_eq!(block.line(12), None);
        assert_eq!(block.line(6), None);
        let mut short = header;
        short.count = 4;
        assert!(Block::decode(short, &bytes).is_none());
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 3);
        assert!(Block::decode(header, &cut).is_none());
    }
}

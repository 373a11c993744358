//! Content-defined chunks (FastCDC): cut points follow the content, so an
//! edit in the middle of a large file changes only the chunks around it
//! and the rest are found again on the other side.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const MIN_CHUNK: u32 = 16 * 1024;
pub const AVG_CHUNK: u32 = 64 * 1024;
pub const MAX_CHUNK: u32 = 256 * 1024;

/// A basis longer than this is cut short (a file over about 2.5 GiB):
/// the rest of the file then travels whole, and the message stays small.
pub const MAX_BASIS: usize = 40_000;

/// One chunk of a file: where it is, and a hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSig {
    pub offset: u64,
    pub len: u64,
    /// The first 16 bytes of the chunk's BLAKE3, hex. The whole file's
    /// hash is checked when a transfer ends, so a collision cannot go
    /// unnoticed.
    pub hash: String,
}

pub fn chunk_hash(bytes: &[u8]) -> String {
    let hash = blake3::hash(bytes);
    hash.to_hex()[..32].to_owned()
}

/// The chunks of a stream of bytes, each with its data, in order.
pub fn chunks<R: Read>(reader: R) -> impl Iterator<Item = std::io::Result<(ChunkSig, Vec<u8>)>> {
    fastcdc::v2020::StreamCDC::new(reader, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK).map(|chunk| {
        let chunk = chunk.map_err(|e| match e {
            fastcdc::v2020::Error::IoError(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
        let sig = ChunkSig {
            offset: chunk.offset,
            len: chunk.length as u64,
            hash: chunk_hash(&chunk.data),
        };
        Ok((sig, chunk.data))
    })
}

/// The chunk list of a file on disk; empty when there is none.
pub fn basis(path: &Path) -> std::io::Result<Vec<ChunkSig>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(Vec::new());
    }
    chunks(std::io::BufReader::with_capacity(1 << 20, file))
        .take(MAX_BASIS)
        .map(|c| c.map(|(sig, _)| sig))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn an_edit_in_the_middle_changes_few_chunks() {
        let original = pseudo_random(4 << 20, 7);
        let mut edited = original.clone();
        edited.splice(
            2 << 20..(2 << 20) + 10,
            b"inserted, longer text".iter().copied(),
        );
        let before: Vec<ChunkSig> = chunks(&original[..]).map(|c| c.expect("chunk").0).collect();
        let after: Vec<ChunkSig> = chunks(&edited[..]).map(|c| c.expect("chunk").0).collect();
        let known: std::collections::HashSet<&str> =
            before.iter().map(|c| c.hash.as_str()).collect();
        let new: Vec<&ChunkSig> = after
            .iter()
            .filter(|c| !known.contains(c.hash.as_str()))
            .collect();
        assert!(!new.is_empty());
        let new_bytes: u64 = new.iter().map(|c| c.len).sum();
        assert!(
            new_bytes <= 2 * u64::from(MAX_CHUNK),
            "{new_bytes} bytes changed"
        );
        // Chunks cover the file exactly.
        assert_eq!(
            after.iter().map(|c| c.len).sum::<u64>(),
            edited.len() as u64
        );
    }
}

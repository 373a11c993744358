//! What travels on a sync stream (opaque to the relay): messages, each
//! `u32 length | u8 tag | body`. Tag 0 is a JSON [`Control`] message, tag 1
//! a block of file content, tag 2 the same block compressed with zstd. A
//! message may span DATA frames; [`Decoder`] buffers until it is whole.

use serde::{Deserialize, Serialize};

use crate::chunk::ChunkSig;
use crate::path::SyncPath;
use crate::scan::Entry;

/// The largest message accepted; larger ones are refused as hostile.
pub const MAX_MESSAGE: usize = 4 << 20;

/// Index entries per [`Control::Index`] message, so one stays far below
/// [`MAX_MESSAGE`] however many files a tree holds.
pub const INDEX_BATCH: usize = 1000;

/// The sync protocol's version, checked when a stream opens.
pub const VERSION: u32 = 1;

/// Control messages. Ids name one operation; the receiver of a `Begin`,
/// `Clone`, `Make` or `Remove` answers with a `Done` for the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// The agent's tree when the stream opens, in batches; `last` ends it.
    Index {
        entries: Vec<(SyncPath, Entry)>,
        last: bool,
    },
    /// What the agent's watcher saw change: the new entry, or none when the
    /// path is gone.
    Changed {
        entries: Vec<(SyncPath, Option<Entry>)>,
    },
    /// "Send me this file." `basis` lists the chunks of the version the
    /// asker has, so only the others travel.
    Want {
        id: u64,
        path: SyncPath,
        basis: Vec<ChunkSig>,
    },
    /// "I am about to change this file; what do you have?" Answered with a
    /// `Want` carrying the basis.
    Offer {
        id: u64,
        path: SyncPath,
    },
    /// A file's content follows as `Copy` and data messages, until `End`.
    Begin {
        id: u64,
        path: SyncPath,
        entry: Entry,
    },
    /// Bytes the receiver already has in its current version of the file.
    Copy {
        offset: u64,
        len: u64,
    },
    End {
        id: u64,
    },
    /// The receiver has this content at `from`: copy it (a rename, a
    /// duplicate).
    Clone {
        id: u64,
        path: SyncPath,
        entry: Entry,
        from: SyncPath,
    },
    /// A folder, a symbolic link, or a new mode for a file whose content
    /// the receiver already has.
    Make {
        id: u64,
        path: SyncPath,
        entry: Entry,
    },
    Remove {
        id: u64,
        path: SyncPath,
    },
    Done {
        id: u64,
        path: SyncPath,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The CLI's first sync is done: the agent may start the dev command.
    Synced,
    /// The sender gives up on the stream; the reason.
    Fatal {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Control(Control),
    /// Content for the transfer in progress.
    Data(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("a sync message of {0} bytes is over the limit of {MAX_MESSAGE}")]
    TooLarge(usize),
    #[error("unknown sync message tag {0}")]
    UnknownTag(u8),
    #[error("a sync message is not valid: {0}")]
    BadControl(String),
    #[error("a compressed block does not decompress: {0}")]
    BadCompression(String),
}

/// Below this size a block is sent as is; compressing it does not pay.
const COMPRESS_FROM: usize = 512;

impl Message {
    /// Encodes a message. Content blocks are compressed when that makes
    /// them at least an eighth smaller.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Control(control) => {
                let body = serde_json::to_vec(control).unwrap_or_default();
                frame(0, &body)
            }
            Message::Data(bytes) => {
                if bytes.len() >= COMPRESS_FROM
                    && compressible(bytes)
                    && let Some(packed) = compress(bytes)
                    && packed.len() < bytes.len() - bytes.len() / 8
                {
                    return frame(2, &packed);
                }
                frame(1, bytes)
            }
        }
    }

    pub fn control(control: Control) -> Message {
        Message::Control(control)
    }
}

/// Whether a block looks worth compressing, from a sample of its start:
/// media, archives and random data are sent as they are without spending
/// a full compression on them.
fn compressible(bytes: &[u8]) -> bool {
    const SAMPLE: usize = 4096;
    if bytes.len() <= SAMPLE * 2 {
        return true;
    }
    compress(&bytes[..SAMPLE]).is_some_and(|packed| packed.len() < SAMPLE - SAMPLE / 8)
}

/// A compressed block, with one decompressor per thread; nothing larger
/// than a message comes out.
fn decompress(body: &[u8]) -> Result<Vec<u8>, WireError> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        let decompressor = slot
            .as_mut()
            .ok_or_else(|| WireError::BadCompression("no decompressor".to_owned()))?;
        decompressor
            .decompress(body, MAX_MESSAGE)
            .map_err(|e| WireError::BadCompression(e.to_string()))
    })
}

/// zstd at level 1, with one compressor per thread (making a context per
/// block costs more than compressing a small one).
fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(1).ok();
        }
        slot.as_mut()?.compress(bytes).ok()
    })
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&(body.len() as u32 + 1).to_be_bytes());
    out.push(tag);
    out.extend_from_slice(body);
    out
}

/// Reassembles messages from stream data.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
    start: usize,
}

impl Decoder {
    /// Adds `data` and returns every message now whole.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Message>, WireError> {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        self.buffer.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            let pending = &self.buffer[self.start..];
            if pending.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]) as usize;
            if len == 0 || len > MAX_MESSAGE + 1 {
                return Err(WireError::TooLarge(len));
            }
            if pending.len() < 4 + len {
                break;
            }
            let tag = pending[4];
            let body = &pending[5..4 + len];
            out.push(match tag {
                0 => Message::Control(
                    serde_json::from_slice(body)
                        .map_err(|e| WireError::BadControl(e.to_string()))?,
                ),
                1 => Message::Data(body.to_vec()),
                2 => Message::Data(decompress(body)?),
                other => return Err(WireError::UnknownTag(other)),
            });
            self.start += 4 + len;
        }
        if self.start > 0 && self.start * 2 > self.buffer.len() {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Kind;

    fn path(p: &str) -> SyncPath {
        SyncPath::try_from(p.to_owned()).expect("path")
    }

    #[test]
    fn messages_survive_any_split() {
        let entry = Entry {
            kind: Kind::File,
            size: 3,
            mtime_ns: 1,
            mode: 0o644,
            hash: Some("ab".into()),
            target: None,
        };
        let messages = vec![
            Message::Control(Control::Begin {
                id: 7,
                path: path("src/a.rs"),
                entry,
            }),
            Message::Data(b"plain".to_vec()),
            Message::Data(vec![b'x'; 64 * 1024]),
            Message::Control(Control::End { id: 7 }),
        ];
        let bytes: Vec<u8> = messages.iter().flat_map(Message::encode).collect();
        // The repetitive block went compressed.
        assert!(bytes.len() < 16 * 1024, "{}", bytes.len());
        for step in [1, 3, 7, 1000, bytes.len()] {
            let mut decoder = Decoder::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(step) {
                got.extend(decoder.push(piece).expect("decode"));
            }
            assert_eq!(got, messages, "split every {step} bytes");
        }
    }

    #[test]
    fn hostile_messages_are_refused_by_name() {
        let escaping = br#"{"type":"remove","id":1,"path":"../etc/passwd"}"#;
        let err = Decoder::default()
            .push(&frame(0, escaping))
            .expect_err("escaping path");
        assert!(err.to_string().contains("`..`"), "{err}");
        let absolute = br#"{"type":"remove","id":1,"path":"/etc/passwd"}"#;
        let err = Decoder::default()
            .push(&frame(0, absolute))
            .expect_err("absolute path");
        assert!(err.to_string().contains("absolute"), "{err}");
        let err = Decoder::default()
            .push(&u32::MAX.to_be_bytes())
            .expect_err("huge");
        assert!(matches!(err, WireError::TooLarge(_)), "{err}");
        let err = Decoder::default().push(&frame(9, b"")).expect_err("tag");
        assert_eq!(err, WireError::UnknownTag(9));
        let err = Decoder::default()
            .push(&frame(2, b"not zstd"))
            .expect_err("compression");
        assert!(matches!(err, WireError::BadCompression(_)), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn the_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Decoder::default().push(&bytes);
        }
    }
}

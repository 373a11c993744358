//! Frames: the unit on the wire. One binary WebSocket message is one frame.
//!
//! ```text
//! u8 type | type-specific fields, integers big-endian
//! 0x01 HELLO   u32 json_len | json            (handshake, not sequenced)
//! 0x02 WELCOME u32 json_len | json            (handshake, not sequenced)
//! 0x03 ACK     u64 seq                        (everything up to seq arrived)
//! 0x10 OPEN    u64 seq | u32 stream | u8 kind | u32 window | u32 meta_len | meta json
//! 0x11 DATA    u64 seq | u32 stream | payload (to the end of the message)
//! 0x12 CREDIT  u64 seq | u32 stream | u32 bytes
//! 0x13 CLOSE   u64 seq | u32 stream           (the sender sends no more data)
//! 0x14 RESET   u64 seq | u32 stream | u16 code | reason (utf-8, to the end)
//! ```
//!
//! The relay reads the type, sequence number, stream id, and an OPEN's kind
//! and metadata; DATA payloads are opaque to it.

use serde_json::Value;

/// The most a frame may carry, header included. Senders split data to stay
/// well under it; receivers refuse anything larger.
pub const MAX_FRAME: usize = 1 << 20;
/// The data a sender puts in one DATA frame.
pub const MAX_DATA: usize = 64 * 1024;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamKind {
    /// Heartbeats and events for the session (a space's sleep warning).
    Control,
    /// A TCP connection to a port in the dev container, or to a service
    /// the container reaches.
    PortForward,
    /// A command, with or without a pseudo-terminal.
    Exec,
    /// File sync.
    Sync,
    /// A reverse forward's listener on the container's loopback, opened
    /// by the CLI; it lasts as long as the stream.
    Listen,
    /// One connection a reverse forward's listener accepted, opened by the
    /// agent toward the CLI.
    Reverse,
    /// An SSH connection to the agent's SSH server (`berth ssh`).
    Ssh,
}

impl StreamKind {
    fn code(self) -> u8 {
        match self {
            StreamKind::Control => 0,
            StreamKind::PortForward => 1,
            StreamKind::Exec => 2,
            StreamKind::Sync => 3,
            StreamKind::Listen => 4,
            StreamKind::Reverse => 5,
            StreamKind::Ssh => 6,
        }
    }

    fn from_code(code: u8) -> Result<StreamKind, FrameError> {
        Ok(match code {
            0 => StreamKind::Control,
            1 => StreamKind::PortForward,
            2 => StreamKind::Exec,
            3 => StreamKind::Sync,
            4 => StreamKind::Listen,
            5 => StreamKind::Reverse,
            6 => StreamKind::Ssh,
            other => return Err(FrameError::UnknownKind(other)),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Hello(Value),
    Welcome(Value),
    Ack {
        seq: u64,
    },
    Open {
        seq: u64,
        stream: u32,
        kind: StreamKind,
        window: u32,
        meta: Value,
    },
    Data {
        seq: u64,
        stream: u32,
        data: Vec<u8>,
    },
    Credit {
        seq: u64,
        stream: u32,
        bytes: u32,
    },
    Close {
        seq: u64,
        stream: u32,
    },
    Reset {
        seq: u64,
        stream: u32,
        code: u16,
        reason: String,
    },
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("an empty message is not a frame")]
    Empty,
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME}")]
    TooLarge(usize),
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("{what} frame is cut short: it needs {needed} bytes and has {got}")]
    Truncated {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("{what} frame has {0} bytes after its end", what = .1)]
    Trailing(usize, &'static str),
    #[error("unknown stream kind {0}")]
    UnknownKind(u8),
    #[error("{what} carries JSON that does not parse: {error}")]
    BadJson { what: &'static str, error: String },
    #[error("a RESET reason is not UTF-8")]
    BadReason,
    #[error("stream 0 is the session's own and carries no {0}")]
    StreamZero(&'static str),
}

impl Frame {
    /// Whether the frame takes part in sequencing (and so in replay).
    pub fn seq(&self) -> Option<u64> {
        match self {
            Frame::Hello(_) | Frame::Welcome(_) | Frame::Ack { .. } => None,
            Frame::Open { seq, .. }
            | Frame::Data { seq, .. }
            | Frame::Credit { seq, .. }
            | Frame::Close { seq, .. }
            | Frame::Reset { seq, .. } => Some(*seq),
        }
    }

    pub fn stream(&self) -> Option<u32> {
        match self {
            Frame::Hello(_) | Frame::Welcome(_) | Frame::Ack { .. } => None,
            Frame::Open { stream, .. }
            | Frame::Data { stream, .. }
            | Frame::Credit { stream, .. }
            | Frame::Close { stream, .. }
            | Frame::Reset { stream, .. } => Some(*stream),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(match self {
            Frame::Data { data, .. } => 13 + data.len(),
            _ => 64,
        });
        let json = |out: &mut Vec<u8>, v: &Value| {
            let text = v.to_string();
            out.extend_from_slice(&(text.len() as u32).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        };
        let head = |out: &mut Vec<u8>, ty: u8, seq: u64, stream: u32| {
            out.push(ty);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&stream.to_be_bytes());
        };
        match self {
            Frame::Hello(v) => {
                out.push(0x01);
                json(&mut out, v);
            }
            Frame::Welcome(v) => {
                out.push(0x02);
                json(&mut out, v);
            }
            Frame::Ack { seq } => {
                out.push(0x03);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Frame::Open {
                seq,
                stream,
                kind,
                window,
                meta,
            } => {
                head(&mut out, 0x10, *seq, *stream);
                out.push(kind.code());
                out.extend_from_slice(&window.to_be_bytes());
                json(&mut out, meta);
            }
            Frame::Data { seq, stream, data } => {
                head(&mut out, 0x11, *seq, *stream);
                out.extend_from_slice(data);
            }
            Frame::Credit { seq, stream, bytes } => {
                head(&mut out, 0x12, *seq, *stream);
                out.extend_from_slice(&bytes.to_be_bytes());
            }
            Frame::Close { seq, stream } => head(&mut out, 0x13, *seq, *stream),
            Frame::Reset {
                seq,
                stream,
                code,
                reason,
            } => {
                head(&mut out, 0x14, *seq, *stream);
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > MAX_FRAME {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        let (&ty, rest) = bytes.split_first().ok_or(FrameError::Empty)?;
        let mut r = Reader {
            bytes: rest,
            what: name(ty)?,
        };
        let frame = match ty {
            0x01 => Frame::Hello(r.json()?),
            0x02 => Frame::Welcome(r.json()?),
            0x03 => Frame::Ack { seq: r.u64()? },
            _ => {
                let seq = r.u64()?;
                let stream = r.u32()?;
                if stream == 0 {
                    return Err(FrameError::StreamZero(r.what));
                }
                match ty {
                    0x10 => {
                        let kind = StreamKind::from_code(r.u8()?)?;
                        let window = r.u32()?;
                        let meta = r.json()?;
                        Frame::Open {
                            seq,
                            stream,
                            kind,
                            window,
                            meta,
                        }
                    }
                    0x11 => Frame::Data {
                        seq,
                        stream,
                        data: r.rest().to_vec(),
                    },
                    0x12 => Frame::Credit {
                        seq,
                        stream,
                        bytes: r.u32()?,
                    },
                    0x13 => Frame::Close { seq, stream },
                    _ => {
                        let code = r.u16()?;
                        let reason = String::from_utf8(r.rest().to_vec())
                            .map_err(|_| FrameError::BadReason)?;
                        Frame::Reset {
                            seq,
                            stream,
                            code,
                            reason,
                        }
                    }
                }
            }
        };
        if !r.bytes.is_empty() {
            return Err(FrameError::Trailing(r.bytes.len(), r.what));
        }
        Ok(frame)
    }
}

/// What the relay reads of a frame: everything but a DATA payload, which it
/// forwards untouched.
#[derive(Debug, Clone, PartialEq)]
pub enum Header {
    /// HELLO, WELCOME, ACK, CREDIT, CLOSE: nothing the relay acts on.
    Plain {
        seq: Option<u64>,
        stream: Option<u32>,
    },
    Data {
        seq: u64,
        stream: u32,
        len: usize,
    },
    Open {
        seq: u64,
        stream: u32,
        kind: StreamKind,
        meta: Value,
    },
    Reset {
        seq: u64,
        stream: u32,
    },
    Close {
        seq: u64,
        stream: u32,
    },
}

impl Header {
    /// Reads a frame's header; a DATA payload is not copied. The rest of
    /// the frame is checked as [`Frame::decode`] would.
    pub fn peek(bytes: &[u8]) -> Result<Header, FrameError> {
        if bytes.first() == Some(&0x11) {
            if bytes.len() > MAX_FRAME {
                return Err(FrameError::TooLarge(bytes.len()));
            }
            let mut r = Reader {
                bytes: &bytes[1..],
                what: "DATA",
            };
            let seq = r.u64()?;
            let stream = r.u32()?;
            if stream == 0 {
                return Err(FrameError::StreamZero("DATA"));
            }
            return Ok(Header::Data {
                seq,
                stream,
                len: r.bytes.len(),
            });
        }
        Ok(match Frame::decode(bytes)? {
            Frame::Open {
                seq,
                stream,
                kind,
                meta,
                ..
            } => Header::Open {
                seq,
                stream,
                kind,
                meta,
            },
            Frame::Reset { seq, stream, .. } => Header::Reset { seq, stream },
            Frame::Close { seq, stream } => Header::Close { seq, stream },
            other => Header::Plain {
                seq: other.seq(),
                stream: other.stream(),
            },
        })
    }
}

fn name(ty: u8) -> Result<&'static str, FrameError> {
    Ok(match ty {
        0x01 => "HELLO",
        0x02 => "WELCOME",
        0x03 => "ACK",
        0x10 => "OPEN",
        0x11 => "DATA",
        0x12 => "CREDIT",
        0x13 => "CLOSE",
        0x14 => "RESET",
        other => return Err(FrameError::UnknownType(other)),
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.bytes.len() < n {
            return Err(FrameError::Truncated {
                what: self.what,
                needed: n,
                got: self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, FrameError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn json(&mut self) -> Result<Value, FrameError> {
        let len = self.u32()? as usize;
        let text = self.take(len)?;
        serde_json::from_slice(text).map_err(|e| FrameError::BadJson {
            what: self.what,
            error: e.to_string(),
        })
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_frame_round_trips() {
        let frames = [
            Frame::Hello(json!({"version": 1})),
            Frame::Welcome(json!({"session": "s"})),
            Frame::Ack { seq: 7 },
            Frame::Open {
                seq: 1,
                stream: 3,
                kind: StreamKind::Exec,
                window: 1 << 18,
                meta: json!({"command": ["ls"]}),
            },
            Frame::Data {
                seq: 2,
                stream: 3,
                data: b"hello".to_vec(),
            },
            Frame::Credit {
                seq: 3,
                stream: 3,
                bytes: 5,
            },
            Frame::Close { seq: 4, stream: 3 },
            Frame::Reset {
                seq: 5,
                stream: 3,
                code: 2,
                reason: "refused".to_owned(),
            },
        ];
        for frame in frames {
            assert_eq!(
                Frame::decode(&frame.encode()),
                Ok(frame.clone()),
                "{frame:?}"
            );
        }
    }

    #[test]
    fn the_header_is_read_without_the_payload() {
        let data = Frame::Data {
            seq: 9,
            stream: 5,
            data: vec![1; 100],
        }
        .encode();
        assert_eq!(
            Header::peek(&data),
            Ok(Header::Data {
                seq: 9,
                stream: 5,
                len: 100
            })
        );
        let open = Frame::Open {
            seq: 1,
            stream: 1,
            kind: StreamKind::PortForward,
            window: 8,
            meta: json!({"port": 80}),
        };
        assert_eq!(
            Header::peek(&open.encode()),
            Ok(Header::Open {
                seq: 1,
                stream: 1,
                kind: StreamKind::PortForward,
                meta: json!({"port": 80})
            })
        );
        assert_eq!(
            Header::peek(&[0x11, 0, 0]),
            Err(FrameError::Truncated {
                what: "DATA",
                needed: 8,
                got: 2
            })
        );
    }

    #[test]
    fn bad_frames_are_named() {
        assert_eq!(Frame::decode(&[]), Err(FrameError::Empty));
        assert_eq!(Frame::decode(&[0x7f]), Err(FrameError::UnknownType(0x7f)));
        assert!(matches!(
            Frame::decode(&[0x12, 0, 0]),
            Err(FrameError::Truncated { what: "CREDIT", .. })
        ));
        let mut ack = Frame::Ack { seq: 1 }.encode();
        ack.push(0);
        assert_eq!(Frame::decode(&ack), Err(FrameError::Trailing(1, "ACK")));
        let zero = Frame::Close { seq: 1, stream: 0 }.encode();
        assert_eq!(Frame::decode(&zero), Err(FrameError::StreamZero("CLOSE")));
        let huge = vec![0x11; MAX_FRAME + 1];
        assert_eq!(
            Frame::decode(&huge),
            Err(FrameError::TooLarge(MAX_FRAME + 1))
        );
        let mut open = Frame::Open {
            seq: 1,
            stream: 1,
            kind: StreamKind::Sync,
            window: 1,
            meta: json!({}),
        }
        .encode();
        open[13] = 9;
        assert_eq!(Frame::decode(&open), Err(FrameError::UnknownKind(9)));
        let mut hello = vec![0x01, 0, 0, 0, 2];
        hello.extend_from_slice(b"{x");
        assert!(matches!(
            Frame::decode(&hello),
            Err(FrameError::BadJson { what: "HELLO", .. })
        ));
    }
}

//! What travels inside an exec stream's data (opaque to the relay): typed
//! messages, each `u8 tag | u32 len | bytes`. A message may span DATA
//! frames; [`Decoder`] buffers until it is whole.

/// One message on an exec stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMessage {
    /// Bytes for the command's standard input (CLI to agent).
    Stdin(Vec<u8>),
    /// The CLI's standard input ended.
    StdinEnd,
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The command ended: its exit code, or 128 + the signal that ended it.
    Exit(i32),
    /// The terminal's new size (for a command with a pseudo-terminal).
    Resize {
        cols: u16,
        rows: u16,
    },
    /// The command could not start; the reason.
    Failed(String),
}

/// The largest message accepted; larger ones are refused as hostile.
pub const MAX_MESSAGE: usize = 1 << 20;

impl ExecMessage {
    pub fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, Vec<u8>) = match self {
            ExecMessage::Stdin(b) => (0, b.clone()),
            ExecMessage::StdinEnd => (1, Vec::new()),
            ExecMessage::Stdout(b) => (2, b.clone()),
            ExecMessage::Stderr(b) => (3, b.clone()),
            ExecMessage::Exit(code) => (4, code.to_be_bytes().to_vec()),
            ExecMessage::Resize { cols, rows } => {
                let mut b = cols.to_be_bytes().to_vec();
                b.extend_from_slice(&rows.to_be_bytes());
                (5, b)
            }
            ExecMessage::Failed(reason) => (6, reason.as_bytes().to_vec()),
        };
        let mut out = Vec::with_capacity(5 + body.len());
        out.push(tag);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("unknown exec message tag {0}")]
    UnknownTag(u8),
    #[error("an exec message of {0} bytes is over the limit of {MAX_MESSAGE}")]
    TooLarge(usize),
    #[error("exec message {tag} has a body of {len} bytes, not {want}")]
    BadLength { tag: u8, len: usize, want: usize },
}

/// Reassembles messages from stream data.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// Adds `data` and returns every message now whole.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<ExecMessage>, ExecError> {
        self.buffer.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.buffer.len() < 5 {
                return Ok(out);
            }
            let tag = self.buffer[0];
            let len = u32::from_be_bytes([
                self.buffer[1],
                self.buffer[2],
                self.buffer[3],
                self.buffer[4],
            ]) as usize;
            if len > MAX_MESSAGE {
                return Err(ExecError::TooLarge(len));
            }
            if self.buffer.len() < 5 + len {
                return Ok(out);
            }
            let body: Vec<u8> = self.buffer[5..5 + len].to_vec();
            self.buffer.drain(..5 + len);
            let exact = |want: usize| {
                if len == want {
                    Ok(())
                } else {
                    Err(ExecError::BadLength { tag, len, want })
                }
            };
            out.push(match tag {
                0 => ExecMessage::Stdin(body),
                1 => {
                    exact(0)?;
                    ExecMessage::StdinEnd
                }
                2 => ExecMessage::Stdout(body),
                3 => ExecMessage::Stderr(body),
                4 => {
                    exact(4)?;
                    ExecMessage::Exit(i32::from_be_bytes([body[0], body[1], body[2], body[3]]))
                }
                5 => {
                    exact(4)?;
                    ExecMessage::Resize {
                        cols: u16::from_be_bytes([body[0], body[1]]),
                        rows: u16::from_be_bytes([body[2], body[3]]),
                    }
                }
                6 => ExecMessage::Failed(String::from_utf8_lossy(&body).into_owned()),
                other => return Err(ExecError::UnknownTag(other)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_being_split_anywhere() {
        let messages = vec![
            ExecMessage::Stdin(b"echo hi\n".to_vec()),
            ExecMessage::StdinEnd,
            ExecMessage::Stdout(vec![1; 300]),
            ExecMessage::Stderr(b"oops".to_vec()),
            ExecMessage::Resize {
                cols: 120,
                rows: 40,
            },
            ExecMessage::Failed("no such file".to_owned()),
            ExecMessage::Exit(-3),
        ];
        let bytes: Vec<u8> = messages.iter().flat_map(ExecMessage::encode).collect();
        for split in [1, 3, 7, 64, bytes.len()] {
            let mut decoder = Decoder::default();
            let mut got = Vec::new();
            for chunk in bytes.chunks(split) {
                got.extend(decoder.push(chunk).expect("decodes"));
            }
            assert_eq!(got, messages, "split every {split}");
        }
    }

    #[test]
    fn hostile_messages_are_refused() {
        assert_eq!(
            Decoder::default().push(&[9, 0, 0, 0, 0]),
            Err(ExecError::UnknownTag(9))
        );
        assert_eq!(
            Decoder::default().push(&[0, 0xff, 0xff, 0xff, 0xff]),
            Err(ExecError::TooLarge(u32::MAX as usize))
        );
        assert_eq!(
            Decoder::default().push(&[4, 0, 0, 0, 1, 0]),
            Err(ExecError::BadLength {
                tag: 4,
                len: 1,
                want: 4
            })
        );
    }
}

//! The typed bodies the frames carry: HELLO and WELCOME, each stream kind's
//! OPEN metadata, RESET codes and the reason a relay gives when a session
//! is over. CLI, relay and agent build and read these, never raw JSON.
//!
//! The frame layer ([`crate::frame`]) keeps JSON bodies as values, so a
//! peer that sends well-formed JSON of the wrong shape is refused here,
//! by name, by the side that reads it (the relay closes the connection, the
//! agent resets the one stream), and never breaks the session's framing.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::frame::StreamKind;

/// The relay protocol version this build speaks (HELLO and WELCOME).
pub const VERSION: u64 = 1;

/// The first frame each side sends: which session, and where to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u64,
    /// Required from the CLI; from an agent it must be its token's session.
    #[serde(default)]
    pub session: Option<String>,
    /// Only when reconnecting an attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// What a reconnecting side resumes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The token the last WELCOME gave this side.
    pub token: String,
    /// The last sequence number this side received.
    pub last_received: u64,
}

/// The relay's answer once both sides of an attachment are there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub version: u64,
    pub session: String,
    pub attachment: u64,
    /// The token to present in the next HELLO's `resume`.
    pub resume_token: String,
    /// How far the other side got; this side resends from there.
    pub peer_last_received: u64,
}

impl Hello {
    /// A HELLO of this version for `session`, resuming when `resume` is
    /// given.
    pub fn new(session: Option<String>, resume: Option<Resume>) -> Hello {
        Hello {
            version: VERSION,
            session,
            resume,
        }
    }
}

/// A handshake body that is JSON but not the message it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {what} that does not parse: {error}")]
pub struct MessageError {
    pub what: &'static str,
    pub error: String,
}

/// A handshake message: how it becomes a frame body and back.
pub trait Handshake: Serialize + DeserializeOwned {
    /// The frame's name in errors.
    const NAME: &'static str;

    fn to_json(&self) -> Value {
        serde_json::to_value(self)
            .expect("handshake messages are plain structs of strings and numbers")
    }

    fn from_json(value: Value) -> Result<Self, MessageError> {
        serde_json::from_value(value).map_err(|e| MessageError {
            what: Self::NAME,
            error: e.to_string(),
        })
    }
}

impl Handshake for Hello {
    const NAME: &'static str = "HELLO";
}

impl Handshake for Welcome {
    const NAME: &'static str = "WELCOME";
}

/// An OPEN's metadata that does not fit its stream kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {kind:?} stream's OPEN metadata does not parse: {error}")]
pub struct MetaError {
    pub kind: StreamKind,
    pub error: String,
}

/// The metadata of one stream kind's OPEN.
pub trait OpenMeta: Serialize + DeserializeOwned {
    const KIND: StreamKind;

    fn to_meta(&self) -> Value {
        serde_json::to_value(self).expect("OPEN metadata are plain structs")
    }

    fn from_meta(meta: Value) -> Result<Self, MetaError> {
        serde_json::from_value(meta).map_err(|e| MetaError {
            kind: Self::KIND,
            error: e.to_string(),
        })
    }
}

/// A port-forward: a port on the dev container's loopback, or on `host`, a
/// service of the space (or any name the container resolves), dialled
/// from inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwardOpen {
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl PortForwardOpen {
    /// Where the forward leads, as people write it: `8080`, `postgres:5432`.
    pub fn target(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}:{}", self.port),
            None => format!("port {}", self.port),
        }
    }
}

impl OpenMeta for PortForwardOpen {
    const KIND: StreamKind = StreamKind::PortForward;
}

/// A reverse forward: listen on this port of the dev container's loopback
/// and carry each connection back to the CLI (as a [`ReverseOpen`]
/// stream). The agent answers [`Listening`] once it listens; the listener
/// lasts as long as the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenOpen {
    pub port: u16,
}

impl OpenMeta for ListenOpen {
    const KIND: StreamKind = StreamKind::Listen;
}

/// The agent's one message on a listen stream: it listens on the port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    pub listening: u16,
}

/// One connection accepted on a reverse forward's container port; the CLI
/// carries it to the local port it paired with that one, and refuses a
/// port it did not ask to listen on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseOpen {
    pub port: u16,
}

impl OpenMeta for ReverseOpen {
    const KIND: StreamKind = StreamKind::Reverse;
}

/// A command, with a pseudo-terminal of a size when `tty` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOpen {
    pub command: Vec<String>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
    /// The CLI's `TERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

impl OpenMeta for ExecOpen {
    const KIND: StreamKind = StreamKind::Exec;
}

/// A sync folder: the sync protocol's version, the folder under the agent's
/// root, and the manifest's ignore patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOpen {
    pub version: u64,
    #[serde(default = "SyncOpen::root")]
    pub path: String,
    #[serde(default)]
    pub ignores: Vec<String>,
}

impl SyncOpen {
    fn root() -> String {
        ".".to_owned()
    }

    /// The version a sync OPEN names, read before the rest, so that a peer
    /// of another version is told so rather than that its metadata does
    /// not parse.
    pub fn version_of(meta: &Value) -> Option<u64> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u64,
        }
        Versioned::deserialize(meta).ok().map(|v| v.version)
    }
}

impl OpenMeta for SyncOpen {
    const KIND: StreamKind = StreamKind::Sync;
}

/// An SSH connection: the stream carries the SSH protocol itself, to the
/// agent's SSH server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SshOpen {}

impl OpenMeta for SshOpen {
    const KIND: StreamKind = StreamKind::Ssh;
}

/// What a control stream's OPEN carries: nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ControlOpen {}

impl OpenMeta for ControlOpen {
    const KIND: StreamKind = StreamKind::Control;
}

/// A short description of a stream for the audit log: the port-forward
/// target, the exec command line, the sync folder, the reverse forward's
/// container port. Metadata that does not
/// parse is described as such (the receiving side refuses it).
pub fn describe_open(kind: StreamKind, meta: &Value) -> String {
    let unreadable = |e: MetaError| format!("{kind:?} with unreadable metadata ({})", e.error);
    match kind {
        StreamKind::PortForward => match PortForwardOpen::from_meta(meta.clone()) {
            Ok(open) => format!("port-forward to {}", open.target()),
            Err(e) => unreadable(e),
        },
        StreamKind::Listen => match ListenOpen::from_meta(meta.clone()) {
            Ok(open) => format!("reverse forward from container port {}", open.port),
            Err(e) => unreadable(e),
        },
        StreamKind::Reverse => match ReverseOpen::from_meta(meta.clone()) {
            Ok(open) => format!("connection from container port {}", open.port),
            Err(e) => unreadable(e),
        },
        StreamKind::Exec => match ExecOpen::from_meta(meta.clone()) {
            Ok(open) => format!(
                "exec{}: {}",
                if open.tty { " (tty)" } else { "" },
                open.command.join(" ")
            ),
            Err(e) => unreadable(e),
        },
        StreamKind::Control => "control".to_owned(),
        StreamKind::Ssh => "ssh".to_owned(),
        StreamKind::Sync => match SyncOpen::from_meta(meta.clone()) {
            Ok(open) => format!("sync of {:?}", open.path),
            Err(e) => unreadable(e),
        },
    }
}

/// Why a stream was reset: the `u16` a RESET frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCode {
    /// The stream was dropped before it was closed.
    Abandoned,
    /// The receiver does not serve this kind of stream.
    UnsupportedKind,
    /// The OPEN's metadata is not a request the receiver can carry out.
    BadRequest,
    /// What the stream leads to refused (nothing answers on the port).
    Refused,
    /// The peer sent a message inside the stream that does not decode.
    BadMessage,
    /// The peer speaks another version of the stream's protocol.
    Version,
    /// The sync folder cannot be used.
    BadPath,
    /// A code this build does not know (from a newer peer).
    Other(u16),
}

impl ResetCode {
    pub fn code(self) -> u16 {
        match self {
            ResetCode::Abandoned => 0,
            ResetCode::UnsupportedKind => 1,
            ResetCode::BadRequest => 2,
            ResetCode::Refused => 3,
            ResetCode::BadMessage => 4,
            ResetCode::Version => 5,
            ResetCode::BadPath => 6,
            ResetCode::Other(code) => code,
        }
    }
}

impl From<u16> for ResetCode {
    fn from(code: u16) -> ResetCode {
        match code {
            0 => ResetCode::Abandoned,
            1 => ResetCode::UnsupportedKind,
            2 => ResetCode::BadRequest,
            3 => ResetCode::Refused,
            4 => ResetCode::BadMessage,
            5 => ResetCode::Version,
            6 => ResetCode::BadPath,
            other => ResetCode::Other(other),
        }
    }
}

impl std::fmt::Display for ResetCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Why the relay closed a connection, as both ends read it. A session that
/// is over is not resumed; anything else may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The session ended (terminated, idle, or broken); the text says why.
    SessionEnded(String),
    /// The connection was closed for this reason; the attachment may resume.
    Other(String),
}

const ENDED: &str = "session ended: ";

impl CloseReason {
    /// Reads the reason text of a WebSocket close.
    pub fn parse(text: &str) -> CloseReason {
        match text.find(ENDED) {
            Some(at) => CloseReason::SessionEnded(text[at + ENDED.len()..].to_owned()),
            None => CloseReason::Other(text.to_owned()),
        }
    }

    pub fn is_session_ended(&self) -> bool {
        matches!(self, CloseReason::SessionEnded(_))
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::SessionEnded(why) => write!(f, "{ENDED}{why}"),
            CloseReason::Other(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn handshakes_keep_their_wire_shape() {
        let hello = Hello::new(
            Some("s-1".to_owned()),
            Some(Resume {
                token: "t".to_owned(),
                last_received: 7,
            }),
        );
        assert_eq!(
            hello.to_json(),
            json!({"version": 1, "session": "s-1", "resume": {"token": "t", "last_received": 7}})
        );
        assert_eq!(
            Hello::new(None, None).to_json(),
            json!({"version": 1, "session": null})
        );
        let welcome = Welcome {
            version: 1,
            session: "s-1".to_owned(),
            attachment: 2,
            resume_token: "r".to_owned(),
            peer_last_received: 9,
        };
        assert_eq!(Welcome::from_json(welcome.to_json()), Ok(welcome));
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_named() {
        let err = Hello::from_json(json!({"session": "s"})).expect_err("no version");
        assert_eq!(err.what, "HELLO");
        assert!(err.to_string().contains("missing field `version`"), "{err}");
        let err =
            Welcome::from_json(json!({"version": "one"})).expect_err("a version that is text");
        assert!(
            err.to_string().starts_with("a WELCOME that does not parse"),
            "{err}"
        );
    }

    #[test]
    fn open_metadata_by_kind() {
        let cases: Vec<(StreamKind, Value, &str)> = vec![
            (
                StreamKind::PortForward,
                json!({"port": 8080}),
                "port-forward to port 8080",
            ),
            (
                StreamKind::PortForward,
                json!({"port": 5432, "host": "postgres"}),
                "port-forward to postgres:5432",
            ),
            (
                StreamKind::Listen,
                json!({"port": 9000}),
                "reverse forward from container port 9000",
            ),
            (
                StreamKind::Reverse,
                json!({"port": 9000}),
                "connection from container port 9000",
            ),
            (
                StreamKind::Reverse,
                json!({}),
                "Reverse with unreadable metadata",
            ),
            (
                StreamKind::PortForward,
                json!({"port": 70000}),
                "PortForward with unreadable metadata",
            ),
            (
                StreamKind::Exec,
                json!({"command": ["ls", "-l"], "tty": true, "cols": 80, "rows": 24}),
                "exec (tty): ls -l",
            ),
            (StreamKind::Exec, json!({"command": ["sh"]}), "exec: sh"),
            (
                StreamKind::Exec,
                json!({"command": "sh"}),
                "Exec with unreadable metadata",
            ),
            (
                StreamKind::Sync,
                json!({"version": 1, "path": "/app"}),
                "sync of \"/app\"",
            ),
            (StreamKind::Sync, json!({"version": 1}), "sync of \".\""),
            (StreamKind::Control, json!({}), "control"),
            (StreamKind::Ssh, json!({}), "ssh"),
        ];
        for (kind, meta, described) in cases {
            let text = describe_open(kind, &meta);
            assert!(text.starts_with(described), "{kind:?} {meta}: {text}");
        }
    }

    #[test]
    fn a_sync_version_is_read_before_the_rest() {
        assert_eq!(
            SyncOpen::version_of(&json!({"version": 2, "path": 5})),
            Some(2)
        );
        assert_eq!(SyncOpen::version_of(&json!({"path": "/"})), None);
    }

    #[test]
    fn reset_codes_round_trip() {
        for code in 0..10u16 {
            assert_eq!(ResetCode::from(code).code(), code);
        }
        assert_eq!(ResetCode::from(5), ResetCode::Version);
    }

    #[test]
    fn close_reasons() {
        let ended = CloseReason::parse("session ended: terminated by alice");
        assert_eq!(
            ended,
            CloseReason::SessionEnded("terminated by alice".to_owned())
        );
        assert_eq!(ended.to_string(), "session ended: terminated by alice");
        assert!(
            !CloseReason::parse("the agent disconnected; resume to continue").is_session_ended()
        );
    }
}

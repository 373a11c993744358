//! Streams over one session: opening and accepting them, credit-based flow
//! control per stream, and sequence numbers with acknowledgements so the
//! session outlives its connection.
//!
//! Every OPEN, DATA, CREDIT, CLOSE and RESET a side sends gets the next
//! sequence number and stays in its replay buffer until the peer
//! acknowledges it. When the connection drops, [`Driver::run`] returns; the
//! caller reconnects, learns from the handshake how far the peer got
//! ([`Mux::last_received`] on the other side), and calls `run` again with
//! that number: the driver resends what the peer missed, and the peer drops
//! what it already had. Bounds: a stream's receiver holds at most the window
//! it granted; a side holds at most `replay_limit` bytes of unacknowledged
//! frames and stops sending until acknowledgements arrive.
//!
//! Windows are sized to the path. A stream starts with the window its
//! opener asked for; each time its reader hands credit back, if the last
//! hand-back was less than a round trip ago (the reader drains a quarter of
//! the window faster than credit can travel), the window doubles, up to
//! `max_window`, as HTTP/2 and QUIC implementations autotune theirs. The
//! round trip is the smallest recent gap between sending a frame and its
//! acknowledgement. Growing is this side's own business: the peer only sees
//! more credit.
//!
//! Interactive traffic goes first. Frames of sync streams (bulk) wait in a
//! lane of their own; the driver numbers a frame from the interactive lane
//! (control, exec, port-forwards, and every stream's credit) whenever one
//! is waiting, and numbers stream frames only while less than `send_queue`
//! bytes are queued for the socket, so a keystroke waits behind at most
//! that much, not behind a replay buffer of sync data. Bulk frames also
//! leave at the pace of the path's measured delivery rate
//! ([`crate::pace`]), so sync data does not keep the slowest link's queue
//! full either; the acknowledgements that rate is measured by go out as
//! frames arrive (at most every quarter of `ack_delay`), which dates each
//! arrival.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::frame::{Frame, FrameError, MAX_DATA, StreamKind};
use crate::messages::{OpenMeta, ResetCode};
use crate::pace::{Gate, Pacer, Sent};

/// The largest receive window a side accepts from the opener of a stream.
pub const MAX_WINDOW: u32 = 16 << 20;

/// A connection that carries whole frames (a WebSocket in Berth, a pair of
/// channels in tests), split into halves so that the driver reads while it
/// writes: a side that stopped reading while blocked on a full socket could
/// deadlock with a peer doing the same.
pub trait Link: Send {
    type Tx: LinkTx;
    type Rx: LinkRx;
    fn split(self) -> (Self::Tx, Self::Rx);
}

pub trait LinkTx: Send {
    /// Sends one frame; `Bytes` so that the replay buffer and the wire
    /// share it without a copy.
    fn send(&mut self, frame: Bytes) -> impl Future<Output = Result<(), LinkError>> + Send;
}

pub trait LinkRx: Send {
    /// The next frame, or `None` when the connection closed.
    fn recv(&mut self) -> impl Future<Output = Option<Result<Vec<u8>, LinkError>>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection failed: {0}")]
pub struct LinkError(pub String);

/// Why a session cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MuxError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the peer broke the protocol: {0}")]
    Protocol(String),
    #[error("the session is closed")]
    Closed,
}

/// What a stream's reader gets when something other than data arrives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the peer reset the stream (code {code}): {reason}")]
    Reset { code: ResetCode, reason: String },
    #[error("the session is closed")]
    Closed,
}

/// Which side of the session this is: it picks the stream ids it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Opens odd stream ids: the CLI.
    Client,
    /// Opens even stream ids: the agent.
    Agent,
}

#[derive(Debug, Clone)]
pub struct MuxConfig {
    pub side: Side,
    /// The receive window this side grants each stream it opens, to
    /// start with.
    pub window: u32,
    /// The largest a stream's receive window grows to.
    pub max_window: u32,
    /// Bytes of frames queued for the connection beyond which the driver
    /// numbers no more stream frames, of either lane (ACKs still go).
    pub send_queue: usize,
    /// Unacknowledged bytes this side keeps for replay before it stops
    /// sending.
    pub replay_limit: usize,
    /// Acknowledge after this many frames, or after `ack_delay`.
    pub ack_every: u64,
    pub ack_delay: Duration,
    /// A connection that carried nothing from the peer for this long while
    /// frames waited that long for its acknowledgement is dead, whatever
    /// TCP thinks: [`Driver::run`] returns so that the caller reconnects
    /// (TCP's own retransmissions back off to tens of seconds after an
    /// outage).
    pub silence: Duration,
}

impl MuxConfig {
    pub fn new(side: Side) -> MuxConfig {
        MuxConfig {
            side,
            window: 1 << 20,
            max_window: MAX_WINDOW,
            send_queue: 128 << 10,
            replay_limit: 8 << 20,
            ack_every: 32,
            ack_delay: Duration::from_millis(20),
            silence: Duration::from_secs(5),
        }
    }
}

/// Frames the streams hand the driver; it numbers them.
enum Outgoing {
    Open {
        stream: u32,
        kind: StreamKind,
        window: u32,
        meta: Value,
    },
    Data {
        stream: u32,
        data: Vec<u8>,
    },
    Credit {
        stream: u32,
        bytes: u32,
    },
    Close {
        stream: u32,
    },
    Reset {
        stream: u32,
        code: u16,
        reason: String,
    },
}

impl Outgoing {
    fn numbered(self, seq: u64) -> Frame {
        match self {
            Outgoing::Open {
                stream,
                kind,
                window,
                meta,
            } => Frame::Open {
                seq,
                stream,
                kind,
                window,
                meta,
            },
            Outgoing::Data { stream, data } => Frame::Data { seq, stream, data },
            Outgoing::Credit { stream, bytes } => Frame::Credit { seq, stream, bytes },
            Outgoing::Close { stream } => Frame::Close { seq, stream },
            Outgoing::Reset {
                stream,
                code,
                reason,
            } => Frame::Reset {
                seq,
                stream,
                code,
                reason,
            },
        }
    }
}

/// Which of the driver's queues a stream's frames take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Interactive,
    Bulk,
}

impl Lane {
    fn of(kind: StreamKind) -> Lane {
        match kind {
            StreamKind::Sync => Lane::Bulk,
            StreamKind::Control
            | StreamKind::PortForward
            | StreamKind::Exec
            | StreamKind::Listen
            | StreamKind::Reverse
            | StreamKind::Ssh => Lane::Interactive,
        }
    }
}

enum Inbound {
    Data(Vec<u8>),
    End,
    Reset { code: u16, reason: String },
}

/// What the sending half of a stream may still send.
struct Credit {
    bytes: Mutex<u64>,
    more: Notify,
}

struct StreamState {
    inbound: mpsc::UnboundedSender<Inbound>,
    credit: Arc<Credit>,
    /// Bytes the peer may still send us before it needs more credit.
    receivable: u64,
}

struct Shared {
    config: MuxConfig,
    streams: Mutex<HashMap<u32, StreamState>>,
    next_id: Mutex<u32>,
    out: mpsc::Sender<Outgoing>,
    bulk: mpsc::Sender<Outgoing>,
    last_received: AtomicU64,
    /// The path's round trip in microseconds as this side measures it (0
    /// until the first acknowledgement).
    rtt_micros: AtomicU64,
    /// Set when the session is over; wakes senders waiting for credit.
    is_closed: std::sync::atomic::AtomicBool,
    closed: Notify,
}

/// A session's streams. Cheap to clone.
#[derive(Clone)]
pub struct Mux {
    shared: Arc<Shared>,
}

/// Streams the peer opens.
pub struct Incoming {
    rx: mpsc::Receiver<(Stream, StreamKind, Value)>,
}

impl Incoming {
    /// The next stream the peer opened, with its kind and metadata.
    pub async fn accept(&mut self) -> Option<(Stream, StreamKind, Value)> {
        self.rx.recv().await
    }
}

/// Moves frames between the streams and a link.
pub struct Driver {
    shared: Arc<Shared>,
    out: mpsc::Receiver<Outgoing>,
    bulk: mpsc::Receiver<Outgoing>,
    incoming: mpsc::Sender<(Stream, StreamKind, Value)>,
    next_seq: u64,
    /// Sent and not yet acknowledged: (seq, encoded frame, what the pacer
    /// knew when it left).
    replay: VecDeque<(u64, Bytes, Sent)>,
    replay_bytes: usize,
    /// The smallest round trip seen lately, and since when it stands.
    rtt: Option<(Duration, Instant)>,
    pacer: Pacer,
}

/// How long the smallest round trip seen stands before a larger one may
/// replace it (the path may have changed).
const RTT_WINDOW: Duration = Duration::from_secs(10);

impl Mux {
    pub fn new(config: MuxConfig) -> (Mux, Incoming, Driver) {
        let (out_tx, out_rx) = mpsc::channel(64);
        let (bulk_tx, bulk_rx) = mpsc::channel(64);
        let (in_tx, in_rx) = mpsc::channel(64);
        let first = match config.side {
            Side::Client => 1,
            Side::Agent => 2,
        };
        let shared = Arc::new(Shared {
            config,
            streams: Mutex::default(),
            next_id: Mutex::new(first),
            out: out_tx,
            bulk: bulk_tx,
            last_received: AtomicU64::new(0),
            rtt_micros: AtomicU64::new(0),
            is_closed: std::sync::atomic::AtomicBool::new(false),
            closed: Notify::new(),
        });
        (
            Mux {
                shared: shared.clone(),
            },
            Incoming { rx: in_rx },
            Driver {
                shared,
                out: out_rx,
                bulk: bulk_rx,
                incoming: in_tx,
                next_seq: 1,
                replay: VecDeque::new(),
                replay_bytes: 0,
                rtt: None,
                pacer: Pacer::new(Instant::now()),
            },
        )
    }

    /// The sequence number of the last frame this side received in order:
    /// what it tells the peer when it reconnects.
    pub fn last_received(&self) -> u64 {
        self.shared.last_received.load(Ordering::SeqCst)
    }

    /// The path's round trip as this side measured it, once it has.
    pub fn round_trip(&self) -> Option<Duration> {
        self.shared.round_trip()
    }

    /// Opens a stream of the kind `meta` is for; the metadata travels in
    /// the OPEN frame (the relay reads it for the audit log).
    pub async fn open_with<M: OpenMeta>(&self, meta: &M) -> Result<Stream, MuxError> {
        self.open(M::KIND, meta.to_meta()).await
    }

    /// Opens a stream of `kind`; `meta` travels in the OPEN frame (the
    /// relay may read it). [`Mux::open_with`] is the typed way.
    pub async fn open(&self, kind: StreamKind, meta: Value) -> Result<Stream, MuxError> {
        let id = {
            let mut next = self.shared.next_id.lock();
            let id = *next;
            *next = next
                .checked_add(2)
                .ok_or(MuxError::Protocol("stream ids ran out".to_owned()))?;
            id
        };
        let window = self.shared.config.window;
        let lane = Lane::of(kind);
        let stream = register(&self.shared, id, window, lane);
        self.shared
            .lane(lane)
            .send(Outgoing::Open {
                stream: id,
                kind,
                window,
                meta,
            })
            .await
            .map_err(|_| MuxError::Closed)?;
        Ok(stream)
    }
}

impl Shared {
    fn lane(&self, lane: Lane) -> &mpsc::Sender<Outgoing> {
        match lane {
            Lane::Interactive => &self.out,
            Lane::Bulk => &self.bulk,
        }
    }

    fn round_trip(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }
}

fn register(shared: &Arc<Shared>, id: u32, window: u32, lane: Lane) -> Stream {
    let (tx, rx) = mpsc::unbounded_channel();
    let credit = Arc::new(Credit {
        bytes: Mutex::new(u64::from(window)),
        more: Notify::new(),
    });
    shared.streams.lock().insert(
        id,
        StreamState {
            inbound: tx,
            credit: credit.clone(),
            receivable: u64::from(window),
        },
    );
    Stream {
        id,
        shared: shared.clone(),
        inbound: rx,
        credit,
        lane,
        window,
        consumed: 0,
        credited_at: None,
        finished: false,
    }
}

/// One logical stream: a byte channel each way.
pub struct Stream {
    id: u32,
    shared: Arc<Shared>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    credit: Arc<Credit>,
    lane: Lane,
    /// The receive window granted to the peer; it grows with the path.
    window: u32,
    /// Bytes read and not yet returned to the peer as credit.
    consumed: u32,
    /// When credit was last handed back.
    credited_at: Option<Instant>,
    finished: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id).finish()
    }
}

impl Stream {
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The receive window this side grants the peer now.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// A handle that sends on this stream, for a task that writes while
    /// another reads.
    pub fn writer(&self) -> StreamWriter {
        StreamWriter {
            id: self.id,
            shared: self.shared.clone(),
            credit: self.credit.clone(),
            lane: self.lane,
        }
    }

    /// Sends `data`, waiting for credit as the peer reads.
    pub async fn send(&self, data: &[u8]) -> Result<(), StreamError> {
        self.writer().send(data).await
    }

    /// The next bytes from the peer; `None` once it closed its side.
    pub async fn recv(&mut self) -> Option<Result<Vec<u8>, StreamError>> {
        if self.finished {
            return None;
        }
        match self.inbound.recv().await {
            Some(Inbound::Data(data)) => {
                self.consumed += data.len() as u32;
                if self.consumed >= self.window / 4 {
                    let bytes = std::mem::take(&mut self.consumed) + self.grow();
                    let _ = self
                        .shared
                        .out
                        .send(Outgoing::Credit {
                            stream: self.id,
                            bytes,
                        })
                        .await;
                }
                Some(Ok(data))
            }
            Some(Inbound::End) => {
                self.finished = true;
                None
            }
            Some(Inbound::Reset { code, reason }) => {
                self.finished = true;
                Some(Err(StreamError::Reset {
                    code: ResetCode::from(code),
                    reason,
                }))
            }
            None => {
                self.finished = true;
                Some(Err(StreamError::Closed))
            }
        }
    }

    /// Doubles the window when a quarter of it was read within a round
    /// trip of the last hand-back: the window, not the reader, is what
    /// holds the stream back. Returns the bytes the window grew by.
    fn grow(&mut self) -> u32 {
        let now = Instant::now();
        let last = self.credited_at.replace(now);
        let max = self.shared.config.max_window;
        match (last, self.shared.round_trip()) {
            (Some(last), Some(rtt)) if self.window < max && now - last < rtt => {
                let grown = self.window.saturating_mul(2).min(max);
                let by = grown - self.window;
                self.window = grown;
                by
            }
            _ => 0,
        }
    }

    /// Ends this side: the peer reads to the end, then `None`.
    pub async fn close(&self) -> Result<(), StreamError> {
        self.writer().close().await
    }

    /// Abandons the stream both ways.
    pub async fn reset(&self, code: ResetCode, reason: &str) {
        self.writer().reset(code, reason).await
    }
}

/// The sending half of a [`Stream`]; cheap to clone.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
    credit: Arc<Credit>,
    lane: Lane,
}

impl StreamWriter {
    /// Sends `data`, waiting for credit as the peer reads.
    pub async fn send(&self, mut data: &[u8]) -> Result<(), StreamError> {
        while !data.is_empty() {
            let n = loop {
                let notified = self.credit.more.notified();
                let closed = self.shared.closed.notified();
                if self.shared.is_closed.load(Ordering::SeqCst) {
                    return Err(StreamError::Closed);
                }
                {
                    let mut credit = self.credit.bytes.lock();
                    if *credit > 0 {
                        let n = data.len().min(MAX_DATA).min(*credit as usize);
                        *credit -= n as u64;
                        break n;
                    }
                }
                tokio::select! {
                    _ = notified => {}
                    _ = closed => return Err(StreamError::Closed),
                }
            };
            let (chunk, rest) = data.split_at(n);
            self.shared
                .lane(self.lane)
                .send(Outgoing::Data {
                    stream: self.id,
                    data: chunk.to_vec(),
                })
                .await
                .map_err(|_| StreamError::Closed)?;
            data = rest;
        }
        Ok(())
    }

    /// Ends this side: the peer reads to the end, then `None`.
    pub async fn close(&self) -> Result<(), StreamError> {
        self.shared
            .lane(self.lane)
            .send(Outgoing::Close { stream: self.id })
            .await
            .map_err(|_| StreamError::Closed)
    }

    /// Abandons the stream both ways.
    pub async fn reset(&self, code: ResetCode, reason: &str) {
        self.shared.streams.lock().remove(&self.id);
        let _ = self
            .shared
            .lane(self.lane)
            .send(Outgoing::Reset {
                stream: self.id,
                code: code.code(),
                reason: reason.to_owned(),
            })
            .await;
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.shared.streams.lock().remove(&self.id).is_some() && !self.finished {
            // Dropped mid-way: tell the peer rather than leave it waiting.
            let _ = self.shared.lane(self.lane).try_send(Outgoing::Reset {
                stream: self.id,
                code: ResetCode::Abandoned.code(),
                reason: "the stream was abandoned".to_owned(),
            });
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shared.is_closed.store(true, Ordering::SeqCst);
        self.shared.closed.notify_waiters();
        // Readers see the session end instead of waiting forever.
        self.shared.streams.lock().clear();
    }
}

/// The next frame a stream handed over, with its lane: an interactive one
/// whenever one waits, else a bulk one if the pacer lets one go. `None`
/// when every stream and handle is gone.
async fn next_outgoing(
    interactive: &mut mpsc::Receiver<Outgoing>,
    bulk: &mut mpsc::Receiver<Outgoing>,
    bulk_may_go: bool,
) -> Option<(Outgoing, Lane)> {
    tokio::select! {
        biased;
        outgoing = interactive.recv() => outgoing.map(|o| (o, Lane::Interactive)),
        Some(outgoing) = bulk.recv(), if bulk_may_go => Some((outgoing, Lane::Bulk)),
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What waits for the connection's writer, in bytes; the driver holds
/// stream data back while it is over `limit`.
struct SendQueue {
    bytes: AtomicUsize,
    limit: usize,
    drained: Notify,
}

impl SendQueue {
    fn sent(&self, len: usize) {
        let before = self.bytes.fetch_sub(len, Ordering::Relaxed);
        if before >= self.limit && before - len < self.limit {
            self.drained.notify_one();
        }
    }
}

/// Why [`Driver::run`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The link closed or failed: reconnect, resume, and run again.
    Disconnected(Option<LinkError>),
    /// Every [`Mux`] handle and stream is gone: the session is over.
    Finished,
}

fn protocol(message: impl Into<String>) -> MuxError {
    MuxError::Protocol(message.into())
}

impl Driver {
    /// Bytes of frames sent and not yet acknowledged.
    pub fn unacknowledged_bytes(&self) -> usize {
        self.replay_bytes
    }

    /// Runs the session over `link`. `peer_received` is the last sequence
    /// number the peer has (0 on a fresh session): what it lacks is sent
    /// again first. Returns when the link ends (the session can resume on
    /// another) or the session is over; a peer that breaks the protocol
    /// ends the session with an error.
    pub async fn run<L: Link>(&mut self, link: L, peer_received: u64) -> Result<Ended, MuxError> {
        let (mut tx, mut rx) = link.split();
        // Frames for the wire. Unbounded, yet bounded in practice: stream
        // frames enter only while the replay buffer has room and less than
        // `send_queue` bytes wait here, and ACKs are a few bytes each.
        let (wire, mut to_send) = mpsc::unbounded_channel::<Bytes>();
        let queue = Arc::new(SendQueue {
            bytes: AtomicUsize::new(0),
            limit: self.shared.config.send_queue,
            drained: Notify::new(),
        });
        let writer = {
            let queue = queue.clone();
            async move {
                while let Some(frame) = to_send.recv().await {
                    let len = frame.len();
                    tx.send(frame).await?;
                    queue.sent(len);
                }
                Ok::<(), LinkError>(())
            }
        };
        tokio::pin!(writer);
        let push = |frame: Bytes| {
            queue.bytes.fetch_add(frame.len(), Ordering::Relaxed);
            let _ = wire.send(frame);
        };
        self.acknowledged(peer_received);
        let now = Instant::now();
        // A new connection may take another path: its rate is measured
        // afresh.
        self.pacer = Pacer::new(now);
        for (_, frame, sent) in &mut self.replay {
            *sent = self.pacer.sent(now, frame.len(), 0, false, true);
            push(frame.clone());
        }
        let mut heard = now;
        let mut liveness = tokio::time::interval(self.shared.config.silence / 4);
        let config = self.shared.config.clone();
        let mut unacked_in: u64 = 0;
        let mut ack_timer = tokio::time::interval(config.ack_delay);
        // An acknowledgement sent as a frame arrives (a quarter of
        // `ack_delay` after the last one at most) dates that arrival
        // exactly, which the peer's pacer measures the path's rate by.
        let mut acked_at = Instant::now();
        let shared = self.shared.clone();
        let ack = |unacked_in: &mut u64, acked_at: &mut Instant| {
            *unacked_in = 0;
            *acked_at = Instant::now();
            let seq = shared.last_received.load(Ordering::SeqCst);
            push(Bytes::from(Frame::Ack { seq }.encode()));
        };
        loop {
            let room = self.replay_bytes < config.replay_limit;
            let open = queue.bytes.load(Ordering::Relaxed) < queue.limit;
            let gate = self.pacer.gate(
                Instant::now(),
                self.replay_bytes,
                self.shared.round_trip(),
                config.ack_delay,
            );
            let due = match gate {
                Gate::Until(at) => Some(at),
                Gate::Open | Gate::Full => None,
            };
            tokio::select! {
                written = &mut writer => {
                    return Ok(Ended::Disconnected(written.err()));
                }
                received = rx.recv() => {
                    let bytes = match received {
                        None => return Ok(Ended::Disconnected(None)),
                        Some(Err(err)) => return Ok(Ended::Disconnected(Some(err))),
                        Some(Ok(bytes)) => bytes,
                    };
                    heard = Instant::now();
                    let frame = Frame::decode(&bytes)?;
                    if let Some(seq) = frame.seq() {
                        let last = self.shared.last_received.load(Ordering::SeqCst);
                        if seq <= last {
                            continue; // Sent again after a reconnect; we had it.
                        }
                        if seq != last + 1 {
                            return Err(protocol(format!("frame {seq} arrived after {last}: frames were lost")));
                        }
                        self.shared.last_received.store(seq, Ordering::SeqCst);
                        unacked_in += 1;
                    }
                    self.handle(frame).await?;
                    if unacked_in >= config.ack_every || (unacked_in > 0 && acked_at.elapsed() >= config.ack_delay / 4) {
                        ack(&mut unacked_in, &mut acked_at);
                    }
                }
                outgoing = next_outgoing(&mut self.out, &mut self.bulk, gate == Gate::Open), if room && open => {
                    let Some((outgoing, lane)) = outgoing else {
                        return Ok(Ended::Finished);
                    };
                    push(self.number(outgoing, lane));
                }
                () = sleep_until_some(due), if room && open && due.is_some() => {}
                _ = queue.drained.notified(), if room && !open => {}
                _ = ack_timer.tick(), if unacked_in > 0 => ack(&mut unacked_in, &mut acked_at),
                _ = liveness.tick() => {
                    let waiting = self.replay.front().is_some_and(|(_, _, sent)| sent.at().elapsed() > config.silence);
                    if waiting && heard.elapsed() > config.silence {
                        return Ok(Ended::Disconnected(Some(LinkError(format!(
                            "nothing heard from the other side for {}s while frames waited for it",
                            config.silence.as_secs_f64()
                        )))));
                    }
                }
            }
        }
    }

    /// Gives `outgoing` the next sequence number and keeps it for replay.
    fn number(&mut self, outgoing: Outgoing, lane: Lane) -> Bytes {
        if let Outgoing::Credit { stream, bytes } = &outgoing
            && let Some(state) = self.shared.streams.lock().get_mut(stream)
        {
            // What the peer may send grows as this side hands out credit.
            state.receivable += u64::from(*bytes);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let encoded = Bytes::from(outgoing.numbered(seq).encode());
        self.replay_bytes += encoded.len();
        let sent = self.pacer.sent(
            Instant::now(),
            encoded.len(),
            self.replay_bytes,
            lane == Lane::Bulk,
            self.bulk.is_empty(),
        );
        self.replay.push_back((seq, encoded.clone(), sent));
        encoded
    }

    fn acknowledged(&mut self, seq: u64) {
        let mut newest = None;
        let mut bytes = 0;
        while self.replay.front().is_some_and(|(s, _, _)| *s <= seq) {
            if let Some((_, frame, sent)) = self.replay.pop_front() {
                self.replay_bytes -= frame.len();
                bytes += frame.len() as u64;
                newest = Some(sent);
            }
        }
        if let Some(sent) = newest {
            let now = Instant::now();
            self.sample_round_trip(now - sent.at());
            self.pacer.acknowledged(
                now,
                bytes,
                sent,
                self.shared.round_trip(),
                self.replay_bytes,
            );
        }
    }

    /// Keeps the smallest round trip of the last [`RTT_WINDOW`]: the
    /// acknowledgement's own delay and queueing only ever add to it.
    fn sample_round_trip(&mut self, sample: Duration) {
        let now = Instant::now();
        let keep = self
            .rtt
            .is_some_and(|(rtt, since)| rtt <= sample && now - since < RTT_WINDOW);
        if !keep {
            self.rtt = Some((sample, now));
            let micros = u64::try_from(sample.as_micros()).unwrap_or(u64::MAX).max(1);
            self.shared.rtt_micros.store(micros, Ordering::Relaxed);
        }
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), MuxError> {
        match frame {
            Frame::Hello(_) | Frame::Welcome(_) => {
                return Err(protocol("a handshake frame in the middle of a session"));
            }
            Frame::Ack { seq } => {
                if seq >= self.next_seq {
                    return Err(protocol(format!(
                        "acknowledged {seq}, which was never sent"
                    )));
                }
                self.acknowledged(seq);
            }
            Frame::Open {
                stream,
                kind,
                window,
                meta,
                ..
            } => {
                let theirs = match self.shared.config.side {
                    Side::Client => stream % 2 == 0,
                    Side::Agent => stream % 2 == 1,
                };
                if !theirs {
                    return Err(protocol(format!(
                        "the peer opened stream {stream}, an id of this side's"
                    )));
                }
                if self.shared.streams.lock().contains_key(&stream) {
                    return Err(protocol(format!("stream {stream} opened twice")));
                }
                if window == 0 || window > MAX_WINDOW {
                    return Err(protocol(format!(
                        "stream {stream} asks for a window of {window} bytes (1 to {MAX_WINDOW})"
                    )));
                }
                let accepted = register(&self.shared, stream, window, Lane::of(kind));
                if self.incoming.send((accepted, kind, meta)).await.is_err() {
                    // Nobody accepts streams on this side any more.
                    self.shared.streams.lock().remove(&stream);
                }
            }
            Frame::Data { stream, data, .. } => {
                let mut streams = self.shared.streams.lock();
                // Data for a stream this side reset is dropped: the peer
                // may have sent it before the RESET arrived.
                if let Some(state) = streams.get_mut(&stream) {
                    let len = data.len() as u64;
                    if len > state.receivable {
                        return Err(protocol(format!(
                            "stream {stream} sent {len} bytes with only {} of credit",
                            state.receivable
                        )));
                    }
                    state.receivable -= len;
                    let _ = state.inbound.send(Inbound::Data(data));
                }
            }
            Frame::Credit { stream, bytes, .. } => {
                if let Some(state) = self.shared.streams.lock().get(&stream) {
                    let mut credit = state.credit.bytes.lock();
                    *credit += u64::from(bytes);
                    state.credit.more.notify_waiters();
                }
            }
            Frame::Close { stream, .. } => {
                if let Some(state) = self.shared.streams.lock().get(&stream) {
                    let _ = state.inbound.send(Inbound::End);
                }
            }
            Frame::Reset {
                stream,
                code,
                reason,
                ..
            } => {
                if let Some(state) = self.shared.streams.lock().remove(&stream) {
                    let _ = state.inbound.send(Inbound::Reset { code, reason });
                    state.credit.more.notify_waiters();
                }
            }
        }
        Ok(())
    }
}

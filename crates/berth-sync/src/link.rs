//! The engine's connection to its peer: what comes in (peer messages and
//! the local watcher's batches) arrives on one channel of [`Input`]; what
//! goes out is an [`Outbox`] with two lanes, a small unbounded one for
//! control messages and a bounded one for file content. Control never
//! waits behind content, so a side busy sending a large file still
//! acknowledges what it receives and two busy sides cannot deadlock.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use berth_proto::ResetCode;
use berth_proto::mux::Stream;
use tokio::sync::mpsc;

use crate::stages::{Stage, StageClock};
use crate::wire::{Control, Decoder, Message};

/// What an engine reacts to.
#[derive(Debug)]
pub enum Input {
    Peer(Message),
    /// The peer is gone; why, when it was an error.
    Closed(Option<String>),
    /// Paths the watcher saw change, and when the first of them did.
    Local(Vec<PathBuf>, Instant),
    /// The watcher lost events: everything is scanned again.
    Rescan,
    Stop,
}

/// Content messages in flight per side; each is at most a chunk.
const DATA_LANE: usize = 32;

/// Messages ready together go out as one write of up to this many bytes.
const BATCH: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Outbox {
    control: mpsc::UnboundedSender<Message>,
    data: mpsc::Sender<Message>,
    /// Where this end's time goes, kept by the engine and its link.
    stages: Arc<StageClock>,
}

#[derive(Debug)]
pub struct OutboxRx {
    control: mpsc::UnboundedReceiver<Message>,
    data: mpsc::Receiver<Message>,
    stages: Arc<StageClock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sync stream is closed")]
pub struct Closed;

impl Outbox {
    pub fn new() -> (Outbox, OutboxRx) {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (data, data_rx) = mpsc::channel(DATA_LANE);
        let stages = Arc::new(StageClock::default());
        (
            Outbox {
                control,
                data,
                stages: stages.clone(),
            },
            OutboxRx {
                control: control_rx,
                data: data_rx,
                stages,
            },
        )
    }

    /// Where this end's time goes.
    pub fn stages(&self) -> &Arc<StageClock> {
        &self.stages
    }

    pub fn control(&self, control: Control) -> Result<(), Closed> {
        self.control
            .send(Message::Control(control))
            .map_err(|_| Closed)
    }

    /// Sends on the content lane, waiting for room (from a thread, not a
    /// task).
    pub fn blocking(&self, message: Message) -> Result<(), Closed> {
        let _waiting = self.stages.time(Stage::SendWait);
        self.data.blocking_send(message).map_err(|_| Closed)
    }
}

impl OutboxRx {
    /// The next messages to send, encoded: one, and whatever else is
    /// ready up to `limit` bytes, so many small messages (a thousand small
    /// files) go out as one write.
    pub async fn next_batch(&mut self, limit: usize) -> Option<Vec<u8>> {
        let first = self.next().await?;
        let _encoding = self.stages.time(Stage::Encode);
        let mut out = first.encode();
        while out.len() < limit {
            let more = match self.control.try_recv() {
                Ok(m) => m,
                Err(_) => match self.data.try_recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            out.extend_from_slice(&more.encode());
        }
        Some(out)
    }

    /// The next message to send, control first.
    pub async fn next(&mut self) -> Option<Message> {
        tokio::select! {
            biased;
            Some(m) = self.control.recv() => Some(m),
            Some(m) = self.data.recv() => Some(m),
            else => None,
        }
    }
}

/// Bytes an engine put on the wire, encoded (after compression).
#[derive(Debug, Default, Clone)]
pub struct WireCounter(Arc<AtomicU64>);

impl WireCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Runs an engine over a mux stream: a task decodes what arrives into
/// `input`, another writes the outbox. Returns the outbox and the counter
/// of bytes sent.
pub fn attach(mut stream: Stream, input: mpsc::Sender<Input>) -> (Outbox, WireCounter) {
    let (outbox, mut rx) = Outbox::new();
    let counter = WireCounter::default();
    let writer = stream.writer();
    let sent = counter.clone();
    tokio::spawn(async move {
        while let Some(bytes) = rx.next_batch(BATCH).await {
            sent.add(bytes.len());
            let _writing = rx.stages.time(Stage::Write);
            if writer.send(&bytes).await.is_err() {
                return;
            }
        }
        let _ = writer.close().await;
    });
    let stages = outbox.stages.clone();
    tokio::spawn(async move {
        let mut decoder = Decoder::default();
        loop {
            let closed = match stream.recv().await {
                Some(Ok(data)) => match decode(&mut decoder, &data, &stages) {
                    Ok(messages) => {
                        for message in messages {
                            if input.send(Input::Peer(message)).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    Err(e) => {
                        let reason = format!("the peer sent a bad message: {e}");
                        stream.reset(ResetCode::BadMessage, &reason).await;
                        Some(reason)
                    }
                },
                Some(Err(e)) => Some(e.to_string()),
                None => None,
            };
            let _ = input.send(Input::Closed(closed)).await;
            return;
        }
    });
    (outbox, counter)
}

/// What `data` completes, timed as decoding.
fn decode(
    decoder: &mut Decoder,
    data: &[u8],
    stages: &StageClock,
) -> Result<Vec<Message>, crate::wire::WireError> {
    let _decoding = stages.time(Stage::Decode);
    decoder.push(data)
}

/// Two engines' channels joined in memory, with every message encoded and
/// decoded as on the wire (for tests and benchmarks).
pub fn pair(
    a_input: mpsc::Sender<Input>,
    b_input: mpsc::Sender<Input>,
) -> ((Outbox, WireCounter), (Outbox, WireCounter)) {
    fn half(to: mpsc::Sender<Input>) -> (Outbox, WireCounter) {
        let (outbox, mut rx) = Outbox::new();
        let counter = WireCounter::default();
        let sent = counter.clone();
        tokio::spawn(async move {
            let mut decoder = Decoder::default();
            while let Some(message) = rx.next().await {
                let bytes = message.encode();
                sent.add(bytes.len());
                match decoder.push(&bytes) {
                    Ok(messages) => {
                        for message in messages {
                            if to.send(Input::Peer(message)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = to.send(Input::Closed(Some(e.to_string()))).await;
                        return;
                    }
                }
            }
            let _ = to.send(Input::Closed(None)).await;
        });
        (outbox, counter)
    }
    (half(b_input), half(a_input))
}

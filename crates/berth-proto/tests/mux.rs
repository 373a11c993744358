//! Streams over in-memory links: data arrives whole and in order, a reader
//! that stops reading stops the writer, a session survives its connection
//! being cut many times, and a peer that breaks the protocol ends it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_proto::mux::{
    Driver, Ended, Link, LinkError, LinkRx, LinkTx, Mux, MuxConfig, MuxError, Side,
};
use berth_proto::{Frame, StreamKind};
use serde_json::json;
use tokio::sync::mpsc;

/// One end of an in-memory connection; it fails after `cut_after` frames
/// (sent or received), dropping what was in flight.
struct MemLink {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    cut: Arc<Cut>,
}

struct Cut {
    after: Option<u64>,
    frames: AtomicU64,
}

impl Cut {
    fn tick(&self) -> Result<(), LinkError> {
        let n = self.frames.fetch_add(1, Ordering::SeqCst) + 1;
        if self.after.is_some_and(|after| n > after) {
            return Err(LinkError("cut".to_owned()));
        }
        Ok(())
    }
}

fn pair(cut_after: Option<u64>) -> (MemLink, MemLink) {
    let (a_tx, b_rx) = mpsc::unbounded_channel();
    let (b_tx, a_rx) = mpsc::unbounded_channel();
    let cut = |after| {
        Arc::new(Cut {
            after,
            frames: AtomicU64::new(0),
        })
    };
    (
        MemLink {
            tx: a_tx,
            rx: a_rx,
            cut: cut(cut_after),
        },
        MemLink {
            tx: b_tx,
            rx: b_rx,
            cut: cut(None),
        },
    )
}

struct MemTx(Option<mpsc::UnboundedSender<Vec<u8>>>, Arc<Cut>);
struct MemRx(mpsc::UnboundedReceiver<Vec<u8>>, Arc<Cut>);

impl Link for MemLink {
    type Tx = MemTx;
    type Rx = MemRx;
    fn split(self) -> (MemTx, MemRx) {
        (
            MemTx(Some(self.tx), self.cut.clone()),
            MemRx(self.rx, self.cut),
        )
    }
}

impl LinkTx for MemTx {
    async fn send(&mut self, frame: bytes::Bytes) -> Result<(), LinkError> {
        if let Err(err) = self.1.tick() {
            self.0 = None;
            return Err(err);
        }
        match &self.0 {
            Some(tx) => tx
                .send(frame.to_vec())
                .map_err(|_| LinkError("closed".to_owned())),
            None => Err(LinkError("closed".to_owned())),
        }
    }
}

impl LinkRx for MemRx {
    async fn recv(&mut self) -> Option<Result<Vec<u8>, LinkError>> {
        let frame = self.0.recv().await?;
        if let Err(err) = self.1.tick() {
            self.0.close();
            return Some(Err(err));
        }
        Some(Ok(frame))
    }
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The agent side echoes every stream back and closes it when the client does.
fn echo_agent(mut incoming: berth_proto::mux::Incoming) {
    tokio::spawn(async move {
        while let Some((mut stream, kind, meta)) = incoming.accept().await {
            assert_eq!(kind, StreamKind::PortForward);
            assert_eq!(meta["port"], 8080);
            tokio::spawn(async move {
                while let Some(Ok(data)) = stream.recv().await {
                    stream.send(&data).await.expect("echo");
                }
                stream.close().await.expect("close");
            });
        }
    });
}

/// Sends `data` on a new stream and reads the echo back.
async fn round_trip(client: &Mux, data: &[u8]) -> Vec<u8> {
    let mut stream = client
        .open(StreamKind::PortForward, json!({"port": 8080}))
        .await
        .expect("open");
    let writer = stream.writer();
    let out = data.to_vec();
    let writing = tokio::spawn(async move {
        for chunk in out.chunks(50_000) {
            writer.send(chunk).await.expect("send");
        }
        writer.close().await.expect("close");
    });
    let mut echoed = Vec::with_capacity(data.len());
    while let Some(chunk) = stream.recv().await {
        echoed.extend(chunk.expect("data"));
    }
    writing.await.expect("writer");
    echoed
}

async fn drive(mut driver: Driver, link: MemLink) {
    match driver.run(link, 0).await {
        Ok(Ended::Finished) | Ok(Ended::Disconnected(_)) => {}
        Err(err) => panic!("session failed: {err}"),
    }
}

#[tokio::test]
async fn streams_carry_data_whole_and_in_order() {
    let (client, _client_in, client_driver) = Mux::new(MuxConfig::new(Side::Client));
    let (_agent, agent_in, agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    let (a, b) = pair(None);
    tokio::spawn(drive(client_driver, a));
    tokio::spawn(drive(agent_driver, b));
    echo_agent(agent_in);
    let data = pattern(3 << 20);
    let (one, two) = tokio::join!(
        round_trip(&client, &data),
        round_trip(&client, &data[..1000])
    );
    assert!(one == data, "3 MiB echoed back unchanged");
    assert!(two == data[..1000], "a second stream at the same time");
}

#[tokio::test]
async fn a_reader_that_stops_reading_stops_the_writer() {
    let config = MuxConfig {
        window: 256 * 1024,
        ..MuxConfig::new(Side::Client)
    };
    let (client, _client_in, client_driver) = Mux::new(config);
    let (_agent, mut agent_in, agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    let (a, b) = pair(None);
    tokio::spawn(drive(client_driver, a));
    tokio::spawn(drive(agent_driver, b));
    let stream = client
        .open(StreamKind::PortForward, json!({"port": 8080}))
        .await
        .expect("open");
    // The agent accepts and then never reads.
    let (_held, _, _) = agent_in.accept().await.expect("accepted");
    let sent = Arc::new(AtomicU64::new(0));
    let writer = stream.writer();
    let counter = sent.clone();
    let writing = tokio::spawn(async move {
        let chunk = vec![7u8; 16 * 1024];
        loop {
            if writer.send(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = sent.load(Ordering::SeqCst);
    assert_eq!(before, after, "the writer is stalled");
    assert!(
        after <= 256 * 1024,
        "it sent no more than the window: {after}"
    );
    writing.abort();
}

/// Runs one side's driver on each link it is handed, reporting each end.
fn side(mut driver: Driver) -> (mpsc::Sender<(MemLink, u64)>, mpsc::Receiver<()>) {
    let (links_tx, mut links) = mpsc::channel::<(MemLink, u64)>(1);
    let (ended_tx, ended) = mpsc::channel(1);
    tokio::spawn(async move {
        while let Some((link, peer_received)) = links.recv().await {
            match driver.run(link, peer_received).await {
                Ok(Ended::Finished) => return,
                Ok(Ended::Disconnected(_)) => {
                    if ended_tx.send(()).await.is_err() {
                        return;
                    }
                }
                Err(err) => panic!("session failed: {err}"),
            }
        }
    });
    (links_tx, ended)
}

#[tokio::test]
async fn a_session_survives_its_connection_being_cut_many_times() {
    let (client, _client_in, client_driver) = Mux::new(MuxConfig::new(Side::Client));
    let (agent, agent_in, agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    echo_agent(agent_in);
    let (client_links, mut client_ended) = side(client_driver);
    let (agent_links, mut agent_ended) = side(agent_driver);
    let data = pattern(6 << 20);
    let mut transfer = {
        let client = client.clone();
        let data = data.clone();
        tokio::spawn(async move { round_trip(&client, &data).await })
    };
    let mut cuts = 0;
    let mut seed: u64 = 42;
    let echoed = loop {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let cut_after = 5 + (seed >> 33) % 60;
        let (a, b) = pair(Some(cut_after));
        // Each side resumes from what the other has received.
        client_links
            .send((a, agent.last_received()))
            .await
            .expect("client side");
        agent_links
            .send((b, client.last_received()))
            .await
            .expect("agent side");
        tokio::select! {
            echoed = &mut transfer => break echoed.expect("transfer"),
            _ = client_ended.recv() => {
                agent_ended.recv().await;
                cuts += 1;
            }
            _ = agent_ended.recv() => {
                client_ended.recv().await;
                cuts += 1;
            }
        }
    };
    assert!(cuts >= 10, "the connection was cut {cuts} times");
    assert!(
        echoed == data,
        "6 MiB through {cuts} cuts, nothing lost or repeated"
    );
}

/// Feeds raw frames to an agent-side session and returns how it ended.
async fn hostile(frames: Vec<Vec<u8>>) -> Result<Ended, MuxError> {
    let (_agent, mut incoming, mut driver) = Mux::new(MuxConfig::new(Side::Agent));
    tokio::spawn(async move { while incoming.accept().await.is_some() {} });
    let (peer, link) = pair(None);
    let (mut peer, _peer_rx) = peer.split();
    for frame in frames {
        peer.send(frame.into()).await.expect("queued");
    }
    drop(peer);
    tokio::time::timeout(Duration::from_secs(5), driver.run(link, 0))
        .await
        .expect("the session ends")
}

fn open(seq: u64, stream: u32, window: u32) -> Vec<u8> {
    Frame::Open {
        seq,
        stream,
        kind: StreamKind::Exec,
        window,
        meta: json!({}),
    }
    .encode()
}

#[tokio::test]
async fn a_peer_that_breaks_the_protocol_ends_the_session_with_a_reason() {
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (vec![vec![0xee, 1, 2]], "unknown frame type"),
        (
            vec![
                open(1, 1, 1024),
                Frame::Data {
                    seq: 2,
                    stream: 1,
                    data: vec![0; 2048],
                }
                .encode(),
            ],
            "credit",
        ),
        (vec![open(1, 1, 1024), open(3, 3, 1024)], "frames were lost"),
        (vec![Frame::Ack { seq: 9 }.encode()], "never sent"),
        (vec![open(1, 2, 1024)], "an id of this side's"),
        (vec![open(1, 1, 1024), open(2, 1, 1024)], "opened twice"),
        (vec![open(1, 1, u32::MAX)], "window"),
        (vec![Frame::Hello(json!({})).encode()], "handshake"),
    ];
    for (frames, expected) in cases {
        let ended = hostile(frames).await;
        let message = match &ended {
            Err(err) => err.to_string(),
            Ok(other) => panic!("expected an error naming {expected:?}, got {other:?}"),
        };
        assert!(
            message.contains(expected),
            "{message} should say {expected:?}"
        );
    }
    // Repeated frames (a resend after a reconnect) are dropped, not errors.
    let ended = hostile(vec![open(1, 1, 1024), open(1, 1, 1024)]).await;
    assert!(matches!(ended, Ok(Ended::Disconnected(None))), "{ended:?}");
}

/// One end of an in-memory connection over a slow path: each frame
/// arrives `delay` after it was sent, and at most `frames` frames are on
/// the way at once (a socket's buffer on a link of limited rate).
struct SlowLink {
    tx: mpsc::Sender<(tokio::time::Instant, Vec<u8>)>,
    rx: mpsc::Receiver<Vec<u8>>,
}

fn slow_pair(delay: Duration, frames: usize) -> (SlowLink, SlowLink) {
    let direction = || {
        let (tx, mut sent) = mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(frames);
        let (arrived_tx, arrived) = mpsc::channel(frames);
        tokio::spawn(async move {
            while let Some((at, frame)) = sent.recv().await {
                tokio::time::sleep_until(at + delay).await;
                if arrived_tx.send(frame).await.is_err() {
                    return;
                }
            }
        });
        (tx, arrived)
    };
    let ((a_tx, b_rx), (b_tx, a_rx)) = (direction(), direction());
    (
        SlowLink { tx: a_tx, rx: a_rx },
        SlowLink { tx: b_tx, rx: b_rx },
    )
}

struct SlowTx(mpsc::Sender<(tokio::time::Instant, Vec<u8>)>);
struct SlowRx(mpsc::Receiver<Vec<u8>>);

impl Link for SlowLink {
    type Tx = SlowTx;
    type Rx = SlowRx;
    fn split(self) -> (SlowTx, SlowRx) {
        (SlowTx(self.tx), SlowRx(self.rx))
    }
}

impl LinkTx for SlowTx {
    async fn send(&mut self, frame: bytes::Bytes) -> Result<(), LinkError> {
        self.0
            .send((tokio::time::Instant::now(), frame.to_vec()))
            .await
            .map_err(|_| LinkError("closed".to_owned()))
    }
}

impl LinkRx for SlowRx {
    async fn recv(&mut self) -> Option<Result<Vec<u8>, LinkError>> {
        self.0.recv().await.map(Ok)
    }
}

async fn drive_slow(mut driver: Driver, link: SlowLink) {
    match driver.run(link, 0).await {
        Ok(Ended::Finished) | Ok(Ended::Disconnected(_)) => {}
        Err(err) => panic!("session failed: {err}"),
    }
}

#[tokio::test]
async fn a_window_grows_to_fill_a_long_path_and_no_further_than_its_bound() {
    let max_window = 8 << 20;
    let config = |side| MuxConfig {
        max_window,
        ..MuxConfig::new(side)
    };
    let (client, _client_in, client_driver) = Mux::new(config(Side::Client));
    let (_agent, mut agent_in, agent_driver) = Mux::new(config(Side::Agent));
    // 20 ms each way, with room for far more than a 1 MiB window in flight.
    let (a, b) = slow_pair(Duration::from_millis(20), 4096);
    tokio::spawn(drive_slow(client_driver, a));
    tokio::spawn(drive_slow(agent_driver, b));
    let stream = client
        .open(StreamKind::PortForward, json!({"port": 8080}))
        .await
        .expect("open");
    let writer = stream.writer();
    let data = pattern(48 << 20);
    let sending = tokio::spawn(async move {
        writer.send(&data).await.expect("send");
        writer.close().await.expect("close");
    });
    let (mut accepted, _, _) = agent_in.accept().await.expect("accepted");
    let initial = accepted.window();
    let mut received = 0usize;
    let mut largest = initial;
    while let Some(chunk) = accepted.recv().await {
        received += chunk.expect("data").len();
        largest = largest.max(accepted.window());
    }
    sending.await.expect("sender");
    assert_eq!(received, 48 << 20);
    assert_eq!(initial, 1 << 20, "streams start with the configured window");
    assert!(
        largest > initial,
        "a reader that keeps up with a window-limited path grows the window ({largest})"
    );
    assert!(
        largest <= max_window,
        "the window stays within its bound ({largest})"
    );
    assert!(
        client.round_trip().is_some(),
        "the client measured the path"
    );
}

#[tokio::test]
async fn keystrokes_wait_behind_a_bounded_amount_of_sync_data() {
    let (client, _client_in, client_driver) = Mux::new(MuxConfig::new(Side::Client));
    let (_agent, mut agent_in, agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    // A slow path: four frames on the way at once, 1 ms each.
    let (a, b) = slow_pair(Duration::from_millis(1), 4);
    tokio::spawn(drive_slow(client_driver, a));
    tokio::spawn(drive_slow(agent_driver, b));
    let received = Arc::new(AtomicU64::new(0));
    let (keys_tx, mut keys) = mpsc::unbounded_channel::<u64>();
    {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some((mut stream, kind, _)) = agent_in.accept().await {
                let (received, keys_tx) = (received.clone(), keys_tx.clone());
                tokio::spawn(async move {
                    while let Some(Ok(data)) = stream.recv().await {
                        if kind == StreamKind::Sync {
                            received.fetch_add(data.len() as u64, Ordering::SeqCst);
                        } else {
                            // The sync bytes that arrived before this key.
                            let _ = keys_tx.send(received.load(Ordering::SeqCst));
                        }
                    }
                });
            }
        });
    }
    let bulk = client
        .open(StreamKind::Sync, json!({"path": "/src"}))
        .await
        .expect("open sync");
    let writer = bulk.writer();
    let sending = tokio::spawn(async move {
        let chunk = pattern(1 << 20);
        for _ in 0..24 {
            if writer.send(&chunk).await.is_err() {
                return;
            }
        }
    });
    let shell = client
        .open(StreamKind::Exec, json!({"command": ["sh"]}))
        .await
        .expect("open exec");
    for _ in 0..5 {
        // Wait until the sync has the path busy.
        let start = received.load(Ordering::SeqCst);
        while received.load(Ordering::SeqCst) < start + (1 << 20) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let before = received.load(Ordering::SeqCst);
        shell.send(b"k").await.expect("key");
        let at_arrival = keys.recv().await.expect("the key arrived");
        let behind = at_arrival - before;
        assert!(
            behind <= 640 << 10,
            "a key waited behind {behind} bytes of sync data (the send queue is 128 KiB, the path holds 256 KiB)"
        );
    }
    sending.abort();
}

#[tokio::test]
async fn a_connection_that_goes_silent_with_frames_unacknowledged_is_given_up() {
    let config = MuxConfig {
        silence: Duration::from_millis(200),
        ..MuxConfig::new(Side::Client)
    };
    let (client, _client_in, mut client_driver) = Mux::new(config);
    // The other end of the link is never driven: nothing ever comes back,
    // as over a link that went dark.
    let (a, _dark) = slow_pair(Duration::from_millis(1), 64);
    let running = tokio::spawn(async move { client_driver.run(a, 0).await });
    let _stream = client
        .open(StreamKind::PortForward, json!({"port": 8080}))
        .await
        .expect("open");
    match running.await.expect("driver") {
        Ok(Ended::Disconnected(Some(LinkError(reason)))) => {
            assert!(reason.contains("nothing heard"), "{reason}");
        }
        other => panic!("the driver should give the connection up: {other:?}"),
    }
}

/// A path with a bottleneck each way: frames wait in a queue for their
/// turn on a link of `rate` bytes a second, then take `delay` to arrive.
/// The client's direction records the most bytes ever waiting in its
/// queue.
struct Bottleneck {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    queue: Arc<Queue>,
}

#[derive(Default)]
struct Queue {
    bytes: AtomicU64,
    most: AtomicU64,
}

fn bottleneck_pair(rate: f64, delay: Duration) -> (Bottleneck, Bottleneck, Arc<Queue>) {
    let direction = |queue: Arc<Queue>| {
        let (tx, mut waiting) = mpsc::unbounded_channel::<Vec<u8>>();
        let (on_the_way_tx, mut on_the_way) = mpsc::unbounded_channel();
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // When the link is free again, kept exact: the timer wakes on
            // whole milliseconds, so a link idle for less than one was not
            // idle at all.
            let mut free = tokio::time::Instant::now();
            while let Some(frame) = waiting.recv().await {
                let now = tokio::time::Instant::now();
                if now > free + Duration::from_millis(1) {
                    free = now;
                }
                free += Duration::from_secs_f64(frame.len() as f64 / rate);
                tokio::time::sleep_until(free).await;
                queue.bytes.fetch_sub(frame.len() as u64, Ordering::SeqCst);
                let at = tokio::time::Instant::now() + delay;
                if on_the_way_tx.send((at, frame)).is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            while let Some((at, frame)) = on_the_way.recv().await {
                tokio::time::sleep_until(at).await;
                if arrived_tx.send(frame).is_err() {
                    return;
                }
            }
        });
        (tx, arrived)
    };
    let (up, down) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
    let ((a_tx, b_rx), (b_tx, a_rx)) = (direction(up.clone()), direction(down.clone()));
    (
        Bottleneck {
            tx: a_tx,
            rx: a_rx,
            queue: up.clone(),
        },
        Bottleneck {
            tx: b_tx,
            rx: b_rx,
            queue: down,
        },
        up,
    )
}

struct BottleneckTx(mpsc::UnboundedSender<Vec<u8>>, Arc<Queue>);
struct BottleneckRx(mpsc::UnboundedReceiver<Vec<u8>>);

impl Link for Bottleneck {
    type Tx = BottleneckTx;
    type Rx = BottleneckRx;
    fn split(self) -> (BottleneckTx, BottleneckRx) {
        (BottleneckTx(self.tx, self.queue), BottleneckRx(self.rx))
    }
}

impl LinkTx for BottleneckTx {
    async fn send(&mut self, frame: bytes::Bytes) -> Result<(), LinkError> {
        let queued = self.1.bytes.fetch_add(frame.len() as u64, Ordering::SeqCst);
        self.1
            .most
            .fetch_max(queued + frame.len() as u64, Ordering::SeqCst);
        self.0
            .send(frame.to_vec())
            .map_err(|_| LinkError("closed".to_owned()))
    }
}

impl LinkRx for BottleneckRx {
    async fn recv(&mut self) -> Option<Result<Vec<u8>, LinkError>> {
        self.0.recv().await.map(Ok)
    }
}

/// A session over [`bottleneck_pair`] at `rate` with 25 ms each way, its
/// round trip measured; the agent counts the bytes its streams receive.
async fn paced_session(rate: f64) -> (Mux, Arc<AtomicU64>, Arc<Queue>) {
    let (client, client_in, client_driver) = Mux::new(MuxConfig::new(Side::Client));
    let (_agent, mut agent_in, agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    let (a, b, queue) = bottleneck_pair(rate, Duration::from_millis(25));
    tokio::spawn(async move {
        let (mut driver, _incoming) = (client_driver, client_in);
        let _ = driver.run(a, 0).await;
    });
    tokio::spawn(async move {
        let (mut driver, _mux) = (agent_driver, _agent);
        let _ = driver.run(b, 0).await;
    });
    let received = Arc::new(AtomicU64::new(0));
    {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some((mut stream, _, _)) = agent_in.accept().await {
                let received = received.clone();
                tokio::spawn(async move {
                    while let Some(Ok(data)) = stream.recv().await {
                        received.fetch_add(data.len() as u64, Ordering::SeqCst);
                    }
                });
            }
        });
    }
    // The path's round trip, measured as a session's first messages do.
    let control = client
        .open(StreamKind::Control, json!({}))
        .await
        .expect("open control");
    control.send(b"hello").await.expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;
    (client, received, queue)
}

// On virtual time: the clock moves only as the simulated link and the
// drivers' timers make it, so what is measured is the pacer's logic, not
// this machine's speed.
#[tokio::test(start_paused = true)]
async fn sync_data_is_paced_to_the_bottleneck_without_filling_its_queue() {
    // 100 Mbit/s, 50 ms round trip: 625 kB in flight fill the path.
    let rate = 12.5e6;
    let bdp = (rate * 0.05) as u64;
    let (client, received, queue) = paced_session(rate).await;

    let total: u64 = 40 << 20;
    let bulk = client
        .open(StreamKind::Sync, json!({"path": "/src"}))
        .await
        .expect("open sync");
    let started = tokio::time::Instant::now();
    let writer = bulk.writer();
    tokio::spawn(async move {
        let chunk = pattern(1 << 20);
        for _ in 0..(total >> 20) {
            writer.send(&chunk).await.expect("send");
        }
    });
    // Start-up may overshoot while it looks for the rate; after it the
    // queue stays short.
    while received.load(Ordering::SeqCst) < 16 << 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    queue.most.store(0, Ordering::SeqCst);
    while received.load(Ordering::SeqCst) < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let most = queue.most.load(Ordering::SeqCst);
    eprintln!(
        "RESULT most {most} seconds {seconds} rate {}",
        total as f64 / seconds
    );
    // Unpaced, the queue would hold all the stream may have in flight
    // (several round trips of data); paced, less than the path holds, so
    // a keystroke sent meanwhile waits less than a round trip for it.
    assert!(
        most < bdp,
        "{most} bytes waited at the bottleneck after start-up, more than the {bdp} the path holds"
    );
    // And the path stays busy: the data moved at 85% of the link's rate
    // or better, on the simulated clock.
    let ideal = total as f64 / rate;
    assert!(
        seconds <= ideal / 0.85,
        "{total} bytes took {seconds:.2} s of simulated time where the link carries them in {ideal:.2} s"
    );
}

#[tokio::test(start_paused = true)]
async fn small_writes_after_a_transfer_leave_at_once() {
    let rate = 12.5e6;
    let (client, received, _queue) = paced_session(rate).await;
    let stream = client
        .open(StreamKind::Sync, json!({"path": "/src"}))
        .await
        .expect("open sync");
    stream.send(&pattern(8 << 20)).await.expect("send");
    while received.load(Ordering::SeqCst) < 8 << 20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Saves: a few small messages each, far apart. A pacer that took the
    // rate of these for the path's would space them out more and more.
    for save in 0..40 {
        let before = received.load(Ordering::SeqCst);
        let written = tokio::time::Instant::now();
        for part in [200usize, 1500, 64] {
            stream.send(&pattern(part)).await.expect("send");
        }
        while received.load(Ordering::SeqCst) < before + 1764 {
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        let took = written.elapsed();
        assert!(
            took <= Duration::from_millis(30),
            "save {save} took {took:?} of simulated time over a path 25 ms long"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! A relay connection for tests and benchmarks: a WebSocket to `berthd`
//! that does the HELLO/WELCOME handshake and carries a `berth-proto`
//! session, optionally cut after a number of frames, as a dropped Wi-Fi
//! would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_proto::Frame;
use berth_proto::mux::{Link, LinkError, LinkRx, LinkTx};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `base`'s relay as `role` ("client" or "agent") with `token`,
/// sends `hello`, and returns the WELCOME, or the reason the relay gave
/// for closing the connection.
pub async fn connect(
    base: &str,
    role: &str,
    token: &str,
    hello: Value,
) -> Result<(Ws, Value), String> {
    let url = format!("{}/api/v1/relay/{role}", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "a token that is not a header value".to_owned())?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| format!("upgrade refused: {e}"))?;
    ws.send(Message::Binary(Frame::Hello(hello).encode().into()))
        .await
        .map_err(|e| e.to_string())?;
    match ws.next().await {
        Some(Ok(Message::Binary(bytes))) => match Frame::decode(&bytes) {
            Ok(Frame::Welcome(welcome)) => Ok((ws, welcome)),
            other => Err(format!("not a WELCOME: {other:?}")),
        },
        Some(Ok(Message::Close(Some(frame)))) => Err(frame.reason.to_string()),
        other => Err(format!("closed without a reason: {other:?}")),
    }
}

/// A relay WebSocket as a protocol link; with `cut_after`, it fails after
/// that many frames (sent or received).
pub struct WsLink {
    pub ws: Ws,
    pub cut_after: Option<u64>,
}

struct Cut {
    after: Option<u64>,
    frames: AtomicU64,
}

impl Cut {
    fn tick(&self) -> Result<(), LinkError> {
        let n = self.frames.fetch_add(1, Ordering::SeqCst) + 1;
        if self.after.is_some_and(|after| n > after) {
            return Err(LinkError("cut by the test".to_owned()));
        }
        Ok(())
    }
}

pub struct WsTx(SplitSink<Ws, Message>, Arc<Cut>);
pub struct WsRx(SplitStream<Ws>, Arc<Cut>);

impl Link for WsLink {
    type Tx = WsTx;
    type Rx = WsRx;

    fn split(self) -> (WsTx, WsRx) {
        let cut = Arc::new(Cut {
            after: self.cut_after,
            frames: AtomicU64::new(0),
        });
        let (sink, stream) = self.ws.split();
        (WsTx(sink, cut.clone()), WsRx(stream, cut))
    }
}

impl LinkTx for WsTx {
    async fn send(&mut self, frame: bytes::Bytes) -> Result<(), LinkError> {
        self.1.tick()?;
        self.0
            .send(Message::Binary(frame))
            .await
            .map_err(|e| LinkError(e.to_string()))
    }
}

impl LinkRx for WsRx {
    async fn recv(&mut self) -> Option<Result<Vec<u8>, LinkError>> {
        loop {
            match self.0.next().await? {
                Ok(Message::Binary(bytes)) => {
                    if let Err(e) = self.1.tick() {
                        return Some(Err(e));
                    }
                    return Some(Ok(bytes.to_vec()));
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(LinkError(e.to_string()))),
            }
        }
    }
}

/// An agent's side that sends every stream's bytes back, and closes each
/// stream when the other side closes it.
pub fn echo(mut incoming: berth_proto::mux::Incoming) {
    tokio::spawn(async move {
        while let Some((mut stream, _, _)) = incoming.accept().await {
            tokio::spawn(async move {
                while let Some(Ok(data)) = stream.recv().await {
                    if stream.send(&data).await.is_err() {
                        return;
                    }
                }
                let _ = stream.close().await;
            });
        }
    });
}

/// `len` bytes that do not repeat in any short period (xorshift), so a
/// byte out of place shows.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

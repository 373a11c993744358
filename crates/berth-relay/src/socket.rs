//! The WebSocket as the relay sees it: a sending and a receiving half
//! (`berth-server` implements them over axum's socket, tests over
//! channels), and who a connection says it is.

use std::future::Future;
use std::pin::Pin;

use berth_auth::Actor;
use bytes::Bytes;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The sending half of a WebSocket, as the relay uses it.
pub trait SocketTx: Send {
    fn send(&mut self, frame: Bytes) -> BoxFuture<'_, Result<(), String>>;
    /// Closes the connection with a reason the peer is shown.
    fn close(&mut self, reason: String) -> BoxFuture<'_, ()>;
    /// Another handle to the same connection (to close it from elsewhere).
    fn handle(&self) -> Box<dyn SocketTx>;
}

/// The receiving half: whole binary messages. A text message, a message
/// over the size limit, or a peer that stops answering pings is an error.
pub trait SocketRx: Send {
    fn recv(&mut self) -> BoxFuture<'_, Option<Result<Bytes, String>>>;
}

/// Who is attaching.
pub enum Credentials {
    /// The CLI, authenticated by the owner's API token.
    Client(Box<Actor>),
    /// `berth agent`, with the session's agent token.
    Agent(String),
}

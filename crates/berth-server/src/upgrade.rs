//! Splicing an upgraded connection (a WebSocket, an exec stream) through a
//! proxy once both sides agreed to the upgrade.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Copies both ways between the caller's upgraded connection and the
/// upstream's until either side closes; `what` names the stream in logs.
pub(crate) async fn splice(downstream: OnUpgrade, upstream: OnUpgrade, what: String) {
    let (down, up) = match tokio::try_join!(downstream, upstream) {
        Ok(both) => both,
        Err(err) => {
            tracing::warn!(stream = %what, error = %err, "a stream could not be upgraded");
            return;
        }
    };
    let mut down = TokioIo::new(down);
    let mut up = TokioIo::new(up);
    if let Err(err) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
        tracing::debug!(stream = %what, error = %err, "a stream ended");
    }
}

//! Dev sessions, and the relay's WebSocket endpoints.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use berth_core::session::{NewSession, SessionCreated, SessionView, SyncReport};
use berth_relay::{BoxFuture, Credentials, SocketRx, SocketTx};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiWebSocket, Caller, bearer};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(get_session, terminate_session))
        .routes(routes!(sync_report))
        .routes(routes!(relay_client))
        .routes(routes!(relay_agent))
}

/// Your live dev sessions; every live session for admins.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 200, body = Vec<SessionView>)))]
async fn list_sessions(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    Ok(Json(app.relay().list(&actor).await?))
}

/// Starts a dev session in a space you may use. The agent token in the
/// answer is shown this once.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = NewSession,
    responses((status = 201, body = SessionCreated), (status = 403, description = "Over the limit of live sessions"),
        (status = 404, description = "No such space you may use")))]
async fn create_session(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<NewSession>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.relay().create(&actor, req).await?),
    ))
}

/// One dev session: its sides, streams and bytes. A session that has
/// ended (terminated, idle too long, or a side did not come back) stays
/// readable, with `state: ended` and why and when it ended: that record is
/// what its owner and the console show of it.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = SessionView, description = "The session, live or ended"),
        (status = 404, description = "No such session you may see")))]
async fn get_session(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(app.relay().get(&actor, &id).await?))
}

/// Ends a dev session now (its owner, or an admin): both sides are
/// disconnected and cannot resume. The session is ended, not forgotten: it
/// stays readable with `state: ended` and its reason, and ending it again
/// answers the same.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = SessionView, description = "The session, ended"),
        (status = 404, description = "No such session you may see")))]
async fn terminate_session(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(app.relay().terminate(&actor, &id).await?))
}

/// What `berth up`'s sync saw since its last report (save-to-container
/// latencies, files, conflicts), for the daemon's metrics. The session's
/// owner (or an admin) reports.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/sync-report", tag = "sessions", params(("id" = String, Path)),
    request_body = SyncReport,
    responses((status = 204, description = "Recorded"), (status = 404, description = "No such session you may see"),
        (status = 422, description = "More than 1,000 latencies, or a negative one")))]
async fn sync_report(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(report): ApiJson<SyncReport>,
) -> Result<StatusCode, ApiError> {
    let report = app.relay().sync_report(&actor, &id, report).await?;
    app.metrics().sync(&report);
    Ok(StatusCode::NO_CONTENT)
}

/// The CLI's side of the relay: a WebSocket, authenticated by the session
/// owner's API token; the first frame is HELLO naming the session.
#[utoipa::path(get, path = "/api/v1/relay/client", tag = "sessions", params(Handshake),
    responses((status = 101, description = "Switching to the Berth protocol over a WebSocket (docs/protocol.md)"),
        (status = 401, description = "No valid API token"),
        (status = 422, description = "Not a WebSocket handshake")))]
async fn relay_client(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiWebSocket(upgrade): ApiWebSocket,
) -> Response {
    serve(app, upgrade, Credentials::Client(Box::new(actor)))
}

/// The agent's side of the relay: a WebSocket, authenticated by the
/// session's agent token (`Authorization: Bearer berth_agt_…`).
#[utoipa::path(get, path = "/api/v1/relay/agent", tag = "sessions", params(Handshake),
    security(("agent" = [])),
    responses((status = 101, description = "Switching to the Berth protocol over a WebSocket (docs/protocol.md)"),
        (status = 401, description = "No agent token"),
        (status = 422, description = "Not a WebSocket handshake")))]
async fn relay_agent(
    State(app): State<App>,
    headers: HeaderMap,
    ApiWebSocket(upgrade): ApiWebSocket,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)
        .filter(|t| t.starts_with(berth_relay::AGENT_PREFIX))
        .ok_or_else(|| {
            berth_core::Error::unauthenticated("an agent token (berth_agt_…) is required")
        })?
        .to_owned();
    Ok(serve(app, upgrade, Credentials::Agent(token)))
}

/// The headers of a WebSocket handshake (RFC 6455), which the relay's
/// endpoints need before anything else.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct Handshake {
    /// `Upgrade`.
    #[param(rename = "Connection", pattern = "^[Uu]pgrade$")]
    connection: String,
    /// `websocket`.
    #[param(rename = "Upgrade", pattern = "^websocket$")]
    upgrade: String,
    /// `13`.
    #[param(rename = "Sec-WebSocket-Version", pattern = "^13$")]
    version: String,
    /// 16 random bytes, base64.
    #[param(rename = "Sec-WebSocket-Key", pattern = "^[A-Za-z0-9+/]{22}==$")]
    key: String,
}

fn serve(app: App, upgrade: WebSocketUpgrade, credentials: Credentials) -> Response {
    let ping = app.relay().config().ping_interval;
    upgrade
        // Small buffers: a session's connections are mostly idle, and
        // these are per connection.
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(berth_proto::frame::MAX_FRAME)
        .max_frame_size(berth_proto::frame::MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let sink = std::sync::Arc::new(Mutex::new(sink));
            let tx = WsTx { sink: sink.clone() };
            let rx = WsRx {
                stream,
                sink,
                ping,
                last_seen: Instant::now(),
            };
            app.relay()
                .attach(credentials, Box::new(tx), Box::new(rx))
                .await;
        })
}

type Sink = std::sync::Arc<Mutex<SplitSink<WebSocket, Message>>>;

struct WsTx {
    sink: Sink,
}

impl SocketTx for WsTx {
    fn handle(&self) -> Box<dyn SocketTx> {
        Box::new(WsTx {
            sink: self.sink.clone(),
        })
    }

    fn send(&mut self, frame: bytes::Bytes) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.sink
                .lock()
                .await
                .send(Message::Binary(frame))
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn close(&mut self, reason: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A close reason is at most 123 bytes.
            let mut reason = reason;
            while reason.len() > 123 {
                reason.pop();
            }
            let frame = axum::extract::ws::CloseFrame {
                code: axum::extract::ws::close_code::POLICY,
                reason: reason.into(),
            };
            let mut sink = self.sink.lock().await;
            let _ = sink.send(Message::Close(Some(frame))).await;
            let _ = sink.close().await;
        })
    }
}

struct WsRx {
    stream: SplitStream<WebSocket>,
    sink: Sink,
    ping: Duration,
    last_seen: Instant,
}

impl SocketRx for WsRx {
    fn recv(&mut self) -> BoxFuture<'_, Option<Result<bytes::Bytes, String>>> {
        Box::pin(async move {
            loop {
                let message = tokio::select! {
                    message = self.stream.next() => message,
                    _ = tokio::time::sleep(self.ping) => {
                        if self.last_seen.elapsed() > self.ping * 2 {
                            return Some(Err("no answer to pings".to_owned()));
                        }
                        let _ = self.sink.lock().await.send(Message::Ping(Vec::new().into())).await;
                        continue;
                    }
                };
                self.last_seen = Instant::now();
                match message? {
                    Ok(Message::Binary(bytes)) => return Some(Ok(bytes)),
                    Ok(Message::Text(_)) => {
                        return Some(Err("text messages are not part of the protocol".to_owned()));
                    }
                    Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
                    Ok(Message::Close(_)) => return None,
                    Err(e) => return Some(Err(e.to_string())),
                }
            }
        })
    }
}

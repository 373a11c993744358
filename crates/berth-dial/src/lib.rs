//! The dialer: the CLI's and the agent's side of the relay. A WebSocket to
//! `berthd` (TLS with the web's root certificates for https, through an
//! HTTP proxy when the environment names one), the HELLO/WELCOME
//! handshake, and a session that reconnects and resumes when the
//! connection drops.
//!
//! Invariant: a session is resumed after every drop until the relay says
//! it is over ([`berth_proto::CloseReason::SessionEnded`]) or refuses the
//! connection; a network failure alone never ends it.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use berth_proto::mux::{Ended, Incoming, Link, LinkError, LinkRx, LinkTx, Mux, MuxConfig, Side};
use berth_proto::{CloseReason, Frame, Handshake, Hello, Resume, Welcome};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Ws = WebSocketStream<Box<dyn Io>>;

/// Which side this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Agent,
}

impl Role {
    fn path(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Agent => "agent",
        }
    }
}

/// Why a connection attempt failed: the relay's reason, or the network's.
#[derive(Debug)]
pub enum Refused {
    /// The relay closed the connection with this reason; trying again will
    /// not help.
    Relay(String),
    /// The network or the server failed; try again.
    Network(String),
}

struct WsLink {
    ws: Ws,
}

struct WsTx(futures::stream::SplitSink<Ws, Message>);
struct WsRx(futures::stream::SplitStream<Ws>);

impl Link for WsLink {
    type Tx = WsTx;
    type Rx = WsRx;
    fn split(self) -> (WsTx, WsRx) {
        let (sink, stream) = self.ws.split();
        (WsTx(sink), WsRx(stream))
    }
}

impl LinkTx for WsTx {
    async fn send(&mut self, frame: bytes::Bytes) -> Result<(), LinkError> {
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
                Ok(Message::Binary(bytes)) => return Some(Ok(bytes.to_vec())),
                Ok(Message::Close(frame)) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Some(Err(LinkError(reason)));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(LinkError(e.to_string()))),
            }
        }
    }
}

/// The TLS settings: the web's root certificates, plus the certificates in
/// `BERTH_CA_FILE` (PEM) for a Berth behind a company's own CA.
fn tls() -> Result<Arc<rustls::ClientConfig>, Refused> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(file) = std::env::var_os("BERTH_CA_FILE").filter(|f| !f.is_empty()) {
        let shown = std::path::Path::new(&file).display().to_string();
        let certs = CertificateDer::pem_file_iter(&file)
            .map_err(|e| Refused::Relay(format!("cannot read BERTH_CA_FILE {shown}: {e}")))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| {
                Refused::Relay(format!(
                    "BERTH_CA_FILE {shown} holds a bad certificate: {e}"
                ))
            })?;
            roots
                .add(cert)
                .map_err(|e| Refused::Relay(format!("BERTH_CA_FILE {shown}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(Refused::Relay(format!(
                "BERTH_CA_FILE {shown} holds no PEM certificate"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Refused::Relay(format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The proxy to reach `host` through, from `HTTPS_PROXY` (for https) or
/// `HTTP_PROXY` (for http), or `ALL_PROXY`, unless `NO_PROXY` lists the
/// host (exactly, or as a domain suffix; `*` means every host).
fn proxy_for(host: &str, secure: bool) -> Option<String> {
    let var = |name: &str| {
        std::env::var(name)
            .or_else(|_| std::env::var(name.to_lowercase()))
            .ok()
            .filter(|v| !v.is_empty())
    };
    let proxy = if secure {
        var("HTTPS_PROXY")
    } else {
        var("HTTP_PROXY")
    }
    .or_else(|| var("ALL_PROXY"))?;
    let bypass = var("NO_PROXY").unwrap_or_default();
    let skipped = bypass
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = entry.trim_start_matches('.');
            entry == "*" || host == entry || host.ends_with(&format!(".{entry}"))
        });
    (!skipped).then_some(proxy)
}

/// Unsent bytes the kernel holds for the relay connection.
const NOTSENT_LOWAT: u32 = 128 << 10;

/// A TCP connection to `host:port`, through an HTTP proxy with CONNECT
/// when one applies.
async fn dial(host: &str, port: u16, secure: bool) -> Result<tokio::net::TcpStream, Refused> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (target_host, target_port, proxied) = match proxy_for(host, secure) {
        Some(proxy) => {
            let url = reqwest::Url::parse(&proxy)
                .map_err(|e| Refused::Relay(format!("the proxy {proxy} is not a URL: {e}")))?;
            let proxy_host = url
                .host_str()
                .ok_or_else(|| Refused::Relay(format!("the proxy {proxy} has no host")))?
                .to_owned();
            (
                proxy_host,
                url.port_or_known_default().unwrap_or(3128),
                true,
            )
        }
        None => (host.to_owned(), port, false),
    };
    let mut tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((target_host.as_str(), target_port)),
    )
    .await
    .map_err(|_| {
        Refused::Network(format!(
            "no answer from {target_host}:{target_port} within 10s"
        ))
    })?
    .map_err(|e| Refused::Network(format!("cannot reach {target_host}:{target_port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    // The kernel keeps at most this much unsent data for the socket; the
    // rest waits in the multiplexer, where a keystroke can overtake sync
    // data (a socket buffer sized for a fast path would hold seconds of
    // bulk data ahead of it on a slow one).
    let _ = socket2::SockRef::from(&tcp).set_tcp_notsent_lowat(NOTSENT_LOWAT);
    if proxied {
        let request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.map_err(|e| {
            Refused::Network(format!("the proxy {target_host}:{target_port} failed: {e}"))
        })?;
        // The proxy's answer, up to the blank line; the server sends
        // nothing before the tunnel is used.
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n\r\n") {
            let n = tcp
                .read(&mut byte)
                .await
                .map_err(|e| Refused::Network(e.to_string()))?;
            if n == 0 || answer.len() > 8192 {
                return Err(Refused::Network(format!(
                    "the proxy {target_host}:{target_port} closed the connection"
                )));
            }
            answer.push(byte[0]);
        }
        let status = String::from_utf8_lossy(&answer);
        let line = status.lines().next().unwrap_or_default().to_owned();
        if line.split_whitespace().nth(1) != Some("200") {
            return Err(Refused::Relay(format!(
                "the proxy {target_host}:{target_port} refused the tunnel: {line}"
            )));
        }
    }
    Ok(tcp)
}

/// Opens the WebSocket and exchanges HELLO and WELCOME.
async fn connect(
    base: &str,
    role: Role,
    token: &str,
    hello: Hello,
) -> Result<(Ws, Welcome), Refused> {
    let url = reqwest::Url::parse(base)
        .map_err(|e| Refused::Relay(format!("{base} is not a URL: {e}")))?;
    let secure = match url.scheme() {
        "https" => true,
        "http" => false,
        other => {
            return Err(Refused::Relay(format!(
                "{base}: the scheme {other} is not http or https"
            )));
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| Refused::Relay(format!("{base} has no host")))?
        .to_owned();
    let port = url
        .port_or_known_default()
        .unwrap_or(if secure { 443 } else { 80 });
    let ws_url = format!(
        "{}://{}/api/v1/relay/{}",
        if secure { "wss" } else { "ws" },
        &base[base.find("://").map(|i| i + 3).unwrap_or(0)..].trim_end_matches('/'),
        role.path()
    );
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| Refused::Relay(e.to_string()))?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| Refused::Relay("the token is not a valid header value".to_owned()))?,
    );
    let tcp = dial(&host, port, secure).await?;
    let io: Box<dyn Io> = if secure {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| Refused::Relay(format!("{host} is not a valid TLS name: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(tls()?)
            .connect(name, tcp)
            .await
            .map_err(|e| Refused::Network(format!("TLS with {host} failed: {e}")))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (mut ws, _) = tokio_tungstenite::client_async(request, io)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => Refused::Relay(format!(
                "the relay refused the connection ({})",
                response.status()
            )),
            other => Refused::Network(other.to_string()),
        })?;
    ws.send(Message::Binary(
        Frame::Hello(hello.to_json()).encode().into(),
    ))
    .await
    .map_err(|e| Refused::Network(e.to_string()))?;
    match ws.next().await {
        Some(Ok(Message::Binary(bytes))) => match Frame::decode(&bytes) {
            Ok(Frame::Welcome(welcome)) => Welcome::from_json(welcome)
                .map(|welcome| (ws, welcome))
                .map_err(|e| Refused::Relay(e.to_string())),
            _ => Err(Refused::Relay(
                "the relay answered something other than WELCOME".to_owned(),
            )),
        },
        Some(Ok(Message::Close(Some(frame)))) => Err(Refused::Relay(frame.reason.to_string())),
        Some(Err(e)) => Err(Refused::Network(e.to_string())),
        _ => Err(Refused::Network(
            "the connection closed during the handshake".to_owned(),
        )),
    }
}

/// The delays between attempts to reach the relay again: from 100 ms,
/// doubling up to `max`, with jitter so that many clients cut off at once
/// do not come back at once; forever, until the relay answers.
pub fn reconnect_delays(max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
}

/// A live session: its streams, and the task that keeps it connected. The
/// task ends with the reason the session is over.
pub struct Session {
    pub mux: Mux,
    pub incoming: Incoming,
    pub task: tokio::task::JoinHandle<String>,
}

/// The first connection of an attachment: it waits until the other side
/// is there (saying so after two seconds) and answers its WELCOME.
pub async fn first(
    base: &str,
    role: Role,
    token: &str,
    session: Option<&str>,
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<(Ws, Welcome), Refused> {
    let hello = Hello::new(session.map(str::to_owned), None);
    let first = connect(base, role, token, hello);
    tokio::pin!(first);
    tokio::select! {
        connected = &mut first => connected,
        _ = tokio::time::sleep(Duration::from_secs(2)) => {
            say("waiting for the other side of the session to connect…");
            first.await
        }
    }
}

/// Runs an attachment whose first connection is made: its streams, and a
/// task that resumes it after drops until the relay says it is over.
pub fn run(
    base: String,
    role: Role,
    token: String,
    session: Option<String>,
    (ws, welcome): (Ws, Welcome),
    say: impl Fn(&str) + Send + 'static,
) -> Session {
    let side = match role {
        Role::Client => Side::Client,
        Role::Agent => Side::Agent,
    };
    let (mux, incoming, mut driver) = Mux::new(MuxConfig::new(side));
    let task_mux = mux.clone();
    let task = tokio::spawn(async move {
        let mut link = Some(WsLink { ws });
        let mut welcome = welcome;
        loop {
            let Some(current) = link.take() else {
                return "the relay task lost its connection".to_owned();
            };
            let resume_token = welcome.resume_token.clone();
            match driver.run(current, welcome.peer_last_received).await {
                Ok(Ended::Finished) => return "done".to_owned(),
                Ok(Ended::Disconnected(reason)) => {
                    let reason = CloseReason::parse(&reason.map(|r| r.0).unwrap_or_default());
                    if reason.is_session_ended() {
                        return reason.to_string();
                    }
                    say(&format!(
                        "connection to the relay lost ({reason}); resuming…"
                    ));
                }
                Err(err) => return format!("the session broke: {err}"),
            }
            let reconnect = || {
                let resume = Resume {
                    token: resume_token.clone(),
                    last_received: task_mux.last_received(),
                };
                connect(
                    &base,
                    role,
                    &token,
                    Hello::new(session.clone(), Some(resume)),
                )
            };
            match reconnect
                .retry(reconnect_delays(Duration::from_secs(5)))
                .when(|e| matches!(e, Refused::Network(_)))
                .await
            {
                Ok((ws, next)) => {
                    link = Some(WsLink { ws });
                    welcome = next;
                    say("connection to the relay is back");
                }
                Err(Refused::Relay(reason) | Refused::Network(reason)) => return reason,
            }
        }
    });
    Session {
        mux,
        incoming,
        task,
    }
}

//! The daemon's router served in-process on a loopback port, for tests that
//! need a real HTTP server but not the whole `berthd` process.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use berth_server::{App, HttpMetrics};
use berth_store::{Holder, Store};

/// A served [`App`] on a fresh store; the server stops when this drops.
pub struct TestServer {
    pub app: App,
    pub addr: SocketAddr,
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _temp: tempfile::TempDir,
}

impl TestServer {
    /// Starts serving on the current tokio runtime.
    pub async fn start() -> anyhow::Result<TestServer> {
        let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
        let store = Store::open(
            &temp.path().join("data"),
            &Holder::this_process("in-process"),
        )?;
        let registry = prometheus::Registry::new();
        let meter = opentelemetry::global::meter("berth-test");
        let app = App::new(Arc::new(store), HttpMetrics::new(&meter), registry);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = berth_server::router(app.clone());
        tokio::spawn(berth_server::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            app,
            addr,
            url: format!("http://{addr}"),
            _stop: stop,
            _temp: temp,
        })
    }
}

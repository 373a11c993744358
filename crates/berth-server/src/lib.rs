//! Berth's HTTP face: the axum router, its middleware, the OpenAPI document,
//! the embedded admin console and the built-in samples' chart repository.
//!
//! Invariant: this is the only crate that touches axum. Handlers stay thin:
//! extract, call into [`App`], map the result; errors become responses in one
//! place ([`ApiError`]), and every API route is declared with `#[utoipa::path]`
//! so that it appears in the OpenAPI document served at `/api/v1/openapi.json`.

mod app;
mod console;
mod doc;
mod endpoint_proxy;
mod error;
mod extract;
mod metrics;
mod observe;
mod routes;
mod samples;
mod tls;
mod upgrade;

use std::sync::LazyLock;

use axum::Router;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use app::{App, AppParts, LiveCheck, Readiness};
pub use berth_core::space::KubeAccess;
pub use error::ApiError;
pub use metrics::HttpMetrics;
pub use tls::{KubeTls, serve_tls};

/// The router for the whole daemon: API, probes, metrics and console.
pub fn router(app: App) -> Router {
    let (api, _) = api_router().split_for_parts();
    api.merge(samples::router())
        .merge(routes::kube::router())
        .fallback(console::serve)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            endpoint_proxy::route,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            observe::observe,
        ))
        .with_state(app)
}

/// Serves `router` on `listener` until `stop` resolves, then stops accepting
/// and waits for in-flight requests. Bounding that wait is the caller's job.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // No Nagle delay: the relay forwards small frames (keystrokes, ACKs)
    // that must not wait for a full segment.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(error = %err, "cannot turn off Nagle's algorithm on a connection");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
}

/// The OpenAPI document for every route in [`router`].
pub fn openapi() -> OpenApi {
    api_router().split_for_parts().1
}

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    openapi()
        .to_pretty_json()
        .expect("the OpenAPI document is plain data and always serializes")
});

fn api_router() -> OpenApiRouter<App> {
    let mut doc = OpenApi::default();
    doc.info.title = "Berth API".to_owned();
    doc.info.version = berth_core::BuildInfo::current().version;
    doc.info.description = Some(
        "The control-plane API of Berth: spaces, catalog and apps, dev sessions and audit."
            .to_owned(),
    );
    let mut router = OpenApiRouter::with_openapi(doc)
        .merge(routes::system::router())
        .merge(routes::auth::router())
        .merge(routes::users::router())
        .merge(routes::audit::router())
        .merge(routes::spaces::router())
        .merge(routes::endpoints::router())
        .merge(routes::sessions::router())
        .merge(routes::dev::router())
        .merge(routes::catalog::router())
        .merge(routes::apps::router())
        .merge(routes::kube::api());
    doc::complete(router.get_openapi_mut());
    router
}

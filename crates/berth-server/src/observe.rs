//! Per-request observability: a request id, a trace span joined to the caller's
//! W3C `traceparent`, and the latency histogram.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::Extractor;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::App;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

pub(crate) async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_acceptable_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| {
            let endpoint = crate::endpoint_proxy::host_of(&req)
                .is_some_and(|host| app.endpoints().label_of(&host).is_some());
            if endpoint {
                "{endpoint}".to_owned()
            } else if req.uri().path().starts_with("/api/") {
                "/api/{unmatched}".to_owned()
            } else {
                "/{console}".to_owned()
            }
        });
    // Only the standard methods become metric labels: anything a caller
    // invents would create series without bound.
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "_OTHER".to_owned(),
    };

    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(req.headers()))
    });
    // Without an OpenTelemetry layer installed there is nothing to join.
    let _ = span.set_parent(parent);

    // Accepted ids are printable ASCII and generated ones are UUIDs, so this
    // always succeeds; built once for the request and the response.
    let header = HeaderValue::from_str(&request_id).ok();
    if let Some(value) = &header {
        req.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
    }
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(req).instrument(span.clone()))
        .await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    // `/readyz` answers 503 while a component is not ready: an answer, not
    // a failure, asked every few seconds by the kubelet; the daemon logs
    // when readiness turns.
    if status.is_server_error() && route != "/readyz" {
        span.in_scope(|| tracing::warn!(status = status.as_u16(), "request failed"));
    } else {
        span.in_scope(|| tracing::debug!(status = status.as_u16(), "request served"));
    }
    if let Some(value) = header {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    app.metrics()
        .record(&route, &method, status.as_u16(), started.elapsed());
    response
}

/// A caller-supplied request id is kept only if it is short, printable ASCII,
/// so it cannot forge log lines or bloat them.
fn is_acceptable_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

//! Probes, metrics, version and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use berth_core::{BuildInfo, Error, ReadinessReport};
use prometheus::{Encoder, TextEncoder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(version))
        .routes(routes!(openapi_json))
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "The process is alive", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store is open and every subsystem can serve.
#[utoipa::path(get, path = "/readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "Every component is ready", body = ReadinessReport),
        (status = 503, description = "Some component is not ready; the body names it", body = ReadinessReport),
    ))]
async fn readyz(State(app): State<App>) -> (StatusCode, Json<ReadinessReport>) {
    let report = app.readiness_report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String,
        content_type = "text/plain; version=0.0.4"),
        (status = 500, description = "The metrics could not be encoded")))]
async fn metrics(State(app): State<App>) -> Result<impl IntoResponse, ApiError> {
    let families = app.prometheus().gather();
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    encoder
        .encode(&families, &mut body)
        .map_err(|err| Error::internal(format!("encoding metrics: {err}")))?;
    Ok((
        [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
        body,
    ))
}

/// The version of the running daemon.
#[utoipa::path(get, path = "/api/v1/version", tag = "system", security(()),
    responses((status = 200, description = "Build information", body = BuildInfo)))]
async fn version(State(app): State<App>) -> Json<BuildInfo> {
    Json(app.build().clone())
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::OPENAPI_JSON.as_str(),
    )
}

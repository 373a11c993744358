//! The audit log: filtered queries, JSONL export, verification.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_audit::{Page, Verification};
use berth_auth::AuditExport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiQuery, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(export))
        .routes(routes!(verify))
        .routes(routes!(public_key))
}

/// Audit events, newest first, filtered; page with `before`. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(berth_audit::Query),
    responses((status = 200, body = Page), (status = 403, description = "Admins and auditors only"),
        (status = 422, description = "A bad filter")))]
async fn list_events(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<berth_audit::Query>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(app.auth().audit_log().events(&actor, &query).await?))
}

/// Every matching event, newest first, as JSON lines, streamed page by page.
/// The export itself is audited. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(berth_audit::Query),
    responses((status = 200, description = "One event per line", content_type = "application/x-ndjson"),
        (status = 403, description = "Admins and auditors only"),
        (status = 422, description = "A bad filter")))]
async fn export(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<berth_audit::Query>,
) -> Result<Response, ApiError> {
    let export = app.auth().audit_log().export(&actor, query).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(pages(export)),
    )
        .into_response())
}

/// The export's pages as a body; a failed read ends it with an error, so
/// the download is visibly incomplete.
fn pages(export: AuditExport) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(export, |mut export| async move {
        let page = export.next_page().await?;
        let chunk = page
            .map(Bytes::from)
            .map_err(|err| std::io::Error::other(err.message));
        Some((chunk, export))
    })
}

/// Checks the whole chain and every signed checkpoint. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification), (status = 403, description = "Admins and auditors only")))]
async fn verify(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(app.auth().audit_log().verify(&actor).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    /// Ed25519, hex: keep a copy outside the cluster to verify checkpoints.
    pub public_key: String,
}

/// The public key that signs audit checkpoints. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKey), (status = 403, description = "Admins and auditors only")))]
async fn public_key(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<PublicKey>, ApiError> {
    let public_key = app.auth().audit_log().public_key(&actor).await?;
    Ok(Json(PublicKey { public_key }))
}

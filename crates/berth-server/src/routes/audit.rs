//! The audit log: filtered queries, JSONL export, verification.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_audit::{AuditEvent, EventResource, Page, Verification};
use berth_auth::Action;
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

fn audit_resource() -> EventResource {
    EventResource {
        kind: "audit_log".to_owned(),
        ..EventResource::default()
    }
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
    app.auth()
        .allow(&actor, Action::ReadAudit, "audit.list", audit_resource())
        .await?;
    Ok(Json(app.audit().query(&query)?))
}

/// Every matching event, newest first, as JSON lines, streamed page by page.
/// The export itself is audited. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(berth_audit::Query),
    responses((status = 200, description = "One event per line", content_type = "application/x-ndjson"),
        (status = 403, description = "Admins and auditors only")))]
async fn export(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<berth_audit::Query>,
) -> Result<Response, ApiError> {
    let auth = app.auth();
    auth.allow(&actor, Action::ReadAudit, "audit.export", audit_resource())
        .await?;
    let audit = app.audit().clone();
    let filters = serde_json::to_string(&query).unwrap_or_default();
    auth.record_read(
        &actor,
        "audit.export",
        audit_resource(),
        &format!("export with filters {filters}"),
    )
    .await?;
    let stream = async_stream(audit, query);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn async_stream(
    audit: std::sync::Arc<berth_audit::Audit>,
    query: berth_audit::Query,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(Some((query, Vec::<AuditEvent>::new())), move |state| {
        let audit = audit.clone();
        async move {
            let (mut query, mut pending) = state?;
            if pending.is_empty() {
                query.limit = Some(1000);
                let page = tokio::task::spawn_blocking({
                    let audit = audit.clone();
                    let query = query.clone();
                    move || audit.query(&query)
                })
                .await;
                // A failed read ends the body with an error, so the download
                // is visibly incomplete instead of looking finished.
                let page = match page {
                    Ok(Ok(page)) => page,
                    Ok(Err(err)) => return Some((Err(std::io::Error::other(err.message)), None)),
                    Err(err) => return Some((Err(std::io::Error::other(err.to_string())), None)),
                };
                if page.events.is_empty() {
                    return None;
                }
                pending = page.events;
                query.before = page.next.or(Some(0));
            }
            let mut chunk = Vec::new();
            for event in pending.drain(..) {
                match serde_json::to_vec(&event) {
                    Ok(line) => {
                        chunk.extend_from_slice(&line);
                        chunk.push(b'\n');
                    }
                    Err(err) => return Some((Err(std::io::Error::other(err)), None)),
                }
            }
            let more = query.before != Some(0);
            Some((Ok(Bytes::from(chunk)), more.then_some((query, Vec::new()))))
        }
    })
}

/// Checks the whole chain and every signed checkpoint. Admins and auditors.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification), (status = 403, description = "Admins and auditors only")))]
async fn verify(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Verification>, ApiError> {
    app.auth()
        .allow(&actor, Action::ReadAudit, "audit.verify", audit_resource())
        .await?;
    let audit = app.audit().clone();
    let result = tokio::task::spawn_blocking(move || audit.verify())
        .await
        .map_err(|e| berth_core::Error::internal(format!("verify task: {e}")))?;
    Ok(Json(result))
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
    app.auth()
        .allow(
            &actor,
            Action::ReadAudit,
            "audit.public_key",
            audit_resource(),
        )
        .await?;
    Ok(Json(PublicKey {
        public_key: app.audit().public_key(),
    }))
}

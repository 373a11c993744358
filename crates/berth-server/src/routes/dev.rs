//! Dev mode: `berth up` and `berth down` on a space's workloads.

use axum::Json;
use axum::extract::State;
use berth_core::dev::{DevRequest, DevView, WorkloadView};
use berth_core::name::TargetName;
use berth_core::space::SpaceName;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_dev, start_dev))
        .routes(routes!(stop_dev))
        .routes(routes!(delete_dev_volume))
        .routes(routes!(list_workloads))
}

/// The space's targets in dev mode, with their sessions.
#[utoipa::path(get, path = "/api/v1/spaces/{name}/dev", tag = "dev", params(("name" = SpaceName, Path)),
    responses((status = 200, body = Vec<DevView>), (status = 404, description = "No such space you may use")))]
async fn list_dev(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(space): ApiPath<String>,
) -> Result<Json<Vec<DevView>>, ApiError> {
    Ok(Json(app.dev().list(&actor, &space).await?))
}

/// Puts a workload in dev mode for a manifest's target (waking the space
/// first) and answers with its dev session; a target already in dev mode
/// with the same settings keeps its session.
#[utoipa::path(post, path = "/api/v1/spaces/{name}/dev", tag = "dev", params(("name" = SpaceName, Path)),
    request_body = DevRequest,
    responses((status = 200, body = DevView),
        (status = 404, description = "No such space you may use, or no such workload in it"),
        (status = 409, description = "The workload is in dev mode for another target"),
        (status = 422, description = "A container the workload does not have, or a workload dev mode cannot change"),
        (status = 503, description = "The Kubernetes API did not answer")))]
async fn start_dev(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(space): ApiPath<String>,
    ApiJson(req): ApiJson<DevRequest>,
) -> Result<Json<DevView>, ApiError> {
    Ok(Json(app.dev().up(&actor, &space, req).await?))
}

/// Takes a target out of dev mode: the workload's original spec back
/// exactly, the session ended.
#[utoipa::path(delete, path = "/api/v1/spaces/{name}/dev/{target}", tag = "dev",
    params(("name" = SpaceName, Path), ("target" = TargetName, Path)),
    responses((status = 200, body = DevView), (status = 404, description = "No such target in dev mode")))]
async fn stop_dev(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, target)): ApiPath<(String, String)>,
) -> Result<Json<DevView>, ApiError> {
    Ok(Json(app.dev().down(&actor, &space, &target).await?))
}

/// Deletes a dev target's volume, with what its folders held (`berth
/// down --volumes`); one that is not there is fine.
#[utoipa::path(delete, path = "/api/v1/spaces/{name}/dev/{target}/volume", tag = "dev",
    params(("name" = SpaceName, Path), ("target" = TargetName, Path)),
    responses((status = 204, description = "The volume is gone"),
        (status = 404, description = "No such space you may use"),
        (status = 409, description = "The target is in dev mode: its pod uses the volume"),
        (status = 422, description = "Not a target name"),
        (status = 503, description = "The Kubernetes API did not answer")))]
async fn delete_dev_volume(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, target)): ApiPath<(String, String)>,
) -> Result<axum::http::StatusCode, ApiError> {
    app.dev().delete_volume(&actor, &space, &target).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The space's Deployments and StatefulSets (`berth init` starts a
/// manifest from them).
#[utoipa::path(get, path = "/api/v1/spaces/{name}/workloads", tag = "dev", params(("name" = SpaceName, Path)),
    responses((status = 200, body = Vec<WorkloadView>), (status = 404, description = "No such space you may use")))]
async fn list_workloads(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(space): ApiPath<String>,
) -> Result<Json<Vec<WorkloadView>>, ApiError> {
    Ok(Json(app.dev().workloads(&actor, &space).await?))
}

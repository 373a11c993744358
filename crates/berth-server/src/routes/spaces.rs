//! Spaces: a developer's isolated namespace, its members, sleep and wake.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_core::space::{NewSpace, ShareRequest, SpaceName, SpaceObject, SpaceUpdate, SpaceView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_spaces, create_space))
        .routes(routes!(get_space, update_space, delete_space))
        .routes(routes!(space_objects))
        .routes(routes!(share_space))
        .routes(routes!(unshare_space))
        .routes(routes!(sleep_space))
        .routes(routes!(wake_space))
}

/// The spaces you are a member of; every space for admins.
#[utoipa::path(get, path = "/api/v1/spaces", tag = "spaces",
    responses((status = 200, body = Vec<SpaceView>)))]
async fn list_spaces(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Vec<SpaceView>>, ApiError> {
    Ok(Json(app.spaces().list(&actor).await?))
}

/// Makes a space owned by the caller (or, for admins, by `owner`).
#[utoipa::path(post, path = "/api/v1/spaces", tag = "spaces", request_body = NewSpace,
    responses((status = 201, body = SpaceView),
        (status = 403, description = "Over the per-user limit, or an admin-only field"),
        (status = 404, description = "No such owner or quota profile"),
        (status = 409, description = "The name is taken, kept for the cluster's own namespaces, or held by a namespace Berth did not make")))]
async fn create_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<NewSpace>,
) -> Result<(StatusCode, Json<SpaceView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.spaces().create(&actor, req).await?),
    ))
}

/// One space, with its status and conditions.
#[utoipa::path(get, path = "/api/v1/spaces/{name}", tag = "spaces", params(("name" = SpaceName, Path)),
    responses((status = 200, body = SpaceView), (status = 404, description = "No such space you may see")))]
async fn get_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SpaceView>, ApiError> {
    Ok(Json(app.spaces().get(&actor, &name).await?))
}

/// Changes labels or persistence (members), the quota profile (admins), or
/// transfers ownership (the owner and admins).
#[utoipa::path(patch, path = "/api/v1/spaces/{name}", tag = "spaces", params(("name" = SpaceName, Path)), request_body = SpaceUpdate,
    responses((status = 200, body = SpaceView), (status = 403, description = "Not yours to change so"),
        (status = 404, description = "No such space you may see, or no such owner or quota profile"),
        (status = 409, description = "The space is being deleted")))]
async fn update_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(update): ApiJson<SpaceUpdate>,
) -> Result<Json<SpaceView>, ApiError> {
    Ok(Json(app.spaces().update(&actor, &name, update).await?))
}

/// Deletes a space: its namespace goes, then its record.
#[utoipa::path(delete, path = "/api/v1/spaces/{name}", tag = "spaces", params(("name" = SpaceName, Path)),
    responses((status = 202, body = SpaceView, description = "Deletion started"),
        (status = 403, description = "Only the owner or an admin may delete it"), (status = 404, description = "No such space you may see"),
        (status = 409, description = "The space is being deleted already")))]
async fn delete_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<SpaceView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.spaces().delete(&actor, &name).await?),
    ))
}

/// The objects Berth keeps in the space, as the cluster holds them.
#[utoipa::path(get, path = "/api/v1/spaces/{name}/objects", tag = "spaces", params(("name" = SpaceName, Path)),
    responses((status = 200, body = Vec<SpaceObject>), (status = 404, description = "No such space you may see")))]
async fn space_objects(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<SpaceObject>>, ApiError> {
    Ok(Json(app.spaces().objects(&actor, &name).await?))
}

/// Shares the space with a user, as a member.
#[utoipa::path(post, path = "/api/v1/spaces/{name}/members", tag = "spaces", params(("name" = SpaceName, Path)), request_body = ShareRequest,
    responses((status = 200, body = SpaceView), (status = 403, description = "Only the owner or an admin may share it"),
        (status = 404, description = "No such space you may see, or no such user"),
        (status = 409, description = "The space is being deleted")))]
async fn share_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<ShareRequest>,
) -> Result<Json<SpaceView>, ApiError> {
    Ok(Json(app.spaces().share(&actor, &name, req).await?))
}

/// Removes a member (the owner and admins; members may remove themselves).
#[utoipa::path(delete, path = "/api/v1/spaces/{name}/members/{user}", tag = "spaces",
    params(("name" = SpaceName, Path), ("user" = String, Path, description = "A user name, email or id")),
    responses((status = 200, body = SpaceView), (status = 403, description = "Not yours to remove"),
        (status = 404, description = "No such space or member"), (status = 409, description = "The owner cannot be removed, or the space is being deleted")))]
async fn unshare_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((name, user)): ApiPath<(String, String)>,
) -> Result<Json<SpaceView>, ApiError> {
    Ok(Json(app.spaces().unshare(&actor, &name, &user).await?))
}

/// Puts the space to sleep now: its workloads scale to zero.
#[utoipa::path(post, path = "/api/v1/spaces/{name}/sleep", tag = "spaces", params(("name" = SpaceName, Path)),
    responses((status = 200, body = SpaceView), (status = 404, description = "No such space you may see"),
        (status = 409, description = "The space is being deleted")))]
async fn sleep_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SpaceView>, ApiError> {
    Ok(Json(app.spaces().sleep(&actor, &name).await?))
}

/// Wakes the space: its workloads come back as they were.
#[utoipa::path(post, path = "/api/v1/spaces/{name}/wake", tag = "spaces", params(("name" = SpaceName, Path)),
    responses((status = 200, body = SpaceView), (status = 404, description = "No such space you may see"),
        (status = 409, description = "The space is being deleted")))]
async fn wake_space(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SpaceView>, ApiError> {
    Ok(Json(app.spaces().wake(&actor, &name).await?))
}

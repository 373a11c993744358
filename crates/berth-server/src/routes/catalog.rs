//! The catalog's chart repositories (admins).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use berth_core::catalog::{ChartView, NewRepository, RepositoryView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, add_repository))
        .routes(routes!(get_repository, remove_repository))
        .routes(routes!(refresh_repository))
        .routes(routes!(repository_charts))
}

/// The chart repositories the catalog draws from, with each one's last
/// fetch.
#[utoipa::path(get, path = "/api/v1/catalog/repositories", tag = "catalog",
    responses((status = 200, body = Vec<RepositoryView>), (status = 403, description = "Admins only")))]
async fn list_repositories(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Vec<RepositoryView>>, ApiError> {
    Ok(Json(app.catalog().list(&actor).await?))
}

/// Adds a chart repository; its `index.yaml` is fetched and read first,
/// and a repository whose index cannot be is not added (422 saying why).
#[utoipa::path(post, path = "/api/v1/catalog/repositories", tag = "catalog", request_body = NewRepository,
    responses((status = 201, body = RepositoryView), (status = 403, description = "Admins only"),
        (status = 409, description = "The name is taken"),
        (status = 422, description = "A bad name or URL, or an index that cannot be fetched or read")))]
async fn add_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<NewRepository>,
) -> Result<(StatusCode, Json<RepositoryView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.catalog().add(&actor, req).await?),
    ))
}

/// One chart repository and its last fetch.
#[utoipa::path(get, path = "/api/v1/catalog/repositories/{name}", tag = "catalog", params(("name" = String, Path)),
    responses((status = 200, body = RepositoryView), (status = 404, description = "No such repository")))]
async fn get_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RepositoryView>, ApiError> {
    Ok(Json(app.catalog().get(&actor, &name).await?))
}

/// Removes a chart repository from the catalog.
#[utoipa::path(delete, path = "/api/v1/catalog/repositories/{name}", tag = "catalog", params(("name" = String, Path)),
    responses((status = 200, body = RepositoryView), (status = 404, description = "No such repository")))]
async fn remove_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RepositoryView>, ApiError> {
    Ok(Json(app.catalog().remove(&actor, &name).await?))
}

/// Fetches a repository's index now. A failed fetch is answered in
/// `last_error` (the charts of the last good fetch stay).
#[utoipa::path(post, path = "/api/v1/catalog/repositories/{name}/refresh", tag = "catalog", params(("name" = String, Path)),
    responses((status = 200, body = RepositoryView), (status = 404, description = "No such repository")))]
async fn refresh_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<RepositoryView>, ApiError> {
    Ok(Json(app.catalog().refresh(&actor, &name).await?))
}

/// The charts of a repository's last good index, versions newest first.
#[utoipa::path(get, path = "/api/v1/catalog/repositories/{name}/charts", tag = "catalog", params(("name" = String, Path)),
    responses((status = 200, body = Vec<ChartView>), (status = 404, description = "No such repository")))]
async fn repository_charts(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<ChartView>>, ApiError> {
    Ok(Json(app.catalog().charts(&actor, &name).await?))
}

//! The catalog: chart repositories (admins) and the items developers
//! install.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_core::catalog::{ChartView, ItemSpec, ItemView, NewRepository, RepositoryView};
use berth_core::name::CatalogName;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, add_repository))
        .routes(routes!(get_repository, remove_repository))
        .routes(routes!(refresh_repository))
        .routes(routes!(repository_charts))
        .routes(routes!(list_items, create_item))
        .routes(routes!(get_item, update_item, delete_item))
}

/// The catalog's items (hidden ones: admins only).
#[utoipa::path(get, path = "/api/v1/catalog/items", tag = "catalog",
    responses((status = 200, body = Vec<ItemView>)))]
async fn list_items(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Vec<ItemView>>, ApiError> {
    Ok(Json(app.catalog().items(&actor).await?))
}

/// Creates a catalog item; its chart is fetched and its values checked
/// against the chart's schema first.
#[utoipa::path(post, path = "/api/v1/catalog/items", tag = "catalog", request_body = ItemSpec,
    responses((status = 201, body = ItemView), (status = 403, description = "Admins only"),
        (status = 404, description = "No such repository, chart, or chart version matching"),
        (status = 409, description = "The name is taken"),
        (status = 422, description = "A version that is neither one of the chart's nor a semver range, a chart that cannot be read, or values the chart's schema refuses (the value named)"),
        (status = 503, description = "The chart could not be fetched")))]
async fn create_item(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(spec): ApiJson<ItemSpec>,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.catalog().create_item(&actor, spec).await?),
    ))
}

/// One catalog item, with the fields developers may set.
#[utoipa::path(get, path = "/api/v1/catalog/items/{name}", tag = "catalog", params(("name" = CatalogName, Path)),
    responses((status = 200, body = ItemView), (status = 404, description = "No such item (or hidden)")))]
async fn get_item(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ItemView>, ApiError> {
    Ok(Json(app.catalog().item(&actor, &name).await?))
}

/// Replaces a catalog item (hiding and showing it too); checked as when
/// created.
#[utoipa::path(put, path = "/api/v1/catalog/items/{name}", tag = "catalog", params(("name" = CatalogName, Path)),
    request_body = ItemSpec,
    responses((status = 200, body = ItemView), (status = 403, description = "Admins only"),
        (status = 404, description = "No such item, or as for creating one"),
        (status = 409, description = "The body names another item: an item keeps its name"),
        (status = 422, description = "As for creating one"),
        (status = 503, description = "The chart could not be fetched")))]
async fn update_item(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(spec): ApiJson<ItemSpec>,
) -> Result<Json<ItemView>, ApiError> {
    Ok(Json(app.catalog().update_item(&actor, &name, spec).await?))
}

/// Deletes a catalog item; what was installed from it stays.
#[utoipa::path(delete, path = "/api/v1/catalog/items/{name}", tag = "catalog", params(("name" = CatalogName, Path)),
    responses((status = 200, body = ItemView), (status = 403, description = "Admins only"),
        (status = 404, description = "No such item")))]
async fn delete_item(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ItemView>, ApiError> {
    Ok(Json(app.catalog().delete_item(&actor, &name).await?))
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
    responses((status = 201, body = RepositoryView),
        (status = 403, description = "Admins only, or a credential file that is not under the daemon's credentials_dir"),
        (status = 409, description = "The name is taken"),
        (status = 422, description = "No index can be fetched from the URL, or it cannot be read")))]
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
#[utoipa::path(get, path = "/api/v1/catalog/repositories/{name}", tag = "catalog", params(("name" = CatalogName, Path)),
    responses((status = 200, body = RepositoryView), (status = 403, description = "Admins only"), (status = 404, description = "No such repository")))]
async fn get_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<RepositoryView>, ApiError> {
    Ok(Json(app.catalog().get(&actor, &name).await?))
}

/// Removes a chart repository from the catalog.
#[utoipa::path(delete, path = "/api/v1/catalog/repositories/{name}", tag = "catalog", params(("name" = CatalogName, Path)),
    responses((status = 200, body = RepositoryView), (status = 403, description = "Admins only"), (status = 404, description = "No such repository"),
        (status = 409, description = "Catalog items install from it")))]
async fn remove_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<RepositoryView>, ApiError> {
    Ok(Json(app.catalog().remove(&actor, &name).await?))
}

/// Fetches a repository's index now. A failed fetch is answered in
/// `last_error` (the charts of the last good fetch stay).
#[utoipa::path(post, path = "/api/v1/catalog/repositories/{name}/refresh", tag = "catalog", params(("name" = CatalogName, Path)),
    responses((status = 200, body = RepositoryView), (status = 403, description = "Admins only"), (status = 404, description = "No such repository")))]
async fn refresh_repository(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<RepositoryView>, ApiError> {
    Ok(Json(app.catalog().refresh(&actor, &name).await?))
}

/// The charts of a repository's last good index, versions newest first.
#[utoipa::path(get, path = "/api/v1/catalog/repositories/{name}/charts", tag = "catalog", params(("name" = CatalogName, Path)),
    responses((status = 200, body = Vec<ChartView>), (status = 403, description = "Admins only"), (status = 404, description = "No such repository")))]
async fn repository_charts(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<ChartView>>, ApiError> {
    Ok(Json(app.catalog().charts(&actor, &name).await?))
}

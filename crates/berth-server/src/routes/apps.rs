//! Applications in a space: catalog items installed, upgraded and
//! uninstalled by Helm, their status and Helm's output.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::app::{AppView, InstallRequest, UpgradeRequest};
use berth_core::name::AppName;
use berth_core::space::SpaceName;
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, install_app))
        .routes(routes!(get_app, uninstall_app))
        .routes(routes!(upgrade_app))
        .routes(routes!(app_logs))
}

/// The space's applications, with Helm's record of each.
#[utoipa::path(get, path = "/api/v1/spaces/{name}/apps", tag = "apps", params(("name" = SpaceName, Path)),
    responses((status = 200, body = Vec<AppView>), (status = 404, description = "No such space you may use")))]
async fn list_apps(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(space): ApiPath<String>,
) -> Result<Json<Vec<AppView>>, ApiError> {
    Ok(Json(app.apps().list(&actor, &space).await?))
}

/// Installs a catalog item into the space. The values are checked against
/// the item and the chart's schema first; Helm then runs in the background
/// (follow it with the `logs` of the app).
#[utoipa::path(post, path = "/api/v1/spaces/{name}/apps", tag = "apps", params(("name" = SpaceName, Path)),
    request_body = InstallRequest,
    responses((status = 202, body = AppView),
        (status = 404, description = "No such space you may use, or no such item (or its chart or version is gone)"),
        (status = 409, description = "An app of that name is in the space"),
        (status = 422, description = "Values the item or the chart's schema refuses (the value named), or no name given and the item's is too long for one"),
        (status = 503, description = "The chart could not be fetched, or Helm cannot run here")))]
async fn install_app(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(space): ApiPath<String>,
    ApiJson(req): ApiJson<InstallRequest>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.apps().install(&actor, &space, req).await?),
    ))
}

/// One application: its latest operation and Helm's record (revision,
/// status, notes).
#[utoipa::path(get, path = "/api/v1/spaces/{name}/apps/{app}", tag = "apps",
    params(("name" = SpaceName, Path), ("app" = AppName, Path)),
    responses((status = 200, body = AppView), (status = 404, description = "No such app")))]
async fn get_app(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, name)): ApiPath<(String, String)>,
) -> Result<Json<AppView>, ApiError> {
    Ok(Json(app.apps().get(&actor, &space, &name).await?))
}

/// Upgrades an application: the newest chart version its item takes, with
/// the values given laid over the earlier ones.
#[utoipa::path(post, path = "/api/v1/spaces/{name}/apps/{app}/upgrade", tag = "apps",
    params(("name" = SpaceName, Path), ("app" = AppName, Path)), request_body = UpgradeRequest,
    responses((status = 202, body = AppView), (status = 404, description = "No such app"),
        (status = 409, description = "An operation runs on it, or its item was deleted"),
        (status = 422, description = "Values the item or the chart's schema refuses (the value named)"),
        (status = 503, description = "The chart could not be fetched, or Helm cannot run here")))]
async fn upgrade_app(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<UpgradeRequest>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.apps().upgrade(&actor, &space, &name, req).await?),
    ))
}

/// Uninstalls an application; once Helm is done it is gone.
#[utoipa::path(delete, path = "/api/v1/spaces/{name}/apps/{app}", tag = "apps",
    params(("name" = SpaceName, Path), ("app" = AppName, Path)),
    responses((status = 202, body = AppView), (status = 404, description = "No such app"),
        (status = 409, description = "An operation runs on it"),
        (status = 503, description = "Helm cannot run here")))]
async fn uninstall_app(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, name)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(app.apps().uninstall(&actor, &space, &name).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Keep the response open until the running operation ends.
    #[serde(default)]
    follow: bool,
}

/// Helm's output for the latest operation; with `follow`, streamed until
/// the operation ends.
#[utoipa::path(get, path = "/api/v1/spaces/{name}/apps/{app}/logs", tag = "apps",
    params(("name" = SpaceName, Path), ("app" = AppName, Path), LogsQuery),
    responses((status = 200, description = "Helm's output", content_type = "text/plain"),
        (status = 404, description = "No such app")))]
async fn app_logs(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let logs = app.apps().logs(&actor, &space, &name).await?;
    let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match logs.follow {
        Some(follower) if query.follow => {
            let first = futures::stream::once(async move { Ok(Bytes::from(logs.text)) });
            let rest = futures::stream::unfold(follower, |mut follower| async move {
                let text = follower.next().await?;
                Some((Ok::<_, std::io::Error>(Bytes::from(text)), follower))
            });
            Ok((plain, Body::from_stream(first.chain(rest))).into_response())
        }
        _ => Ok((plain, logs.text).into_response()),
    }
}

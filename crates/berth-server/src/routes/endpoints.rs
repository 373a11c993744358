//! Endpoints: Services a space's owner serves at their own host through
//! berthd's proxy (`endpoint_proxy`), and the console's hand-over that
//! signs a browser in to an endpoint's host.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::Error;
use berth_core::endpoint::{EndpointSpec, EndpointView};
use berth_core::name::ServiceName;
use berth_core::space::SpaceName;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::endpoint_proxy::SIGN_IN_PATH;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Meta, SESSION_COOKIE, cookie};
use crate::routes::auth::safe_return;
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints))
        .routes(routes!(set_endpoint, delete_endpoint))
        .routes(routes!(endpoint_sign_in))
}

/// The space's endpoints, with their addresses and access levels.
#[utoipa::path(get, path = "/api/v1/spaces/{name}/endpoints", tag = "endpoints",
    params(("name" = SpaceName, Path)),
    responses((status = 200, body = Vec<EndpointView>), (status = 404, description = "No such space you may see")))]
async fn list_endpoints(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(space): ApiPath<String>,
) -> Result<Json<Vec<EndpointView>>, ApiError> {
    Ok(Json(app.endpoints().list(&actor, &space).await?))
}

/// Serves a Service of the space at `https://SERVICE-SPACE.<endpoints
/// domain>`, or changes its port or access level. Owners and admins only.
#[utoipa::path(put, path = "/api/v1/spaces/{name}/endpoints/{service}", tag = "endpoints",
    params(("name" = SpaceName, Path), ("service" = ServiceName, Path)), request_body = EndpointSpec,
    responses((status = 200, body = EndpointView),
        (status = 403, description = "Not the space's owner"),
        (status = 404, description = "No such space you may see"),
        (status = 409, description = "Endpoints are off, the space is being deleted, or another endpoint has the host"),
        (status = 422, description = "Not a Service name, port 0, or the host's label would be longer than 63 characters")))]
async fn set_endpoint(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, service)): ApiPath<(String, String)>,
    ApiJson(spec): ApiJson<EndpointSpec>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(
        app.endpoints().set(&actor, &space, &service, spec).await?,
    ))
}

/// Stops serving a Service of the space as an endpoint.
#[utoipa::path(delete, path = "/api/v1/spaces/{name}/endpoints/{service}", tag = "endpoints",
    params(("name" = SpaceName, Path), ("service" = ServiceName, Path)),
    responses((status = 204, description = "The endpoint is gone"),
        (status = 403, description = "Not the space's owner"),
        (status = 404, description = "No such space you may see, or no such endpoint")))]
async fn delete_endpoint(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath((space, service)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.endpoints().remove(&actor, &space, &service).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointSignInQuery {
    /// The endpoint's host.
    pub host: String,
    /// The path to open there.
    #[serde(default)]
    pub path: Option<String>,
}

/// A browser on its way to a private or team endpoint: signed in to the
/// console, it goes back to the endpoint's host with a one-time ticket
/// for it; otherwise to the console's sign-in first, and then here again.
#[utoipa::path(get, path = "/auth/endpoint", tag = "endpoints", params(EndpointSignInQuery), security(()),
    responses((status = 303, description = "To the endpoint with a ticket, or to the sign-in page"),
        (status = 404, description = "No endpoint has that host"),
        (status = 422, description = "A query parameter is missing")))]
async fn endpoint_sign_in(
    State(app): State<App>,
    Meta(origin): Meta,
    headers: axum::http::HeaderMap,
    ApiQuery(query): ApiQuery<EndpointSignInQuery>,
) -> Result<Response, ApiError> {
    let route = app
        .endpoints()
        .route(&query.host)?
        .ok_or_else(|| Error::not_found("endpoint", &query.host))?;
    let path = safe_return(query.path);
    let session = cookie(&headers, SESSION_COOKIE)
        .and_then(|secret| app.auth().authenticate_session(&secret, &origin).ok());
    let Some(actor) = session else {
        let back = form_urlencoded::Serializer::new(String::new())
            .append_pair("host", &route.host)
            .append_pair("path", &path)
            .finish();
        let next = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/auth/endpoint?{back}"))
            .finish();
        return Ok(Redirect::to(&format!("/login?{next}")).into_response());
    };
    let ticket = app.auth().endpoint_ticket(&actor, &route.host)?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("ticket", &ticket)
        .append_pair("path", &path)
        .finish();
    let url = app.endpoints().url(&route.host);
    Ok(Redirect::to(&format!("{url}{SIGN_IN_PATH}?{query}")).into_response())
}

//! Users and their API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_auth::{NewLocalUser, TokenRequest, UserUpdate};
use berth_core::identity::{TokenCreated, TokenView, UserView};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(create_kube_token))
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserView>), (status = 403, description = "Admins only")))]
async fn list_users(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(app.auth().list_users(&actor).await?))
}

/// Makes a local account (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewLocalUser,
    responses((status = 201, body = UserView), (status = 403, description = "Admins only"),
        (status = 409, description = "The user name is taken")))]
async fn create_user(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<NewLocalUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.auth().create_local_user(&actor, req).await?),
    ))
}

/// One user: yourself, or anyone for admins.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, description = "No such user you may see")))]
async fn get_user(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(app.auth().get_user(&actor, &id).await?))
}

/// Changes a user's role, or disables them (which revokes their sessions and tokens at once).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserView), (status = 403, description = "Admins only"), (status = 404, description = "No such user"),
        (status = 409, description = "Your own role or your own account: ask another admin")))]
async fn update_user(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(app.auth().update_user(&actor, &id, update).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Everyone's tokens (admins).
    #[serde(default)]
    pub all: bool,
}

/// Your API tokens, or with `all=true` everyone's (admins).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenQuery),
    responses((status = 200, body = Vec<TokenView>), (status = 403, description = "`all` is for admins")))]
async fn list_tokens(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(app.auth().list_tokens(&actor, query.all).await?))
}

/// Makes a personal access token; its secret is shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenCreated),
        (status = 403, description = "A scope the calling credential lacks, or longer than the daemon allows (auth.max_token_ttl)")))]
async fn create_token(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.auth().create_token(&actor, req).await?),
    ))
}

/// Makes a short-lived token for kubectl and helm (`berth kube-credential`):
/// the `kube` scope only, for the Kubernetes API of your spaces through
/// `/kube/`, with the lifetime `auth.kube_token_ttl` sets.
#[utoipa::path(post, path = "/api/v1/tokens/kube", tag = "tokens",
    responses((status = 201, body = TokenCreated),
        (status = 403, description = "The calling credential may not write")))]
async fn create_kube_token(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.auth().create_kube_token(&actor).await?),
    ))
}

/// Revokes a token: your own, or anyone's for admins.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = TokenView), (status = 404, description = "No such token you may see")))]
async fn revoke_token(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(app.auth().revoke_token(&actor, &id).await?))
}

//! Signing in and out: the first-admin setup, local accounts, single sign-on
//! for the console and the CLI (browser, loopback and device code), and the
//! SSO group mapping with its dry-run.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use berth_auth::{
    DevicePoll, DeviceStarted, LoginPurpose, MappingPreview, MappingRules, SsoCallback, SsoDone,
};
use berth_core::Error;
use berth_core::identity::{TokenCreated, Whoami};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{
    ApiJson, ApiQuery, Caller, Meta, Source, clear_session_cookie, session_cookie, set_cookie,
};
use crate::{ApiError, App};

pub(crate) fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(methods))
        .routes(routes!(setup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(whoami))
        .routes(routes!(oidc_login))
        .routes(routes!(oidc_callback))
        .routes(routes!(cli_web_login))
        .routes(routes!(cli_exchange))
        .routes(routes!(cli_password))
        .routes(routes!(device_start))
        .routes(routes!(device_poll))
        .routes(routes!(get_mapping, put_mapping))
        .routes(routes!(preview_mapping))
}

/// How one may sign in here.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthMethods {
    /// User name and password sign-in is on.
    pub local: bool,
    /// Single sign-on, when configured.
    pub sso: Option<SsoMethod>,
    /// No user exists yet: open the setup link the daemon printed.
    pub setup_required: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SsoMethod {
    pub display_name: String,
    /// Send the browser here to sign in.
    pub login_url: String,
}

/// The ways to sign in.
#[utoipa::path(get, path = "/api/v1/auth/methods", tag = "auth", security(()),
    responses((status = 200, body = AuthMethods)))]
async fn methods(State(app): State<App>) -> Result<Json<AuthMethods>, ApiError> {
    let auth = app.auth();
    Ok(Json(AuthMethods {
        local: auth.config().local_accounts,
        sso: auth.oidc().map(|o| SsoMethod {
            display_name: o.config.display_name.clone(),
            login_url: "/auth/oidc/login".to_owned(),
        }),
        setup_required: auth.setup_required()?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The secret from the setup link the daemon printed.
    pub setup_token: String,
    #[schema(value_type = berth_core::identity::Username)]
    pub username: String,
    #[schema(value_type = berth_auth::rules::NewPassword)]
    pub password: String,
    pub email: Option<String>,
}

fn signed_in(app: &App, status: StatusCode, whoami: Whoami, secret: &str) -> Response {
    (
        status,
        [(header::SET_COOKIE, session_cookie(app, secret))],
        Json(whoami),
    )
        .into_response()
}

/// Creates the first admin with the one-time setup link and signs them in.
#[utoipa::path(post, path = "/api/v1/setup", tag = "auth", request_body = SetupRequest, security(()),
    responses((status = 201, body = Whoami, description = "The first admin, signed in (a session cookie is set)"),
        (status = 401, description = "The setup link is not valid")))]
async fn setup(
    State(app): State<App>,
    Meta(origin): Meta,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    let auth = app.auth();
    let (user, secret) = auth
        .complete_setup(
            &req.setup_token,
            &req.username,
            &req.password,
            req.email,
            &origin,
        )
        .await?;
    Ok(signed_in(
        &app,
        StatusCode::CREATED,
        auth.session_whoami(&user, &secret, &origin).await?,
        &secret,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordLogin {
    pub username: String,
    pub password: String,
}

/// Signs in to the console with a local account.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = PasswordLogin, security(()),
    responses((status = 200, body = Whoami, description = "Signed in; a session cookie is set"),
        (status = 401, description = "Wrong user name or password"),
        (status = 403, description = "Local accounts are turned off"),
        (status = 429, description = "Too many attempts")))]
async fn login(
    State(app): State<App>,
    Source(source): Source,
    Meta(origin): Meta,
    ApiJson(req): ApiJson<PasswordLogin>,
) -> Result<Response, ApiError> {
    let auth = app.auth();
    let (user, secret) = auth
        .login_console(&req.username, &req.password, source, &origin)
        .await?;
    Ok(signed_in(
        &app,
        StatusCode::OK,
        auth.session_whoami(&user, &secret, &origin).await?,
        &secret,
    ))
}

/// Signs out: ends a console session, or revokes the token used to call it.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out")))]
async fn logout(State(app): State<App>, Caller(actor): Caller) -> Result<Response, ApiError> {
    app.auth().logout(&actor).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_session_cookie(&app))],
    )
        .into_response())
}

/// Who the caller is, and for console sessions the CSRF token to send.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "auth",
    responses((status = 200, body = Whoami), (status = 401, description = "Not signed in")))]
async fn whoami(State(app): State<App>, Caller(actor): Caller) -> Result<Json<Whoami>, ApiError> {
    Ok(Json(app.auth().whoami(&actor).await?))
}

fn callback_url(app: &App) -> String {
    format!("{}/auth/oidc/callback", app.public_url())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// A console path to come back to after signing in.
    pub return_to: Option<String>,
}

/// Only paths on this site: never an open redirect.
pub(crate) fn safe_return(path: Option<String>) -> String {
    // Browsers drop tabs and newlines when they parse a URL, so "/\t/evil"
    // would become "//evil": refuse control characters and spaces outright.
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            p
        }
        _ => "/".to_owned(),
    }
}

/// The cookie that ties a sign-in through the identity provider to the
/// browser that started it, so a callback link sent to someone else cannot
/// sign them in to the sender's account.
const SSO_STATE_COOKIE: &str = "berth_sso_state";

fn sso_redirect(app: &App, url: &str, state: &str) -> Response {
    let cookie = set_cookie(app, SSO_STATE_COOKIE, state, "/auth/", 600);
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, url.to_owned()),
        ],
    )
        .into_response()
}

/// Starts a console single sign-on: redirects to the identity provider.
#[utoipa::path(get, path = "/auth/oidc/login", tag = "auth", params(LoginQuery), security(()),
    responses((status = 303, description = "To the identity provider"), (status = 404, description = "Single sign-on is not configured")))]
async fn oidc_login(
    State(app): State<App>,
    ApiQuery(query): ApiQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    let purpose = LoginPurpose::Console {
        return_to: safe_return(query.return_to),
    };
    let (url, state) = app.auth().sso_begin(&callback_url(&app), purpose).await?;
    Ok(sso_redirect(&app, &url, &state))
}

/// Where the identity provider sends the browser back. Console sign-ins get
/// a session; CLI sign-ins go on to the CLI's loopback port with a code.
#[utoipa::path(get, path = "/auth/oidc/callback", tag = "auth", params(SsoCallback), security(()),
    responses((status = 303, description = "Signed in; on to the console or the CLI"),
        (status = 401, description = "The sign-in was refused, unknown, expired or replayed, or the provider sent no code"),
        (status = 403, description = "The identity provider's account may not sign in here"),
        (status = 404, description = "Single sign-on is not configured")))]
async fn oidc_callback(
    State(app): State<App>,
    Meta(origin): Meta,
    headers: axum::http::HeaderMap,
    ApiQuery(callback): ApiQuery<SsoCallback>,
) -> Result<Response, ApiError> {
    // The state cookie is the browser's; whether it matches is the service's.
    let browser_state = crate::extract::cookie(&headers, SSO_STATE_COOKIE);
    let done = app
        .auth()
        .sso_callback(
            &callback_url(&app),
            callback,
            browser_state.as_deref(),
            &origin,
        )
        .await?;
    Ok(sso_done(&app, done))
}

/// On to the console with a session, or to the CLI's loopback port.
fn sso_done(app: &App, done: SsoDone) -> Response {
    match done {
        SsoDone::Console {
            return_to, session, ..
        } => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, session_cookie(app, &session)),
                (header::LOCATION, return_to),
            ],
        )
            .into_response(),
        SsoDone::Cli { port, state, code } => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .append_pair("state", &state)
                .finish();
            let location = format!("http://127.0.0.1:{port}/callback?{query}");
            Redirect::to(&location).into_response()
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CliWebQuery {
    /// The CLI's loopback port on 127.0.0.1.
    #[param(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// Echoed back to the CLI.
    #[param(min_length = 1)]
    pub state: String,
    /// BASE64URL(SHA-256(code_verifier)), as in PKCE.
    #[param(value_type = berth_auth::rules::Pkce)]
    pub code_challenge: String,
}

/// `berth login --web`: signs in through the identity provider in the
/// browser, then hands the CLI a one-time code on its loopback port.
#[utoipa::path(get, path = "/auth/cli/login", tag = "auth", params(CliWebQuery), security(()),
    responses((status = 303, description = "To the identity provider"),
        (status = 404, description = "Single sign-on is not configured")))]
async fn cli_web_login(
    State(app): State<App>,
    ApiQuery(query): ApiQuery<CliWebQuery>,
) -> Result<Response, ApiError> {
    if query.port == 0
        || query.state.is_empty()
        || !berth_auth::rules::Pkce::is_valid(&query.code_challenge)
    {
        return Err(Error::invalid(
            "code_challenge",
            "port, state and an S256 code challenge are required",
        )
        .into());
    }
    let purpose = LoginPurpose::Cli {
        port: query.port,
        state: query.state,
        code_challenge: query.code_challenge,
    };
    let (url, state) = app.auth().sso_begin(&callback_url(&app), purpose).await?;
    Ok(sso_redirect(&app, &url, &state))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CliExchange {
    pub code: String,
    #[schema(value_type = berth_auth::rules::Pkce)]
    pub code_verifier: String,
}

/// Exchanges the loopback code and PKCE verifier for a CLI token.
#[utoipa::path(post, path = "/api/v1/auth/cli/exchange", tag = "auth", request_body = CliExchange, security(()),
    responses((status = 201, body = TokenCreated), (status = 401, description = "Unknown, used or mismatched code")))]
async fn cli_exchange(
    State(app): State<App>,
    Meta(origin): Meta,
    ApiJson(req): ApiJson<CliExchange>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            app.auth()
                .cli_exchange(&req.code, &req.code_verifier, &origin)
                .await?,
        ),
    ))
}

/// `berth login` with a local account: a CLI token for a user name and password.
#[utoipa::path(post, path = "/api/v1/auth/cli/password", tag = "auth", request_body = PasswordLogin, security(()),
    responses((status = 201, body = TokenCreated), (status = 401, description = "Wrong user name or password"),
        (status = 403, description = "Local accounts are turned off"),
        (status = 429, description = "Too many attempts")))]
async fn cli_password(
    State(app): State<App>,
    Source(source): Source,
    Meta(origin): Meta,
    ApiJson(req): ApiJson<PasswordLogin>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let token = app
        .auth()
        .login_cli(&req.username, &req.password, source, &origin)
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// `berth login` over SSH: starts a device-code sign-in.
#[utoipa::path(post, path = "/api/v1/auth/device", tag = "auth", security(()),
    responses((status = 201, body = DeviceStarted), (status = 404, description = "Single sign-on is not configured")))]
async fn device_start(
    State(app): State<App>,
    Meta(origin): Meta,
) -> Result<(StatusCode, Json<DeviceStarted>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.auth().device_begin(&origin).await?),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePollRequest {
    pub login_id: String,
}

/// Polls a device-code sign-in; the token is handed out once.
#[utoipa::path(post, path = "/api/v1/auth/device/poll", tag = "auth", request_body = DevicePollRequest, security(()),
    responses((status = 200, body = DevicePoll), (status = 404, description = "Unknown or already collected")))]
async fn device_poll(
    State(app): State<App>,
    ApiJson(req): ApiJson<DevicePollRequest>,
) -> Result<Json<DevicePoll>, ApiError> {
    Ok(Json(app.auth().device_poll(&req.login_id)?))
}

/// The SSO group-to-role mapping.
#[utoipa::path(get, path = "/api/v1/auth/mapping", tag = "auth",
    responses((status = 200, body = MappingRules), (status = 403, description = "Admins only")))]
async fn get_mapping(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<MappingRules>, ApiError> {
    Ok(Json(app.auth().get_mapping(&actor).await?))
}

/// Saves the SSO group-to-role mapping; it applies at each user's next sign-in.
#[utoipa::path(put, path = "/api/v1/auth/mapping", tag = "auth", request_body = MappingRules,
    responses((status = 200, body = MappingRules), (status = 403, description = "Admins only")))]
async fn put_mapping(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(rules): ApiJson<MappingRules>,
) -> Result<Json<MappingRules>, ApiError> {
    Ok(Json(app.auth().set_mapping(&actor, rules).await?))
}

/// What to preview: an ID token, or else a claim set; with neither, a claim
/// set that says nothing (which is refused for want of a user name).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A live ID token from the provider: verified, then mapped.
    pub id_token: Option<String>,
    /// Or a claim set, taken as given.
    pub claims: Option<berth_auth::oidc::Claims>,
    /// A mapping to try instead of the saved one.
    pub rules: Option<MappingRules>,
}

/// The dry-run: what an ID token or claim set would map to, before saving.
#[utoipa::path(post, path = "/api/v1/auth/mapping/preview", tag = "auth", request_body = PreviewRequest,
    responses((status = 200, body = MappingPreview), (status = 401, description = "The ID token was refused"),
        (status = 403, description = "Admins only"), (status = 404, description = "Single sign-on is not configured")))]
async fn preview_mapping(
    State(app): State<App>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<Json<MappingPreview>, ApiError> {
    Ok(Json(
        app.auth()
            .dry_run(&actor, req.id_token.as_deref(), req.claims, req.rules)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_local_paths_are_returned_to() {
        for (asked, got) in [
            (Some("/tokens"), "/tokens"),
            (Some("/users?x=1"), "/users?x=1"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("/\t/evil.example"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("https://evil.example"), "/"),
            (Some("/ /x"), "/"),
            (None, "/"),
        ] {
            assert_eq!(safe_return(asked.map(str::to_owned)), got, "{asked:?}");
        }
    }
}

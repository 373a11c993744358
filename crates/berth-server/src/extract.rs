//! Who is calling: the `Caller` extractor authenticates a request by its
//! bearer token or its session cookie, and holds cookie-authenticated
//! requests that change state to the session's CSRF token.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use berth_audit::Origin;
use berth_auth::Actor;
use berth_core::Error;
use subtle::ConstantTimeEq;

use crate::{ApiError, App};

pub const SESSION_COOKIE: &str = "berth_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
pub struct Caller(pub Actor);

/// The value of the cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Where a request came from, for the audit log.
pub struct Meta(pub Origin);

pub(crate) fn origin_of(parts: &Parts) -> Origin {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let trace_id = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id();
    Origin {
        source: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect()),
        request_id: crate::observe::current_request_id(),
        trace_id: (trace_id != opentelemetry::trace::TraceId::INVALID)
            .then(|| trace_id.to_string()),
    }
}

impl FromRequestParts<App> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        Ok(Meta(origin_of(parts)))
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let auth = app.auth();
        let origin = origin_of(parts);
        if let Some(token) = bearer(&parts.headers) {
            return Ok(Caller(auth.authenticate_token(token, &origin).await?));
        }
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(
                Error::unauthenticated("sign in first: no session cookie or bearer token").into(),
            );
        };
        let actor = auth.authenticate_session(&secret, &origin)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let expected = match &actor.via {
                berth_auth::Via::Session { csrf_token, .. } => csrf_token.as_str(),
                berth_auth::Via::Token { .. } => "",
            };
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(Error::forbidden(
                    "missing or wrong x-csrf-token header for a cookie-authenticated change",
                )
                .into());
            }
        }
        Ok(Caller(actor))
    }
}

/// The caller's address, for rate limits.
pub struct Source(pub Option<IpAddr>);

impl FromRequestParts<App> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A `Set-Cookie` value: HTTP-only, same-site lax, under `path`, for
/// `max_age` seconds, and secure when Berth is served over https.
pub(crate) fn set_cookie(app: &App, name: &str, value: &str, path: &str, max_age: u64) -> String {
    cookie::Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .secure(app.secure_cookies())
        .build()
        .to_string()
}

/// A `Set-Cookie` value for a session.
pub(crate) fn session_cookie(app: &App, secret: &str) -> String {
    let max_age = app.auth().config().session_max_lifetime.as_secs();
    set_cookie(app, SESSION_COOKIE, secret, "/", max_age)
}

pub(crate) fn clear_session_cookie(app: &App) -> String {
    set_cookie(app, SESSION_COOKIE, "", "/", 0)
}

/// Query parameters; a bad one answers 422 naming it, like a bad body.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<App> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, app).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(Error::invalid(
                "query",
                rejection
                    .body_text()
                    .trim_start_matches("Failed to deserialize query string: "),
            )
            .into()),
        }
    }
}

/// Path parameters. Every name a route takes is a string, so the only one
/// that cannot be read is not UTF-8: no resource is named so (404).
pub struct ApiPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<App> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, app).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                Err(Error::not_found("resource", format!("at {}", rejection.body_text())).into())
            }
        }
    }
}

/// A WebSocket handshake; a request that is not one answers 422 in the
/// error body of every other refusal.
pub struct ApiWebSocket(pub axum::extract::ws::WebSocketUpgrade);

impl FromRequestParts<App> for ApiWebSocket {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, app)
            .await
            .map(ApiWebSocket)
            .map_err(|rejection| {
                Error::invalid(
                    "upgrade",
                    format!(
                        "this endpoint takes a WebSocket handshake (docs/protocol.md): {}",
                        rejection.body_text()
                    ),
                )
                .into()
            })
    }
}

/// A JSON body; a malformed one answers 422 naming the problem, in the same
/// error body as every other refusal.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<App> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, app: &App) -> Result<Self, Self::Rejection> {
        // Every body the API takes is a JSON object; serde would also read
        // a struct from an array of its fields in order, which no document
        // allows.
        let value = match axum::Json::<serde_json::Value>::from_request(req, app).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(Error::invalid("body", rejection.body_text()).into()),
        };
        if !value.is_object() {
            return Err(Error::invalid("body", "must be a JSON object").into());
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| Error::invalid("body", e).into())
    }
}

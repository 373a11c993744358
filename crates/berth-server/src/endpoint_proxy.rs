//! The endpoints' reverse proxy: a request whose host is
//! `SERVICE-SPACE.<endpoints domain>` is served here instead of by the
//! API. It is admitted by the endpoint's access level (a Berth token, or
//! the endpoint host's own cookie that the console hands a signed-in
//! browser), wakes a sleeping space, and goes on to the Service over a
//! pooled HTTP/1.1 connection: bodies stream both ways unbuffered, and an
//! upgrade (a WebSocket) is spliced through.

use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use berth_auth::Actor;
use berth_core::endpoint::EndpointAccess;
use berth_core::{Error, ErrorCode};
use berth_spaces::{Backend, Route};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::App;
use crate::error::ApiError;
use crate::extract::{bearer, cookie, origin_of, set_cookie};

/// The endpoint host's own cookie: the console session it stands for,
/// bound to the host.
pub(crate) const ENDPOINT_COOKIE: &str = "berth_endpoint";
/// Where a browser coming back from the console's sign-in lands.
pub(crate) const SIGN_IN_PATH: &str = "/.berth/sign-in";
/// How soon a waiting client is asked to try again.
const RETRY_AFTER_SECS: u64 = 2;

static CLIENT: LazyLock<Client<HttpConnector, Body>> = LazyLock::new(|| {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
});

/// Serves a request to an endpoint's host; hands every other request on.
pub(crate) async fn route(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(host) = host_of(&request) else {
        return next.run(request).await;
    };
    if app.endpoints().label_of(&host).is_none() {
        return next.run(request).await;
    }
    serve(&app, host, request).await
}

/// The request's host, lowercased and without a port.
pub(crate) fn host_of(request: &Request) -> Option<String> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())?;
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    Some(host.to_ascii_lowercase())
}

async fn serve(app: &App, host: String, request: Request) -> Response {
    let html = wants_html(request.headers());
    let route = match app.endpoints().route(&host) {
        Ok(Some(route)) => route,
        Ok(None) => {
            let err = Error::not_found("endpoint", &host);
            return refusal(err, html);
        }
        Err(err) => return refusal(err, html),
    };
    if request.uri().path() == SIGN_IN_PATH {
        return signed_in(app, &route, &request);
    }
    let (mut parts, body) = request.into_parts();
    let credentials = take_credentials(&mut parts.headers);
    // Anyone may reach a public endpoint: who calls is not looked up.
    let actor = match route.access {
        EndpointAccess::Public => None,
        _ => caller(app, &parts, credentials, &route.host).await,
    };
    if let Err(err) = app.endpoints().admit(&route, actor.as_ref()).await {
        app.metrics()
            .endpoint_request(&route.space, &route.service, "4xx");
        if err.code == ErrorCode::Unauthenticated && html {
            return to_sign_in(app, &route, &parts.uri);
        }
        return refusal(err, html);
    }
    let answer = match app.endpoints().backend(&route).await {
        Ok(Backend::Ready(address)) => {
            forward(
                app,
                &route,
                &address,
                Request::from_parts(parts, body),
                html,
            )
            .await
        }
        Ok(Backend::Waking) => waiting(&route, html),
        Ok(Backend::Unreachable(why)) => bad_gateway(&why, html),
        Err(err) => refusal(err, html),
    };
    let class = if answer.extensions().get::<Waiting>().is_some() {
        "waking"
    } else {
        match answer.status().as_u16() {
            100..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        }
    };
    app.metrics()
        .endpoint_request(&route.space, &route.service, class);
    answer
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// Berth's own credentials in a request to an endpoint: a Berth token in
/// `Authorization` and the endpoint host's cookie. Both are taken out of
/// the request, whatever the access level, so the Service never sees them.
struct Credentials {
    token: Option<String>,
    pass: Option<String>,
}

fn take_credentials(headers: &mut HeaderMap) -> Credentials {
    let token = bearer(headers)
        .filter(|t| {
            berth_auth::secrets::PREFIXES
                .iter()
                .any(|p| t.starts_with(p))
        })
        .map(str::to_owned);
    if token.is_some() {
        headers.remove(header::AUTHORIZATION);
    }
    let pass = cookie(headers, ENDPOINT_COOKIE);
    if pass.is_some() {
        strip_cookie(headers, ENDPOINT_COOKIE);
    }
    Credentials { token, pass }
}

/// Who is calling, by the token, else the cookie; none when neither is
/// good.
async fn caller(
    app: &App,
    parts: &axum::http::request::Parts,
    credentials: Credentials,
    host: &str,
) -> Option<Actor> {
    let origin = origin_of(parts);
    if let Some(token) = credentials.token {
        return app.auth().authenticate_token(&token, &origin).await.ok();
    }
    app.auth()
        .authenticate_endpoint(&credentials.pass?, host, &origin)
        .ok()
}

/// Removes cookie `name` from the `Cookie` headers, keeping the rest.
fn strip_cookie(headers: &mut HeaderMap, name: &str) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

/// To the console, which signs the browser in if it must and sends it
/// back with a ticket for this host.
fn to_sign_in(app: &App, route: &Route, uri: &Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("host", &route.host)
        .append_pair("path", path)
        .finish();
    Redirect::to(&format!("{}/auth/endpoint?{query}", app.public_url())).into_response()
}

/// A browser back from the console with a ticket: trades it for this
/// host's cookie and goes on to the page it asked for.
fn signed_in(app: &App, route: &Route, request: &Request) -> Response {
    let mut ticket = None;
    let mut path = None;
    for (key, value) in form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()) {
        match &*key {
            "ticket" => ticket = Some(value.into_owned()),
            "path" => path = Some(value.into_owned()),
            _ => {}
        }
    }
    let pass = ticket
        .ok_or_else(|| Error::invalid("ticket", "the sign-in link has no ticket"))
        .and_then(|ticket| app.auth().redeem_endpoint_ticket(&ticket, &route.host));
    match pass {
        Ok(pass) => {
            let max_age = app.auth().config().session_max_lifetime.as_secs();
            let cookie = set_cookie(app, ENDPOINT_COOKIE, &pass, "/", max_age);
            let back = Redirect::to(&crate::routes::auth::safe_return(path));
            ([(header::SET_COOKIE, cookie)], back).into_response()
        }
        Err(err) => refusal(err, true),
    }
}

async fn forward(
    app: &App,
    route: &Route,
    address: &str,
    request: Request,
    html: bool,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let downstream = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = match format!("http://{address}{path}").parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => return bad_gateway(&format!("{address} is not an address"), html),
    };
    let source = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    berth_spaces::kube_proxy::strip_hop_by_hop(&mut parts.headers);
    let headers = &mut parts.headers;
    if !headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&route.host)
    {
        headers.insert(header::HOST, host);
    }
    if let Some(source) = source.and_then(|s| HeaderValue::from_str(&s).ok()) {
        headers.append("x-forwarded-for", source);
    }
    let scheme = if app.public_url().starts_with("https://") {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(scheme));
    if let Ok(host) = HeaderValue::from_str(&route.host) {
        headers.insert("x-forwarded-host", host);
    }
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let mut response = match CLIENT.request(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(err) if err.is_connect() && app.endpoints().starting(route) => {
            return waiting(route, html);
        }
        Err(err) => {
            tracing::debug!(endpoint = %route.host, error = %berth_core::error::chain(&err), "an endpoint's Service did not answer");
            return bad_gateway(
                &format!(
                    "service {} of space {} did not answer at {address}",
                    route.service, route.space
                ),
                html,
            );
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(downstream) = downstream
    {
        let upstream = hyper::upgrade::on(&mut response);
        tokio::spawn(crate::upgrade::splice(
            downstream,
            upstream,
            format!("an upgraded request to {}", route.host),
        ));
        let (mut parts, _) = response.into_parts();
        parts.extensions.clear();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    berth_spaces::kube_proxy::strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// Marks berthd's own waiting answer, for the metrics (a Service may
/// answer 503 with `Retry-After` too).
#[derive(Clone, Copy)]
struct Waiting;

/// The space is waking: a page that reloads itself for a browser, 503
/// with `Retry-After` for anything else.
fn waiting(route: &Route, html: bool) -> Response {
    let mut response = waiting_answer(route, html);
    response.extensions_mut().insert(Waiting);
    response
}

fn waiting_answer(route: &Route, html: bool) -> Response {
    let retry = [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())];
    if html {
        let body = page(
            &format!("Waking up {}", route.space),
            &format!("<meta http-equiv=\"refresh\" content=\"{RETRY_AFTER_SECS}\">",),
            &format!(
                "<h1>Waking up space {space}</h1><p>{service} is starting. This page reloads by itself until it answers.</p>",
                space = escape(&route.space),
                service = escape(&route.service),
            ),
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            retry,
            axum::response::Html(body),
        )
            .into_response();
    }
    let err = Error::unavailable(format!(
        "space {} is waking up; try again in {RETRY_AFTER_SECS} s",
        route.space
    ));
    (retry, ApiError(err)).into_response()
}

fn bad_gateway(why: &str, html: bool) -> Response {
    if html {
        let body = page(
            "Not reachable",
            "",
            &format!("<h1>Not reachable</h1><p>{}</p>", escape(why)),
        );
        return (StatusCode::BAD_GATEWAY, axum::response::Html(body)).into_response();
    }
    let mut response = ApiError(Error::unavailable(why.to_owned())).into_response();
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// A refusal: the API's error body, or a small page for a browser.
fn refusal(err: Error, html: bool) -> Response {
    let message = err.message.clone();
    let mut response = ApiError(err).into_response();
    if html {
        let status = response.status();
        let body = page(
            status.canonical_reason().unwrap_or("Refused"),
            "",
            &format!("<h1>{}</h1><p>{}</p>", status.as_u16(), escape(&message)),
        );
        response = (status, axum::response::Html(body)).into_response();
    }
    response
}

fn page(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Berth</title>{head}\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:20vh auto;padding:0 1rem;color:#1f2937}}h1{{font-size:1.4rem}}</style>\
         </head><body>{body}</body></html>",
        title = escape(title)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_endpoint_cookie_is_kept_from_the_service() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; berth_endpoint=k.m; b=2"),
        );
        strip_cookie(&mut headers, ENDPOINT_COOKIE);
        assert_eq!(
            headers.get(header::COOKIE).and_then(|v| v.to_str().ok()),
            Some("a=1; b=2")
        );
        let mut alone = HeaderMap::new();
        alone.insert(
            header::COOKIE,
            HeaderValue::from_static("berth_endpoint=k.m"),
        );
        strip_cookie(&mut alone, ENDPOINT_COOKIE);
        assert!(alone.get(header::COOKIE).is_none());
    }

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}

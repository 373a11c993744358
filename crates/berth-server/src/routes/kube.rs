//! The Kubernetes API of a developer's spaces, under `/kube/`: kubectl,
//! helm and IDE plugins pointed at berthd (`berth kubeconfig`). A request
//! is authenticated with a Berth token of the `kube` scope, read by
//! `berth_spaces::kube_proxy::classify`, authorized against the space,
//! and sent on as the developer by impersonation; bodies stream both ways
//! and upgrades (exec, attach, port-forward) are spliced through.
//! Refusals answer as the Kubernetes API does, with a `Status`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_core::Error;
use berth_spaces::kube_proxy::{self, Target};

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::App;
use crate::error::kube_status;
use crate::extract::{Caller, bearer, origin_of};
use berth_core::space::KubeAccess;

/// Where the proxy is served; a kubeconfig's server URL ends with it.
pub const PREFIX: &str = "/kube";

/// The largest request body sent on. The API server itself takes at most
/// 3 MiB for an object; this leaves room for a patch's own framing.
const MAX_BODY: usize = 8 << 20;

pub(crate) fn router() -> Router<App> {
    Router::new().route("/kube/{*path}", any(proxy))
}

/// `GET /api/v1/kube`, in the API document.
pub(crate) fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(kube_access))
}

/// Where kubectl reaches the Kubernetes API proxy, and the certificate to
/// trust for it: what `berth kubeconfig` writes into a kubeconfig.
#[utoipa::path(get, path = "/api/v1/kube", tag = "spaces",
    responses((status = 200, body = KubeAccess), (status = 401, description = "Not signed in")))]
async fn kube_access(State(app): State<App>, _signed_in: Caller) -> Json<KubeAccess> {
    Json(app.kube_access().clone())
}

async fn proxy(State(app): State<App>, request: Request) -> Response {
    match serve(&app, request).await {
        Ok(response) => response,
        Err(err) => kube_status(err),
    }
}

async fn serve(app: &App, request: Request) -> Result<Response, Error> {
    let (mut parts, body) = request.into_parts();
    let origin = origin_of(&parts);
    let token = bearer(&parts.headers).ok_or_else(|| {
        Error::unauthenticated("no bearer token: point kubectl at Berth with `berth kubeconfig`")
    })?;
    let actor = app.auth().authenticate_token(token, &origin).await?;
    let spaces = app.spaces();
    let path = parts
        .uri
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let method = parts.method.clone();
    let target = match kube_proxy::classify(&method, &path, query.as_deref()) {
        Ok(target) => target,
        Err(refused) => {
            spaces.check_kube(&actor).await?;
            return Err(spaces.kube_refused(&actor, &method, &path, refused).await);
        }
    };
    let namespaced = match &target {
        Target::Discovery | Target::SelfReview => {
            spaces.check_kube(&actor).await?;
            None
        }
        Target::Namespaces => {
            let items = spaces.kube_namespaces(&actor).await?;
            return Ok(list("NamespaceList", items));
        }
        Target::Namespace(name) => {
            return match spaces.kube_namespace(&actor, name).await? {
                Some(object) => Ok(Json(object).into_response()),
                None => Err(Error::not_found("namespace", name)),
            };
        }
        Target::InNamespace(inside) => {
            spaces
                .kube_access(&actor, inside.namespace, inside.verb)
                .await?;
            Some(inside.clone())
        }
    };
    app.metrics().kube_request(match (&target, &namespaced) {
        (_, Some(inside)) => inside.verb,
        (Target::SelfReview, _) => "selfreview",
        _ => "discovery",
    });
    // The connection to splice, if the API agrees to an upgrade.
    let downstream = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        Error::invalid(
            "body",
            format!("a request body must be at most {} MiB", MAX_BODY >> 20),
        )
    })?;
    let uri = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let mut upstream = axum::http::Request::builder()
        .method(parts.method)
        .uri(uri)
        .body(body)
        .map_err(Error::internal)?;
    *upstream.headers_mut() = parts.headers;
    let mut response = spaces.kube_forward(&actor, upstream).await?;
    if let Some(inside) = &namespaced
        && inside.audited()
    {
        spaces
            .kube_record(&actor, inside, response.status().as_u16())
            .await?;
    }
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(downstream) = downstream
    {
        let upgraded = hyper::upgrade::on(&mut response);
        tokio::spawn(crate::upgrade::splice(
            downstream,
            upgraded,
            format!("a Kubernetes stream of {}", actor.user.username),
        ));
        let (mut parts, _) = response.into_parts();
        parts.extensions.clear();
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let (mut parts, body) = response.into_parts();
    kube_proxy::strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// A list object of `kind` holding `items`, as the API answers a list.
fn list(kind: &str, items: Vec<serde_json::Value>) -> Response {
    Json(serde_json::json!({
        "kind": kind,
        "apiVersion": "v1",
        "metadata": {"resourceVersion": ""},
        "items": items,
    }))
    .into_response()
}

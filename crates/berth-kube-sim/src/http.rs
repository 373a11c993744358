//! The Kubernetes REST protocol over HTTP: discovery, CRUD, subresources,
//! patches, server-side apply and watches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::Shared;
use crate::error::ApiError;
use crate::patch::PatchType;
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{DeleteOpts, Event, EventType, Sub, WriteCtx};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

type Params = HashMap<String, String>;

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(params): Query<Params>,
    headers: HeaderMap,
    websocket: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Bytes,
) -> Response {
    shared.requests.count(
        &method,
        params.get("watch").is_some_and(|w| w == "true" || w == "1"),
    );
    if let Err(err) = shared.faults.apply(method.as_str(), uri.path()).await {
        return err.into_response();
    }
    let websocket = websocket.ok();
    match route(
        &shared,
        &method,
        uri.path(),
        &params,
        &headers,
        websocket,
        body,
    )
    .await
    {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

/// What a path names once the group/version prefix is stripped.
enum Target {
    Collection {
        ns: Option<String>,
    },
    Object {
        ns: Option<String>,
        name: String,
        sub: Option<String>,
    },
}

async fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    params: &Params,
    headers: &HeaderMap,
    websocket: Option<WebSocketUpgrade>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => return Ok(Json(version(shared.options.kubernetes_minor)).into_response()),
        ["healthz"] | ["readyz"] | ["livez"] => return Ok("ok".into_response()),
        ["api"] => return Ok(Json(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        )
        .into_response()),
        ["apis"] => return Ok(Json(group_list(shared)).into_response()),
        ["openapi", "v3"] => return Ok(Json(openapi_index(shared)).into_response()),
        ["openapi", "v3", rest @ ..] => {
            return openapi_document(shared, &rest.join("/"))
                .map(|doc| Json(doc).into_response())
                .ok_or_else(|| ApiError::path_not_found(path));
        }
        ["api", "v1"] => return Ok(Json(resource_list(shared, "", "v1")).into_response()),
        ["apis", group] => {
            let list = group_list(shared);
            let found = list["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|g| g["name"] == *group)
                .cloned();
            return found
                .map(|g| Json(g).into_response())
                .ok_or_else(|| ApiError::path_not_found(path));
        }
        ["apis", group, version] => {
            let list = resource_list(shared, group, version);
            if list["resources"].as_array().is_some_and(Vec::is_empty) {
                return Err(ApiError::path_not_found(path));
            }
            return Ok(Json(list).into_response());
        }
        _ => {}
    }
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::path_not_found(path)),
    };
    let resolve = |plural: &str| shared.cluster.resolve(group, version, plural);
    let (rt, target) = match rest {
        ["namespaces", ns, plural, rest @ ..]
            if resolve(plural).is_some_and(|rt| rt.namespaced) =>
        {
            let rt = resolve(plural).ok_or_else(|| ApiError::path_not_found(path))?;
            let ns = Some((*ns).to_owned());
            match rest {
                [] => (rt, Target::Collection { ns }),
                [name] => (
                    rt,
                    Target::Object {
                        ns,
                        name: (*name).to_owned(),
                        sub: None,
                    },
                ),
                [name, sub] => (
                    rt,
                    Target::Object {
                        ns,
                        name: (*name).to_owned(),
                        sub: Some((*sub).to_owned()),
                    },
                ),
                _ => return Err(ApiError::path_not_found(path)),
            }
        }
        [plural, rest @ ..] => {
            let rt = resolve(plural).ok_or_else(|| ApiError::path_not_found(path))?;
            match rest {
                [] => (rt, Target::Collection { ns: None }),
                [name] if !rt.namespaced => (
                    rt,
                    Target::Object {
                        ns: None,
                        name: (*name).to_owned(),
                        sub: None,
                    },
                ),
                [name, sub] if !rt.namespaced => (
                    rt,
                    Target::Object {
                        ns: None,
                        name: (*name).to_owned(),
                        sub: Some((*sub).to_owned()),
                    },
                ),
                _ => return Err(ApiError::path_not_found(path)),
            }
        }
        _ => return Err(ApiError::path_not_found(path)),
    };
    let ctx = write_ctx(params, headers);
    match target {
        Target::Collection { ns } => match *method {
            Method::GET if is_true(params.get("watch")) => {
                watch(shared, &rt, ns, params, websocket).await
            }
            Method::GET => list(shared, &rt, ns.as_deref(), params),
            Method::POST => {
                let object =
                    shared
                        .cluster
                        .create(&rt, ns.as_deref(), body_json(headers, &body)?, &ctx)?;
                Ok((StatusCode::CREATED, Json(object)).into_response())
            }
            Method::DELETE => {
                let (labels, fields) = selectors(params)?;
                let deleted = shared.cluster.delete_collection(
                    &rt,
                    ns.as_deref(),
                    &labels,
                    &fields,
                    &delete_opts(params, headers, &body)?,
                )?;
                Ok(Json(json!({
                    "kind": format!("{}List", rt.kind),
                    "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": shared.cluster.current_rv().to_string()},
                    "items": deleted,
                }))
                .into_response())
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        Target::Object { ns, name, sub } => {
            let sub = match sub.as_deref() {
                None => Sub::Main,
                Some("status") if rt.status => Sub::Status,
                Some("finalize") if rt.group.is_empty() && rt.plural == "namespaces" => Sub::Status,
                Some("scale") if rt.scale => Sub::Scale,
                // What a kubelet answers; the simulator runs no containers,
                // so it says so of a pod that exists.
                Some(stream @ ("exec" | "attach" | "portforward" | "log"))
                    if rt.group.is_empty() && rt.plural == "pods" =>
                {
                    shared.cluster.get(&rt, ns.as_deref(), &name)?;
                    return Err(ApiError::bad_request(format!(
                        "pods/{stream} needs a node to run the pod on: the Kubernetes API simulator \
                         runs no containers (pod {name} is only a record here)"
                    )));
                }
                Some(_) => return Err(ApiError::path_not_found(path)),
            };
            let ns = ns.as_deref();
            match *method {
                Method::GET => {
                    let object = shared.cluster.get(&rt, ns, &name)?;
                    Ok(Json(if sub == Sub::Scale {
                        crate::store::scale_view(&object)
                    } else {
                        object
                    })
                    .into_response())
                }
                Method::PUT => Ok(Json(shared.cluster.replace(
                    &rt,
                    ns,
                    &name,
                    body_json(headers, &body)?,
                    &ctx,
                    sub,
                )?)
                .into_response()),
                Method::PATCH => {
                    let content_type = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let kind = PatchType::from_content_type(content_type)
                        .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
                    let patch = if kind == PatchType::Apply {
                        parse_yaml_or_json(&body)?
                    } else {
                        parse_json(&body)?
                    };
                    let (object, created) = shared
                        .cluster
                        .patch(&rt, ns, &name, kind, patch, &ctx, sub)?;
                    let status = if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    };
                    Ok((status, Json(object)).into_response())
                }
                Method::DELETE if sub == Sub::Main => Ok(Json(shared.cluster.delete(
                    &rt,
                    ns,
                    &name,
                    &delete_opts(params, headers, &body)?,
                )?)
                .into_response()),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    }
}

fn version(minor: u32) -> Value {
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "gitVersion": format!("v1.{minor}.0-berth-sim"),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "n/a",
        "compiler": "berth-kube-sim",
        "platform": "linux/amd64",
    })
}

fn group_list(shared: &Shared) -> Value {
    let mut groups: Vec<(String, String)> = shared
        .cluster
        .types()
        .into_iter()
        .filter(|rt| !rt.group.is_empty())
        .map(|rt| (rt.group, rt.version))
        .collect();
    groups.sort();
    groups.dedup();
    let mut by_group: Vec<Value> = Vec::new();
    for (group, version) in groups {
        let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
        match by_group.iter_mut().find(|g| g["name"] == group.as_str()) {
            Some(existing) => {
                if let Some(versions) = existing["versions"].as_array_mut() {
                    versions.push(gv);
                }
            }
            None => by_group
                .push(json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})),
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": by_group})
}

fn resource_list(shared: &Shared, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = shared
        .cluster
        .types()
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
        .flat_map(ResourceType::discovery)
        .collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn is_true(value: Option<&String>) -> bool {
    matches!(value.map(String::as_str), Some("true" | "1"))
}

fn write_ctx(params: &Params, headers: &HeaderMap) -> WriteCtx {
    // Without ?fieldManager, a real server names the manager after the
    // client's user agent up to the first '/'.
    let manager = params.get("fieldManager").cloned().unwrap_or_else(|| {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.split('/').next().unwrap_or(ua).to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    });
    WriteCtx {
        manager,
        manager_given: params.contains_key("fieldManager"),
        force: is_true(params.get("force")),
    }
}

/// A create's, replace's or delete's body: JSON, or the protobuf client-go
/// sends for built-in kinds.
fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if crate::protobuf::is_protobuf(content_type) {
        crate::protobuf::to_json(body)
    } else {
        parse_json(body)
    }
}

/// `/openapi/v3`: one document per group/version served. Clients (Helm)
/// read it to learn that the server validates fields itself.
fn openapi_index(shared: &Shared) -> Value {
    let mut paths = serde_json::Map::new();
    for rt in shared.cluster.types() {
        let key = openapi_key(&rt.group, &rt.version);
        let url = format!("/openapi/v3/{key}?hash={}", openapi_hash(&key));
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

fn openapi_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn openapi_hash(key: &str) -> String {
    // Stable per group/version: the documents change only with the build.
    format!(
        "{:016X}",
        key.bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b))
                .wrapping_mul(0x0100_0000_01b3))
    )
}

/// One group/version's document: each resource's paths, with the
/// group/version/kind and the `fieldValidation` parameter. Schemas are not
/// described (the simulator checks objects itself).
fn openapi_document(shared: &Shared, key: &str) -> Option<Value> {
    let types: Vec<ResourceType> = shared
        .cluster
        .types()
        .into_iter()
        .filter(|rt| openapi_key(&rt.group, &rt.version) == key)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for rt in &types {
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let op = |verb: &str| {
            json!({"operationId": format!("{verb}{}", rt.kind), "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk, "parameters": params,
                "responses": {"200": {"description": "OK"}}})
        };
        let prefix = format!("/{key}");
        let (collection, item) = if rt.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural),
            )
        } else {
            (
                format!("{prefix}/{}", rt.plural),
                format!("{prefix}/{}/{{name}}", rt.plural),
            )
        };
        paths.insert(collection, json!({"get": op("list"), "post": op("post")}));
        paths.insert(
            item,
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (Berth's simulator)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// Applied configurations are YAML by media type; Kubernetes clients send
/// JSON, which is YAML. The simulator accepts the JSON form.
fn parse_yaml_or_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the applied configuration is not JSON (the simulator accepts the JSON form of apply-patch+yaml): {e}"
        ))
    })
}

fn selectors(params: &Params) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str))
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn delete_opts(params: &Params, headers: &HeaderMap, body: &[u8]) -> Result<DeleteOpts, ApiError> {
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        body_json(headers, body)?
    };
    Ok(DeleteOpts {
        propagation: params
            .get("propagationPolicy")
            .cloned()
            .or_else(|| options["propagationPolicy"].as_str().map(str::to_owned)),
        precondition_uid: options["preconditions"]["uid"].as_str().map(str::to_owned),
        precondition_rv: options["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_owned),
    })
}

fn list(
    shared: &Shared,
    rt: &ResourceType,
    ns: Option<&str>,
    params: &Params,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(params)?;
    let limit = match params.get("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        )
        .filter(|l| *l > 0),
        None => None,
    };
    let result = shared.cluster.list(
        rt,
        ns,
        &labels,
        &fields,
        limit,
        params
            .get("continue")
            .map(String::as_str)
            .filter(|c| !c.is_empty()),
    )?;
    let mut metadata = json!({"resourceVersion": result.rv.to_string()});
    if let Some(token) = result.continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = result.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(Json(json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": metadata,
        "items": result.items,
    }))
    .into_response())
}

/// What one watch sends for an event, given its selectors: an object leaving
/// the selection is a DELETED for this watcher, one entering it an ADDED.
fn project(
    event: &Event,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Option<Value> {
    let in_scope = |object: &Value| {
        ns.is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns))
            && labels.matches(object["metadata"]["labels"].as_object())
            && fields.matches(object)
    };
    let now = in_scope(&event.object);
    let before = event.old.as_ref().map(in_scope);
    let kind = match (event.kind, before, now) {
        (EventType::Modified, Some(true), false) => EventType::Deleted,
        (EventType::Modified, Some(false), true) => EventType::Added,
        (_, _, false) => return None,
        (kind, _, true) => kind,
    };
    Some(json!({"type": kind.as_str(), "object": event.object}))
}

fn line(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_events_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": metadata}})
}

/// A watch: JSON lines in a streamed body, or, asked with a WebSocket
/// upgrade (as the API server also serves it), one text message per event.
async fn watch(
    shared: &Shared,
    rt: &ResourceType,
    ns: Option<String>,
    params: &Params,
    websocket: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(params)?;
    let bookmarks = is_true(params.get("allowWatchBookmarks"));
    let send_initial = is_true(params.get("sendInitialEvents"));
    let from = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let start = match shared.cluster.watch_start(rt, from, send_initial) {
        Ok(start) => start,
        // A real server answers a too-old resourceVersion inside the watch
        // stream, as an ERROR event carrying a 410 Status.
        Err(err) if err.code == 410 => {
            let body = line(&json!({"type": "ERROR", "object": err.status()}));
            return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
        }
        Err(err) => return Err(err),
    };
    let rt = rt.clone();
    let bookmark_interval = shared.options.bookmark_interval;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let mut epoch = shared.faults.watch_epoch();
    epoch.borrow_and_update();
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut last_rv = from.unwrap_or(0);
        for event in &start.initial {
            if let Some(value) = project(event, ns.as_deref(), &labels, &fields)
                && tx.send(line(&value)).await.is_err()
            {
                return;
            }
            last_rv = last_rv.max(event.rv);
        }
        if from.is_none() || send_initial {
            last_rv = start.rv;
        }
        if send_initial && tx.send(line(&bookmark(&rt, start.rv, true))).await.is_err() {
            return;
        }
        let mut receiver = start.receiver;
        let mut ticker = tokio::time::interval(bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = epoch.changed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(line(&bookmark(&rt, last_rv, false))).await.is_err() {
                        return;
                    }
                }
                received = receiver.recv() => match received {
                    Ok(event) => {
                        if event.res != rt.key() || event.rv <= last_rv {
                            continue;
                        }
                        last_rv = event.rv;
                        if let Some(value) = project(&event, ns.as_deref(), &labels, &fields)
                            && tx.send(line(&value)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let err = ApiError::gone("the watch fell too far behind; restart it from a fresh list");
                        let _ = tx.send(line(&json!({"type": "ERROR", "object": err.status()}))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    if let Some(websocket) = websocket {
        let mut rx = rx;
        return Ok(websocket.on_upgrade(move |mut socket| async move {
            while let Some(line) = rx.recv().await {
                let text = String::from_utf8_lossy(line.trim_ascii_end()).into_owned();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            let _ = socket.send(Message::Close(None)).await;
        }));
    }
    let stream = tokio_stream_from(rx);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok)
}

//! The authorization sweep: every route in the OpenAPI document, called
//! unauthenticated, with a revoked token, with an expired token, and as a
//! member. Each route must have an entry here: a new route without one
//! fails this test until someone decides who may call it.

use std::sync::Arc;
use std::time::Duration;

use berth_auth::config::AuthConfig;
use berth_core::ManualClock;
use berth_testkit::TestServer;
use serde_json::json;

use crate::auth_local::{call, member};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    User,
    /// Admins (and, for the audit log, auditors); members get 403.
    Admin,
    /// A space's members (or a session's owner); anyone else gets 404 (the
    /// sweep calls it on a space of the admin's that the member is not in).
    SpaceMembers,
}

use Access::*;

const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Public),
    ("GET", "/api/v1/version", Public),
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/api/v1/auth/methods", Public),
    ("POST", "/api/v1/setup", Public),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/cli/password", Public),
    ("POST", "/api/v1/auth/cli/exchange", Public),
    ("POST", "/api/v1/auth/device", Public),
    ("POST", "/api/v1/auth/device/poll", Public),
    ("GET", "/auth/oidc/login", Public),
    ("GET", "/auth/oidc/callback", Public),
    ("GET", "/auth/cli/login", Public),
    ("GET", "/api/v1/whoami", User),
    ("GET", "/api/v1/tokens", User),
    ("POST", "/api/v1/tokens", User),
    ("DELETE", "/api/v1/tokens/{id}", User),
    ("POST", "/api/v1/tokens/kube", User),
    ("GET", "/api/v1/kube", User),
    ("GET", "/api/v1/users/{id}", User),
    ("GET", "/api/v1/users", Admin),
    ("POST", "/api/v1/users", Admin),
    ("PATCH", "/api/v1/users/{id}", Admin),
    ("GET", "/api/v1/auth/mapping", Admin),
    ("PUT", "/api/v1/auth/mapping", Admin),
    ("POST", "/api/v1/auth/mapping/preview", Admin),
    ("GET", "/api/v1/audit/events", Admin),
    ("GET", "/api/v1/audit/export", Admin),
    ("GET", "/api/v1/audit/verify", Admin),
    ("GET", "/api/v1/audit/public-key", Admin),
    ("GET", "/api/v1/spaces", User),
    ("POST", "/api/v1/spaces", User),
    ("GET", "/api/v1/spaces/{name}", SpaceMembers),
    ("PATCH", "/api/v1/spaces/{name}", SpaceMembers),
    ("GET", "/api/v1/spaces/{name}/objects", SpaceMembers),
    ("POST", "/api/v1/spaces/{name}/members", SpaceMembers),
    (
        "DELETE",
        "/api/v1/spaces/{name}/members/{user}",
        SpaceMembers,
    ),
    ("POST", "/api/v1/spaces/{name}/sleep", SpaceMembers),
    ("POST", "/api/v1/spaces/{name}/wake", SpaceMembers),
    ("DELETE", "/api/v1/spaces/{name}", SpaceMembers),
    ("GET", "/api/v1/spaces/{name}/dev", SpaceMembers),
    ("POST", "/api/v1/spaces/{name}/dev", SpaceMembers),
    ("DELETE", "/api/v1/spaces/{name}/dev/{target}", SpaceMembers),
    (
        "DELETE",
        "/api/v1/spaces/{name}/dev/{target}/volume",
        SpaceMembers,
    ),
    ("GET", "/api/v1/spaces/{name}/workloads", SpaceMembers),
    ("GET", "/api/v1/spaces/{name}/endpoints", SpaceMembers),
    (
        "PUT",
        "/api/v1/spaces/{name}/endpoints/{service}",
        SpaceMembers,
    ),
    (
        "DELETE",
        "/api/v1/spaces/{name}/endpoints/{service}",
        SpaceMembers,
    ),
    // The console's hand-over to an endpoint's host: its own answer for
    // a browser not signed in is the sign-in page.
    ("GET", "/auth/endpoint", Public),
    ("GET", "/api/v1/catalog/repositories", Admin),
    ("POST", "/api/v1/catalog/repositories", Admin),
    ("GET", "/api/v1/catalog/repositories/{name}", Admin),
    ("DELETE", "/api/v1/catalog/repositories/{name}", Admin),
    ("POST", "/api/v1/catalog/repositories/{name}/refresh", Admin),
    ("GET", "/api/v1/catalog/repositories/{name}/charts", Admin),
    ("GET", "/api/v1/catalog/items", User),
    ("POST", "/api/v1/catalog/items", Admin),
    ("GET", "/api/v1/catalog/items/{name}", User),
    ("PUT", "/api/v1/catalog/items/{name}", Admin),
    ("DELETE", "/api/v1/catalog/items/{name}", Admin),
    ("GET", "/api/v1/spaces/{name}/apps", SpaceMembers),
    ("POST", "/api/v1/spaces/{name}/apps", SpaceMembers),
    ("GET", "/api/v1/spaces/{name}/apps/{app}", SpaceMembers),
    ("DELETE", "/api/v1/spaces/{name}/apps/{app}", SpaceMembers),
    (
        "POST",
        "/api/v1/spaces/{name}/apps/{app}/upgrade",
        SpaceMembers,
    ),
    ("GET", "/api/v1/spaces/{name}/apps/{app}/logs", SpaceMembers),
    ("GET", "/api/v1/sessions", User),
    ("POST", "/api/v1/sessions", User),
    ("GET", "/api/v1/sessions/{id}", SpaceMembers),
    ("DELETE", "/api/v1/sessions/{id}", SpaceMembers),
    ("POST", "/api/v1/sessions/{id}/sync-report", SpaceMembers),
    ("GET", "/api/v1/relay/client", User),
    // Authenticated by a session's agent token, checked before the upgrade.
    ("GET", "/api/v1/relay/agent", Public),
    // Last: signing out with a token revokes it.
    ("POST", "/api/v1/auth/logout", User),
];

/// A well-formed body, so a refusal is about who calls, not what they send.
fn body_for(method: &str, path: &str) -> serde_json::Value {
    match (method, path) {
        ("POST", "/api/v1/users") => {
            json!({"username": "sweep-user", "password": "correct horse battery staple"})
        }
        ("PATCH", "/api/v1/users/{id}") => json!({"disabled": false}),
        ("PUT", "/api/v1/auth/mapping") => json!({"admin_groups": [], "auditor_groups": []}),
        ("POST", "/api/v1/auth/mapping/preview") => json!({"claims": {
            "issuer": "https://idp.example", "subject": "s", "username": "u", "email": null,
            "email_verified": null, "name": null, "groups": ["g"]}}),
        ("POST", "/api/v1/tokens") => json!({"name": "sweep"}),
        ("POST", "/api/v1/spaces") => json!({"name": "sweep-new"}),
        ("POST", "/api/v1/sessions") => json!({"space": "admins-only"}),
        ("PATCH", "/api/v1/spaces/{name}") => json!({"labels": {"team": "sweep"}}),
        ("POST", "/api/v1/spaces/{name}/members") => json!({"user": "member"}),
        ("POST", "/api/v1/catalog/repositories") => {
            json!({"name": "sweep", "url": "http://127.0.0.1:9"})
        }
        ("POST" | "PUT", "/api/v1/catalog/items" | "/api/v1/catalog/items/{name}") => {
            json!({"name": "admins-only", "repository": "sweep", "chart": "sweep"})
        }
        ("POST", "/api/v1/spaces/{name}/apps") => json!({"item": "sweep"}),
        ("PUT", "/api/v1/spaces/{name}/endpoints/{service}") => json!({"access": "team"}),
        ("POST", "/api/v1/spaces/{name}/dev") => {
            json!({"target": "api", "workload": "deployment/api"})
        }
        _ => json!({}),
    }
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_expected() {
    let clock = ManualClock::starting_now();
    let server = TestServer::start_full(AuthConfig::default(), Arc::new(clock.clone()))
        .await
        .expect("server");
    let admin = server.admin_token().await.expect("admin");
    let http = reqwest::Client::new();
    let tokens = format!("{}/api/v1/tokens", server.url);

    let revoked = member(&server, &admin, "revoked").await;
    let (_, me) = call(&http, "GET", &tokens, Some(&revoked), None).await;
    let id = me[0]["id"].as_str().expect("token id").to_owned();
    assert_eq!(
        call(
            &http,
            "DELETE",
            &format!("{tokens}/{id}"),
            Some(&revoked),
            None
        )
        .await
        .0,
        200
    );

    let (_, made) = call(
        &http,
        "POST",
        &tokens,
        Some(&admin),
        Some(json!({"name": "soon", "expires_in_days": 1})),
    )
    .await;
    let expired = made["secret"].as_str().expect("secret").to_owned();
    clock.advance(Duration::from_secs(2 * 86_400));
    let member_token = member(&server, &admin, "member").await;
    let (status, body) = call(
        &http,
        "POST",
        &format!("{}/api/v1/spaces", server.url),
        Some(&admin),
        Some(json!({"name": "admins-only"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let documented: Vec<(String, String)> = berth_server::openapi()
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let mut methods = Vec::new();
            for (method, present) in [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ] {
                if present {
                    methods.push((method.to_owned(), path.clone()));
                }
            }
            methods
        })
        .collect();
    for (method, path) in &documented {
        assert!(
            ROUTES.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} has no entry in the authorization sweep: add one"
        );
    }
    let doc = berth_server::openapi();
    for (method, path, access) in ROUTES {
        assert!(
            documented.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is in the sweep but not in the OpenAPI document"
        );
        let operation = operation(&doc, method, path);
        let url = format!(
            "{}{}",
            server.url,
            path.replace("{id}", "nonexistent")
                .replace("{name}", "admins-only")
                .replace("{user}", "admin")
                .replace("{target}", "api")
                .replace("{app}", "web")
                .replace("{service}", "web")
        );
        let body = (*method != "GET" && *method != "DELETE").then(|| body_for(method, path));
        let anonymous = call(&http, method, &url, None, body.clone())
            .await
            .0
            .as_u16();
        let with_revoked = call(&http, method, &url, Some(&revoked), body.clone())
            .await
            .0
            .as_u16();
        let with_expired = call(&http, method, &url, Some(&expired), body.clone())
            .await
            .0
            .as_u16();
        let as_member = call(&http, method, &url, Some(&member_token), body.clone())
            .await
            .0
            .as_u16();
        // The document says who may call, and lists every answer seen here.
        let security = operation.security.clone().unwrap_or_default();
        match access {
            Public if *path == "/api/v1/relay/agent" => {
                assert_eq!(security.len(), 1, "{method} {path}: the agent's token only");
            }
            Public => assert!(
                security.is_empty(),
                "{method} {path} is public in the document"
            ),
            _ => assert!(
                !security.is_empty(),
                "{method} {path} needs credentials in the document"
            ),
        }
        for status in [anonymous, with_revoked, with_expired, as_member] {
            assert!(
                operation
                    .responses
                    .responses
                    .contains_key(&status.to_string()),
                "{method} {path} answered {status}, which its document does not list"
            );
        }
        match access {
            Public => assert_ne!(anonymous, 401, "{method} {path} is public"),
            User | Admin | SpaceMembers => {
                assert_eq!(anonymous, 401, "{method} {path} unauthenticated");
                assert_eq!(with_revoked, 401, "{method} {path} with a revoked token");
                assert_eq!(with_expired, 401, "{method} {path} with an expired token");
            }
        }
        match access {
            Admin => assert_eq!(as_member, 403, "{method} {path} as a member"),
            User => assert!(
                ![401, 403].contains(&as_member),
                "{method} {path} as a member answered {as_member}"
            ),
            SpaceMembers => assert_eq!(
                as_member, 404,
                "{method} {path} on another's space, as a member"
            ),
            Public => {}
        }
    }
}

/// The operation `method path` of the document.
fn operation<'d>(
    doc: &'d utoipa::openapi::OpenApi,
    method: &str,
    path: &str,
) -> &'d utoipa::openapi::path::Operation {
    let item = doc.paths.paths.get(path).expect("documented");
    match method {
        "GET" => item.get.as_ref(),
        "POST" => item.post.as_ref(),
        "PUT" => item.put.as_ref(),
        "PATCH" => item.patch.as_ref(),
        "DELETE" => item.delete.as_ref(),
        _ => None,
    }
    .expect("documented")
}

/// Every error answer of the document has the one error body.
#[test]
fn every_error_answer_is_documented_with_the_error_body() {
    let doc = berth_server::openapi();
    for (path, item) in &doc.paths.paths {
        for operation in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            for (status, response) in &operation.responses.responses {
                if status.starts_with(['4', '5']) && path != "/readyz" {
                    let json = serde_json::to_value(response).expect("serializes");
                    assert_eq!(
                        json["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{path} {status}"
                    );
                }
            }
        }
    }
}

/// The Kubernetes API proxy is not in the document (it is the cluster's
/// API), so it is swept here: only a token of the `kube` scope gets in,
/// only into its own spaces, and that token reaches nothing of Berth's API.
#[tokio::test]
async fn the_kubernetes_api_proxy_answers_each_kind_of_caller_as_expected() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    let member_token = member(&server, &admin, "member").await;
    let (status, body) = call(
        &http,
        "POST",
        &url("/api/v1/spaces"),
        Some(&member_token),
        Some(json!({"name": "members-own"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &http,
        "POST",
        &url("/api/v1/spaces"),
        Some(&admin),
        Some(json!({"name": "admins-only"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, made) = call(
        &http,
        "POST",
        &url("/api/v1/tokens/kube"),
        Some(&member_token),
        None,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let kube = made["secret"].as_str().expect("secret").to_owned();
    assert!(kube.starts_with("berth_kube_"), "{kube}");
    let (status, _) = call(
        &http,
        "POST",
        &url("/api/v1/tokens/kube"),
        Some(&kube),
        None,
    )
    .await;
    assert_eq!(status, 403, "a kube token makes no tokens");
    let (status, _) = call(&http, "GET", &url("/api/v1/spaces"), Some(&kube), None).await;
    assert_eq!(status, 403, "a kube token reaches nothing of Berth's API");

    let own = "/kube/api/v1/namespaces/members-own/configmaps";
    let other = "/kube/api/v1/namespaces/admins-only/configmaps";
    for (token, path, want, says) in [
        (None, own, 401, "bearer token"),
        (
            Some(member_token.as_str()),
            own,
            403,
            "lacks the kube scope",
        ),
        (Some(kube.as_str()), other, 403, "not one of your spaces"),
        (
            Some(kube.as_str()),
            "/kube/api/v1/namespaces/nowhere/pods",
            403,
            "not one of your spaces",
        ),
        (
            Some(kube.as_str()),
            "/kube/api/v1/nodes",
            403,
            "outside a namespace",
        ),
        (Some(kube.as_str()), own, 200, "ConfigMapList"),
    ] {
        let (status, body) = call(&http, "GET", &url(path), token, None).await;
        assert_eq!(status.as_u16(), want, "{path}: {body}");
        assert!(body.to_string().contains(says), "{path}: {body}");
        if want != 200 {
            assert_eq!(
                body["kind"], "Status",
                "refused as the Kubernetes API refuses: {body}"
            );
            assert_eq!(body["code"], want, "{body}");
        }
    }
    // A watch asked for as a WebSocket (an upgrade, as exec and
    // port-forward are) is spliced through: an event arrives on it.
    let (mut watch, _) = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}{own}?watch=true", server.url.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {kube}").parse().expect("header"),
        );
        tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade goes through")
    };
    let (status, created) = call(
        &http,
        "POST",
        &url(own),
        Some(&kube),
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        loop {
            match watch.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    let event: serde_json::Value = serde_json::from_str(&text).expect("json");
                    if event["object"]["metadata"]["name"] == "watched" {
                        return event;
                    }
                }
                other => panic!("the watch ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a watch event within 10 s");
    assert_eq!(event["type"], "ADDED", "{event}");

    // A revoked kube token is refused at once.
    let id = made["token"]["id"].as_str().expect("id");
    let (status, _) = call(
        &http,
        "DELETE",
        &url(&format!("/api/v1/tokens/{id}")),
        Some(&member_token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(&http, "GET", &url(own), Some(&kube), None).await;
    assert_eq!(status, 401, "{body}");
}

//! Error bodies, request ids, readiness and the OpenAPI document.

use berth_core::{ComponentStatus, ReadinessReport};
use berth_testkit::TestServer;

async fn server() -> TestServer {
    TestServer::start().await.expect("server starts")
}

#[tokio::test]
async fn an_unknown_api_route_is_a_json_404_that_quotes_the_request_id() {
    let server = server().await;
    let response = reqwest::get(format!("{}/api/v1/nothing-here", server.url))
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], request_id.as_str());
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("/api/v1/nothing-here")
    );
}

#[tokio::test]
async fn a_callers_request_id_is_kept_only_when_it_is_sane() {
    let server = server().await;
    let http = reqwest::Client::new();
    let echoed = |id: &'static str| {
        let request = http
            .get(format!("{}/api/v1/version", server.url))
            .header("x-request-id", id);
        async move {
            let response = request.send().await.expect("request");
            response.headers()["x-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned()
        }
    };
    assert_eq!(echoed("trace-me-42").await, "trace-me-42");
    let replaced = echoed("has spaces and\ttabs").await;
    assert_ne!(replaced, "has spaces and\ttabs");
    assert_eq!(replaced.len(), 36, "a generated UUID: {replaced}");
}

#[tokio::test]
async fn readiness_names_the_component_that_is_not_ready() {
    let server = server().await;
    let url = format!("{}/readyz", server.url);
    let ready = reqwest::get(&url).await.expect("request");
    assert_eq!(ready.status(), 200);

    server.app.readiness().set(
        "server",
        ComponentStatus::NotReady {
            reason: "draining".to_owned(),
        },
    );
    let draining = reqwest::get(&url).await.expect("request");
    assert_eq!(draining.status(), 503);
    let report: ReadinessReport = draining.json().await.expect("JSON body");
    assert!(!report.ready);
    assert_eq!(
        report.components["server"],
        ComponentStatus::NotReady {
            reason: "draining".to_owned()
        }
    );
    assert_eq!(report.components["store"], ComponentStatus::Ready);
}

/// Every GET operation in the document answers something other than 404 or
/// 405, so the document describes the router and not a wish list. (The
/// authorization sweep calls every other method.)
#[tokio::test]
async fn every_documented_route_is_served() {
    let server = server().await;
    let doc = berth_server::openapi();
    assert!(!doc.paths.paths.is_empty());
    for (path, item) in &doc.paths.paths {
        if item.get.is_none() || path.contains('{') {
            continue;
        }
        let response = reqwest::get(format!("{}{path}", server.url))
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        // A handler may answer 404 for what it serves (single sign-on that is
        // not configured); the router's own 404 says "route".
        let unrouted = status == 405 || (status == 404 && body.contains("\"message\":\"route "));
        assert!(
            !unrouted,
            "{path} is documented but not routed: {status} {body}"
        );
    }
}

#[tokio::test]
async fn a_malformed_body_is_a_json_422_naming_the_problem() {
    let server = server().await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.url))
        .header("content-type", "application/json")
        .body("{\"username\": 42")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], "invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("body:"),
        "{body}"
    );
}

//! Every route that changes something records an audit event: this walks
//! the OpenAPI document, calls each POST, PUT, PATCH and DELETE route the way
//! a user would, and checks that the log grew. A new changing route fails
//! here until it records (or is listed as a read that uses POST).

use berth_testkit::{OidcProvider, TestServer};
use serde_json::json;

use crate::auth_local::{PASSWORD, call, whoami};

/// Routes that use POST to read and change nothing.
const READS: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/auth/device/poll",
        "polls a sign-in in progress",
    ),
    (
        "POST",
        "/api/v1/auth/mapping/preview",
        "a dry-run: shows what a mapping would do",
    ),
    (
        "POST",
        "/api/v1/sessions/{id}/sync-report",
        "metrics from `berth up`; nothing is stored",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_changing_route_records_an_audit_event() {
    let provider = OidcProvider::start_standard().expect("identity provider");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with(provider.auth_config(dir.path()).expect("config"))
        .await
        .expect("server");
    let audit = server.app.audit().clone();
    let url = |path: &str| format!("{}{path}", server.url);
    let http = reqwest::Client::new();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");

    let mut covered: Vec<(String, String)> = Vec::new();
    let mut expect_event = |method: &str, path: &str, before: u64, after: u64| {
        assert!(
            after > before,
            "{method} {path} changed state but recorded no audit event"
        );
        covered.push((method.to_owned(), path.to_owned()));
    };

    // The first admin, through the setup secret.
    let (secret, _) = server
        .app
        .auth()
        .issue_setup_secret()
        .expect("issue")
        .expect("setup required");
    let before = audit.head().seq;
    let (status, _) = call(
        &browser,
        "POST",
        &url("/api/v1/setup"),
        None,
        Some(json!({"setup_token": secret, "username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201);
    expect_event("POST", "/api/v1/setup", before, audit.head().seq);

    let before = audit.head().seq;
    let (status, me) = call(
        &browser,
        "POST",
        &url("/api/v1/auth/login"),
        None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200);
    expect_event("POST", "/api/v1/auth/login", before, audit.head().seq);
    let csrf = me["csrf_token"].as_str().expect("csrf").to_owned();

    let before = audit.head().seq;
    let (status, made) = call(
        &http,
        "POST",
        &url("/api/v1/auth/cli/password"),
        None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201);
    expect_event(
        "POST",
        "/api/v1/auth/cli/password",
        before,
        audit.head().seq,
    );
    let admin = made["secret"].as_str().expect("secret").to_owned();

    let before = audit.head().seq;
    let (status, _) = call(
        &http,
        "POST",
        &url("/api/v1/auth/cli/exchange"),
        None,
        Some(json!({"code": "unknown", "code_verifier": "v".repeat(43)})),
    )
    .await;
    assert_eq!(status, 401);
    expect_event(
        "POST",
        "/api/v1/auth/cli/exchange",
        before,
        audit.head().seq,
    );

    let before = audit.head().seq;
    let (status, _) = call(&http, "POST", &url("/api/v1/auth/device"), None, None).await;
    assert_eq!(status, 201);
    expect_event("POST", "/api/v1/auth/device", before, audit.head().seq);

    let before = audit.head().seq;
    let (status, _) = call(
        &http,
        "PUT",
        &url("/api/v1/auth/mapping"),
        Some(&admin),
        Some(json!({"admin_groups": ["berth-admins", "ops"], "auditor_groups": []})),
    )
    .await;
    assert_eq!(status, 200);
    expect_event("PUT", "/api/v1/auth/mapping", before, audit.head().seq);

    let before = audit.head().seq;
    let (status, token) = call(
        &http,
        "POST",
        &url("/api/v1/tokens"),
        Some(&admin),
        Some(json!({"name": "coverage"})),
    )
    .await;
    assert_eq!(status, 201);
    expect_event("POST", "/api/v1/tokens", before, audit.head().seq);

    let before = audit.head().seq;
    let id = token["token"]["id"].as_str().expect("id");
    let (status, _) = call(
        &http,
        "DELETE",
        &url(&format!("/api/v1/tokens/{id}")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    expect_event("DELETE", "/api/v1/tokens/{id}", before, audit.head().seq);

    let before = audit.head().seq;
    let (status, user) = call(
        &http,
        "POST",
        &url("/api/v1/users"),
        Some(&admin),
        Some(json!({"username": "dana", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201);
    expect_event("POST", "/api/v1/users", before, audit.head().seq);

    let before = audit.head().seq;
    let id = user["id"].as_str().expect("id");
    let (status, _) = call(
        &http,
        "PATCH",
        &url(&format!("/api/v1/users/{id}")),
        Some(&admin),
        Some(json!({"role": "auditor"})),
    )
    .await;
    assert_eq!(status, 200);
    expect_event("PATCH", "/api/v1/users/{id}", before, audit.head().seq);

    // Spaces: each change, called as the admin.
    for (method, path, body, status) in [
        (
            "POST",
            "/api/v1/spaces",
            Some(json!({"name": "audited"})),
            201,
        ),
        (
            "PATCH",
            "/api/v1/spaces/{name}",
            Some(json!({"persistent": true})),
            200,
        ),
        (
            "POST",
            "/api/v1/spaces/{name}/members",
            Some(json!({"user": "dana"})),
            200,
        ),
        ("DELETE", "/api/v1/spaces/{name}/members/{user}", None, 200),
        ("POST", "/api/v1/spaces/{name}/sleep", None, 200),
        ("POST", "/api/v1/spaces/{name}/wake", None, 200),
        ("DELETE", "/api/v1/spaces/{name}", None, 202),
    ] {
        let before = audit.head().seq;
        let concrete = path.replace("{name}", "audited").replace("{user}", "dana");
        let (got, answer) = call(&http, method, &url(&concrete), Some(&admin), body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        expect_event(method, path, before, audit.head().seq);
    }

    // A dev session in the admin's personal space, then ended.
    let before = audit.head().seq;
    let (status, created) = call(
        &http,
        "POST",
        &url("/api/v1/sessions"),
        Some(&admin),
        Some(json!({"space": "admin"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    expect_event("POST", "/api/v1/sessions", before, audit.head().seq);
    let id = created["session"]["id"].as_str().expect("id");
    let before = audit.head().seq;
    let (status, _) = call(
        &http,
        "DELETE",
        &url(&format!("/api/v1/sessions/{id}")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    expect_event("DELETE", "/api/v1/sessions/{id}", before, audit.head().seq);

    // kubectl's token, then a change through the Kubernetes API proxy (not
    // in the document: it is the cluster's API) into the admin's space.
    let before = audit.head().seq;
    let (status, kube) = call(
        &http,
        "POST",
        &url("/api/v1/tokens/kube"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 201, "{kube}");
    expect_event("POST", "/api/v1/tokens/kube", before, audit.head().seq);
    let kube_token = kube["secret"].as_str().expect("secret");
    let before = audit.head().seq;
    let (status, made) = call(
        &http,
        "POST",
        &url("/kube/api/v1/namespaces/admin/configmaps"),
        Some(kube_token),
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "audited"}})),
    )
    .await;
    assert!(status.is_success(), "{made}");
    assert!(
        audit.head().seq > before,
        "a change through the proxy recorded no event"
    );

    // A chart repository (an empty index served here): added, refreshed,
    // removed.
    let repo = tempfile::tempdir().expect("repo");
    std::fs::write(
        repo.path().join("index.yaml"),
        "apiVersion: v1\nentries: {}\n",
    )
    .expect("index");
    let repo_url = berth_testkit::charts::serve_dir(repo.path().to_owned()).await;
    for (method, path, concrete, body, want) in [
        (
            "POST",
            "/api/v1/catalog/repositories",
            "/api/v1/catalog/repositories".to_owned(),
            Some(json!({"name": "audited", "url": repo_url})),
            201,
        ),
        (
            "POST",
            "/api/v1/catalog/repositories/{name}/refresh",
            "/api/v1/catalog/repositories/audited/refresh".to_owned(),
            None,
            200,
        ),
        (
            "DELETE",
            "/api/v1/catalog/repositories/{name}",
            "/api/v1/catalog/repositories/audited".to_owned(),
            None,
            200,
        ),
    ] {
        let before = audit.head().seq;
        let (got, answer) = call(&http, method, &url(&concrete), Some(&admin), body).await;
        assert_eq!(got, want, "{method} {path}: {answer}");
        expect_event(method, path, before, audit.head().seq);
    }

    // A catalog item of a real chart, installed into the admin's space,
    // upgraded and uninstalled (each waited for), then deleted.
    let work = tempfile::tempdir().expect("work");
    let charts = work.path().join("repo");
    std::fs::create_dir_all(&charts).expect("repo");
    let charts_url = berth_testkit::charts::serve_dir(charts.clone()).await;
    berth_testkit::charts::publish_demo(work.path(), &charts, &charts_url, "0.1.0");
    let (status, answer) = call(
        &http,
        "POST",
        &url("/api/v1/catalog/repositories"),
        Some(&admin),
        Some(json!({"name": "charts", "url": charts_url})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    server.installer_ready("admin").await;
    let item = json!({"name": "demo", "repository": "charts", "chart": "demo"});
    for (method, path, concrete, body, want) in [
        (
            "POST",
            "/api/v1/catalog/items",
            "/api/v1/catalog/items",
            Some(item.clone()),
            201,
        ),
        (
            "PUT",
            "/api/v1/catalog/items/{name}",
            "/api/v1/catalog/items/demo",
            Some(
                json!({"name": "demo", "repository": "charts", "chart": "demo", "description": "changed"}),
            ),
            200,
        ),
        (
            "POST",
            "/api/v1/spaces/{name}/apps",
            "/api/v1/spaces/admin/apps",
            Some(json!({"item": "demo"})),
            202,
        ),
        (
            "POST",
            "/api/v1/spaces/{name}/apps/{app}/upgrade",
            "/api/v1/spaces/admin/apps/demo/upgrade",
            Some(json!({"values": {"message": "audited"}})),
            202,
        ),
        (
            "DELETE",
            "/api/v1/spaces/{name}/apps/{app}",
            "/api/v1/spaces/admin/apps/demo",
            None,
            202,
        ),
        (
            "DELETE",
            "/api/v1/catalog/items/{name}",
            "/api/v1/catalog/items/demo",
            None,
            200,
        ),
    ] {
        let before = audit.head().seq;
        let (got, answer) = call(&http, method, &url(concrete), Some(&admin), body).await;
        assert_eq!(got, want, "{method} {path}: {answer}");
        expect_event(method, path, before, audit.head().seq);
        // An app's operation runs on; the next one waits for its end.
        if path.contains("/apps") {
            berth_testkit::eventually(
                std::time::Duration::from_secs(120),
                "the operation ends",
                || async {
                    let (status, app) = call(
                        &http,
                        "GET",
                        &url("/api/v1/spaces/admin/apps/demo"),
                        Some(&admin),
                        None,
                    )
                    .await;
                    Ok((status == 404 || app["operation"]["state"] != "running").then_some(()))
                },
            )
            .await
            .expect("the operation ends");
        }
    }

    // Dev mode on a Deployment of the admin's space, then back.
    server
        .sim
        .create_object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "admin"},
            "spec": {
                "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "api:1"}]}}
            }
        }))
        .await
        .expect("deployment");
    let before = audit.head().seq;
    let (status, answer) = call(
        &http,
        "POST",
        &url("/api/v1/spaces/admin/dev"),
        Some(&admin),
        Some(json!({"target": "api", "workload": "deployment/api"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    expect_event(
        "POST",
        "/api/v1/spaces/{name}/dev",
        before,
        audit.head().seq,
    );
    let before = audit.head().seq;
    let (status, answer) = call(
        &http,
        "DELETE",
        &url("/api/v1/spaces/admin/dev/api"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    expect_event(
        "DELETE",
        "/api/v1/spaces/{name}/dev/{target}",
        before,
        audit.head().seq,
    );
    let before = audit.head().seq;
    let (status, answer) = call(
        &http,
        "DELETE",
        &url("/api/v1/spaces/admin/dev/api/volume"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204, "{answer}");
    expect_event(
        "DELETE",
        "/api/v1/spaces/{name}/dev/{target}/volume",
        before,
        audit.head().seq,
    );
    for (method, status, body) in [
        ("PUT", 200, Some(json!({"port": 8080, "access": "team"}))),
        ("DELETE", 204, None),
    ] {
        let before = audit.head().seq;
        let (answered, answer) = call(
            &http,
            method,
            &url("/api/v1/spaces/admin/endpoints/web"),
            Some(&admin),
            body,
        )
        .await;
        assert_eq!(answered, status, "{answer}");
        expect_event(
            method,
            "/api/v1/spaces/{name}/endpoints/{service}",
            before,
            audit.head().seq,
        );
    }

    let before = audit.head().seq;
    let response = browser
        .post(url("/api/v1/auth/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);
    expect_event("POST", "/api/v1/auth/logout", before, audit.head().seq);

    let document = berth_server::openapi();
    for (path, item) in &document.paths.paths {
        for (method, present) in [
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ] {
            if !present || READS.iter().any(|(m, p, _)| *m == method && p == path) {
                continue;
            }
            assert!(
                covered.iter().any(|(m, p)| m == method && p == path),
                "{method} {path} changes state: call it in this test and check that it records an event"
            );
        }
    }

    // The chain still verifies, and the events say who did what.
    assert!(audit.verify().ok);
    let page = audit
        .query(&berth_audit::Query {
            actor: Some("admin".into()),
            action: Some("user.".into()),
            ..Default::default()
        })
        .expect("query");
    let actions: Vec<&str> = page.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["user.update", "user.create"]);
    let update = &page.events[0];
    assert_eq!(update.changes["role"].before, json!("member"));
    assert_eq!(update.changes["role"].after, json!("auditor"));
    assert!(
        update.origin.request_id.is_some(),
        "the request id is recorded"
    );
    assert_eq!(update.origin.source.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn denied_calls_and_failed_sign_ins_are_recorded() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let member = crate::auth_local::member(&server, &admin, "eve").await;
    let http = reqwest::Client::new();
    let (status, _) = call(
        &http,
        "GET",
        &format!("{}/api/v1/users", server.url),
        Some(&member),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &http,
        "POST",
        &format!("{}/api/v1/auth/cli/password", server.url),
        None,
        Some(json!({"username": "eve", "password": "not her password"})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = whoami(&http, &server.url, Some("berth_pat_0000")).await;
    assert_eq!(status, 401);

    let audit = server.app.audit();
    let denied = audit
        .query(&berth_audit::Query {
            outcome: Some(berth_audit::Outcome::Denied),
            ..Default::default()
        })
        .expect("query");
    assert_eq!(denied.events.len(), 1);
    assert_eq!(
        (
            denied.events[0].action.as_str(),
            denied.events[0].actor.name.as_str()
        ),
        ("user.list", "eve")
    );
    let failed = audit
        .query(&berth_audit::Query {
            outcome: Some(berth_audit::Outcome::Failure),
            ..Default::default()
        })
        .expect("query");
    let actions: Vec<(&str, &str)> = failed
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.reason.as_deref().unwrap_or("")))
        .collect();
    assert!(
        actions
            .iter()
            .any(|(a, r)| *a == "auth.login" && r.contains("wrong user name or password")),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|(a, _)| *a == "auth.token"),
        "{actions:?}"
    );
    // No secret reaches the log: the presented token is cut to a prefix.
    for event in &failed.events {
        let text = serde_json::to_string(event).expect("json");
        assert!(!text.contains("not her password"));
    }
}

#[tokio::test]
async fn a_bad_filter_is_named() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let http = reqwest::Client::new();
    for query in ["since=abc", "outcome=maybe", "limit=0"] {
        let (status, body) = call(
            &http,
            "GET",
            &format!("{}/api/v1/audit/events?{query}", server.url),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid", "{query}: {body}");
    }
    let (status, page) = call(
        &http,
        "GET",
        &format!("{}/api/v1/audit/events?actor=&action=auth.", server.url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !page["events"].as_array().expect("events").is_empty(),
        "an empty filter is no filter"
    );
}

#[tokio::test]
async fn the_export_refuses_a_bad_filter_before_it_starts() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let http = reqwest::Client::new();
    // Issue 27: the export answered 200 and then cut its body for a filter
    // the events refuse, and took a time past the documented int64.
    for (query, parameter) in [
        ("limit=0", "limit:"),
        ("limit=1001", "limit:"),
        ("until=9223372036854775808", "until:"),
        ("since=18446744073709551615", "since:"),
        ("before=9223372036854775808", "before:"),
    ] {
        for path in ["events", "export"] {
            let (status, body) = call(
                &http,
                "GET",
                &format!("{}/api/v1/audit/{path}?{query}", server.url),
                Some(&admin),
                None,
            )
            .await;
            assert_eq!(status, 422, "{path}?{query}: {body}");
            assert_eq!(body["error"]["code"], "invalid", "{path}?{query}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(parameter), "{path}?{query}: {message}");
        }
    }
    let refused = server
        .app
        .audit()
        .query(&berth_audit::Query {
            action: Some("audit.export".to_owned()),
            ..Default::default()
        })
        .expect("query");
    assert!(
        refused.events.is_empty(),
        "a refused export is not recorded as one: {:?}",
        refused.events
    );

    // The largest documented time is a time: the whole log, line by line.
    let response = http
        .get(format!(
            "{}/api/v1/audit/export?until=9223372036854775807",
            server.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.expect("the whole body");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("one event a line"))
        .collect();
    assert!(!lines.is_empty(), "the setup's events are exported");
    let seqs: Vec<u64> = lines.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let recorded = server
        .app
        .audit()
        .query(&berth_audit::Query {
            action: Some("audit.export".to_owned()),
            ..Default::default()
        })
        .expect("query");
    assert_eq!(recorded.events.len(), 1, "the export is recorded");
}

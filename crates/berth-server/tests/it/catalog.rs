//! Chart repositories: a real chart packaged and indexed by Helm, served
//! over loopback; added, listed, refreshed when a version is published,
//! kept through a failed fetch, removed. Admins only; each change audited.

use std::path::Path;

use berth_testkit::TestServer;
use berth_testkit::charts::{helm_run, serve_dir};
use serde_json::{Value, json};

use crate::auth_local::{call, member};

/// Packages version `version` of a small chart into `repo` and indexes it.
fn publish(work: &Path, repo: &Path, url: &str, version: &str) {
    let chart = work.join("redis");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: redis\ndescription: An in-memory store\nversion: {version}\nappVersion: \"7.4\"\n"),
    )
    .expect("Chart.yaml");
    std::fs::write(chart.join("values.yaml"), "replicas: 1\n").expect("values");
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
    )
    .expect("template");
    let chart = chart.to_str().expect("utf-8");
    let repo_dir = repo.to_str().expect("utf-8");
    helm_run(&["package", chart, "-d", repo_dir], work);
    helm_run(&["repo", "index", repo_dir, "--url", url], work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_repositories_are_added_refreshed_and_removed_by_admins() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let developer = member(&server, &admin, "dev").await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    let work = tempfile::tempdir().expect("work");
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    let base = serve_dir(repo.clone()).await;
    publish(work.path(), &repo, &base, "0.1.0");
    let add = |token: &str, body: Value| {
        let token = token.to_owned();
        let http = http.clone();
        let to = url("/api/v1/catalog/repositories");
        async move { call(&http, "POST", &to, Some(&token), Some(body)).await }
    };

    // Developers cannot.
    let (status, _) = add(&developer, json!({"name": "stable", "url": base})).await;
    assert_eq!(status, 403);
    // What is not a repository is not added, and says why.
    let (status, answer) = add(&admin, json!({"name": "gone", "url": "http://127.0.0.1:9"})).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot fetch http://127.0.0.1:9/index.yaml"),
        "{answer}"
    );
    let (status, answer) = add(
        &admin,
        json!({"name": "wrong", "url": format!("{base}/nothing-here")}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("404"),
        "{answer}"
    );
    let (status, answer) = add(&admin, json!({"name": "Bad_Name", "url": base})).await;
    assert_eq!(status, 422, "{answer}");
    // Which of its files the daemon reads is its own to say: a file outside
    // its credentials_dir (here it has none) is refused as forbidden.
    let (status, answer) = add(
        &admin,
        json!({"name": "half", "url": base, "username_file": "/etc/hostname"}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");

    let (status, added) = add(&admin, json!({"name": "stable", "url": base})).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["charts"], 1);
    assert_eq!(added["versions"], 1);
    let (status, _) = add(&admin, json!({"name": "stable", "url": base})).await;
    assert_eq!(status, 409);
    let (status, charts) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories/stable/charts"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(charts[0]["name"], "redis");
    assert_eq!(charts[0]["versions"][0]["version"], "0.1.0");
    assert_eq!(charts[0]["versions"][0]["app_version"], "7.4");
    assert_eq!(
        charts[0]["versions"][0]["urls"][0],
        format!("{base}/redis-0.1.0.tgz")
    );

    // A new version, found by a refresh, listed first.
    publish(work.path(), &repo, &base, "0.2.0");
    let (status, refreshed) = call(
        &http,
        "POST",
        &url("/api/v1/catalog/repositories/stable/refresh"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["versions"], 2);
    assert_eq!(refreshed["last_error"], Value::Null);
    let (_, charts) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories/stable/charts"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(charts[0]["versions"][0]["version"], "0.2.0");

    // A broken index: the failure is reported, the charts stay.
    std::fs::write(repo.join("index.yaml"), "<html>maintenance</html>").expect("break");
    let (status, failed) = call(
        &http,
        "POST",
        &url("/api/v1/catalog/repositories/stable/refresh"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{failed}");
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("is not a chart repository index"),
        "{failed}"
    );
    assert_eq!(failed["versions"], 2);
    let (_, listed) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (status, _) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories"),
        Some(&developer),
        None,
    )
    .await;
    assert_eq!(status, 403);

    let (status, _) = call(
        &http,
        "DELETE",
        &url("/api/v1/catalog/repositories/stable"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories/stable"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (_, events) = call(
        &http,
        "GET",
        &url("/api/v1/audit/events?action=catalog.repository."),
        Some(&admin),
        None,
    )
    .await;
    let seen: Vec<(String, String)> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for wanted in [
        ("catalog.repository.add", "success"),
        ("catalog.repository.add", "denied"),
        ("catalog.repository.add", "failure"),
        ("catalog.repository.refresh", "success"),
        ("catalog.repository.refresh", "failure"),
        ("catalog.repository.remove", "success"),
    ] {
        assert!(
            seen.iter().any(|(a, o)| a == wanted.0 && o == wanted.1),
            "{wanted:?} not in {seen:?}"
        );
    }
}

//! The daemon's contract with its operator: probes, metrics, the OpenAPI
//! document, the data-directory lock, configuration errors and shutdown.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::daemon::{BERTHD, start, start_in, wait_with_deadline};

#[tokio::test]
async fn serves_probes_metrics_version_and_openapi() {
    let daemon = start();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", daemon.url)).send();

    let health = get("/healthz").await.expect("healthz");
    assert_eq!(health.status(), 200);

    let ready = get("/readyz").await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let report: berth_core::ReadinessReport = ready.json().await.expect("readiness JSON");
    assert!(report.ready);
    assert!(report.components.contains_key("store"), "{report:?}");

    let version: berth_core::BuildInfo = get("/api/v1/version")
        .await
        .expect("version")
        .json()
        .await
        .expect("version JSON");
    assert_eq!(version, berth_core::BuildInfo::current());

    let doc: serde_json::Value = get("/api/v1/openapi.json")
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    check_openapi(&doc);

    let metrics = get("/metrics").await.expect("metrics");
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain"),
    );
    let text = metrics.text().await.expect("metrics text");
    let samples = parse_prometheus(&text);
    assert!(
        samples.iter().any(|(name, labels, value)| name
            == "http_server_request_duration_seconds_count"
            && labels.contains("http_route=\"/api/v1/version\"")
            && labels.contains("http_response_status_code=\"200\"")
            && *value >= 1.0),
        "no request count for /api/v1/version in:\n{text}"
    );
    assert!(
        samples
            .iter()
            .any(|(name, _, value)| name == "process_resident_memory_bytes" && *value > 0.0),
        "no process memory gauge in:\n{text}"
    );
    for name in [
        "berth_spaces_reconciles_total",
        "berth_spaces_kubernetes_writes_total",
        "berth_spaces_reconcile_errors_total",
        "berth_spaces_cached",
        "berth_apps_operations_total",
        "berth_apps_running",
    ] {
        assert!(
            samples.iter().any(|(n, _, _)| n == name),
            "no {name} in:\n{text}"
        );
    }
}

/// Structural checks of an OpenAPI 3.1 document: the system routes are
/// there, every operation documents its responses, and every `$ref` names a
/// schema that exists. (`{}` is a valid 3.1 schema, "any value", so the
/// document is not parsed into a stricter type.)
fn check_openapi(doc: &serde_json::Value) {
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/version",
        "/api/v1/openapi.json",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the document");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = operation["responses"].as_object();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
        }
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} names no schema");
    }
}

/// Parses the Prometheus text format into (name, labels, value), failing on
/// any line that is neither a comment nor a sample.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value.parse().expect("a sample value is a number");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            (name.to_owned(), labels.to_owned(), value)
        })
        .collect()
}

#[test]
fn a_second_daemon_on_the_same_data_directory_fails_fast() {
    let first = start();
    let mut second = Command::new(BERTHD)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&first.data_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("second berthd starts");
    let status =
        wait_with_deadline(&mut second, Duration::from_secs(10)).expect("second berthd exits");
    assert!(!status.success());
    let stderr = std::io::read_to_string(second.stderr.take().expect("stderr")).expect("utf-8");
    assert!(
        stderr.contains(&first.data_dir.display().to_string()),
        "the message names the directory: {stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.pid())),
        "the message names the holder: {stderr}"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero_then_the_directory_is_free() {
    let mut daemon = start();
    // An idle keep-alive connection must not hold shutdown up.
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{}/readyz", daemon.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    daemon.signal(Signal::SIGTERM).expect("signal");
    // The operator contract is an exit within 5 s of SIGTERM.
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("berthd exits");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(log.contains("store flushed"), "{log}");

    let data_dir = daemon.data_dir.clone();
    let mut again = start_in(&data_dir);
    again.signal(Signal::SIGINT).expect("signal");
    let status = again
        .wait_exit(Duration::from_secs(5))
        .expect("berthd exits");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_with_the_key_named() {
    let temp = tempfile::tempdir().expect("temp dir");
    let file = temp.path().join("berthd.toml");
    std::fs::write(&file, "[server]\nshutdown_grase = \"1s\"\n").expect("write config");

    for args in [
        vec!["serve", "--config", file.to_str().expect("utf-8 path")],
        vec!["config", "check", file.to_str().expect("utf-8 path")],
    ] {
        let out = Command::new(BERTHD)
            .args(&args)
            .env("BERTH_DATA_DIR", temp.path().join("data"))
            .output()
            .expect("berthd runs");
        assert!(!out.status.success(), "{args:?} accepted an unknown key");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("shutdown_grase"), "{args:?}: {stderr}");
        assert!(stderr.contains("berthd.toml"), "{args:?}: {stderr}");
    }
    // Refused before anything was created.
    assert!(!temp.path().join("data").exists());
}

#[test]
fn the_printed_default_configuration_checks_clean() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BERTHD)
        .args(["config", "default"])
        .output()
        .expect("berthd runs");
    assert!(out.status.success());
    let file = temp.path().join("default.toml");
    std::fs::write(&file, &out.stdout).expect("write config");
    let check = Command::new(BERTHD)
        .args(["config", "check"])
        .arg(&file)
        .output()
        .expect("berthd runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test]
async fn audit_verify_works_on_a_live_data_directory_and_on_a_stopped_one() {
    let mut daemon = start();
    let setup = daemon.setup_url().expect("setup link");
    let secret = setup.rsplit("token=").next().expect("secret");
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/setup", daemon.url))
        .json(&serde_json::json!({"setup_token": secret, "username": "admin", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("setup");
    assert_eq!(answer.status(), 201);

    let live = Command::new(BERTHD)
        .args(["audit", "verify", "--json", "--data-dir"])
        .arg(&daemon.data_dir)
        .output()
        .expect("berthd runs");
    let stderr = String::from_utf8_lossy(&live.stderr);
    assert!(live.status.success(), "{stderr}");
    assert!(stderr.contains("verifying a snapshot"), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&live.stdout).expect("json");
    assert_eq!(result["ok"], true);
    assert!(
        result["events"].as_u64().expect("events") >= 2,
        "the setup link and the setup: {result}"
    );

    daemon.signal(Signal::SIGTERM).expect("signal");
    assert!(
        daemon
            .wait_exit(Duration::from_secs(5))
            .expect("exit")
            .success()
    );
    let stopped = Command::new(BERTHD)
        .args(["audit", "verify", "--data-dir"])
        .arg(&daemon.data_dir)
        .output()
        .expect("berthd runs");
    let stdout = String::from_utf8_lossy(&stopped.stdout);
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(
        stdout.contains("1 signed checkpoints") || stdout.contains("signed checkpoints"),
        "{stdout}"
    );

    let wrong_key = Command::new(BERTHD)
        .args([
            "audit",
            "verify",
            "--public-key",
            &"ab".repeat(32),
            "--data-dir",
        ])
        .arg(&daemon.data_dir)
        .output()
        .expect("berthd runs");
    assert!(
        !wrong_key.status.success(),
        "checkpoints signed by another key are refused"
    );
}

/// With no cluster configured, the daemon runs the embedded Kubernetes API,
/// writes a kubeconfig for it, and keeps its state across a restart.
#[tokio::test]
async fn the_embedded_cluster_serves_and_survives_a_restart() {
    let mut daemon = start();
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", daemon.url))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ready["components"]["kubernetes"]["status"], "ready",
        "{ready}"
    );
    let kubeconfig =
        std::fs::read_to_string(daemon.data_dir.join("kubeconfig")).expect("kubeconfig written");
    let server = |config: &str| {
        config
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("a server URL")
            .to_owned()
    };
    let api = server(&kubeconfig);
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{api}/api/v1/namespaces"))
        .json(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kept-across-restarts"}}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);

    daemon.signal(Signal::SIGTERM).expect("signal");
    assert!(
        daemon
            .wait_exit(Duration::from_secs(5))
            .expect("exit")
            .success()
    );
    let again = start_in(&daemon.data_dir);
    let api =
        server(&std::fs::read_to_string(again.data_dir.join("kubeconfig")).expect("kubeconfig"));
    let kept = http
        .get(format!("{api}/api/v1/namespaces/kept-across-restarts"))
        .send()
        .await
        .expect("get");
    assert_eq!(kept.status(), 200);
}

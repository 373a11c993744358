//! The API document tells the truth: schemathesis runs every operation of
//! `/api/v1/openapi.json` against a fresh `berthd`, with every phase and
//! every check, as an admin and then as a member (with a second member as
//! its peer, so one member reading another's objects is caught), and fails
//! on any answer the document does not allow.
//!
//! The tool is pinned in `tests/contract/requirements.txt` and installed by
//! `cargo xtask setup` into `target/tools/schemathesis`; its settings, and
//! the few checks switched off with why, are `tests/contract/schemathesis.toml`.
//! Before the runs the test makes what operations need to reach their
//! logic: a space, a chart repository served over loopback, a catalog item,
//! an application and dev sessions, and the two members. docs/testing.md
//! says how to run it for longer (`BERTH_TEST_CONTRACT_SECONDS`,
//! `BERTH_TEST_CONTRACT_SEED`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::BERTHD;

const PASSWORD: &str = "correct horse battery staple";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The installed schemathesis; the test is skipped without it, except in CI.
fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("BERTH_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools/schemathesis/bin/schemathesis"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "schemathesis is missing at {}: CI runs `cargo xtask setup` first",
        path.display()
    );
    eprintln!(
        "SKIPPED the contract check: schemathesis is not installed at {}; \
         run `cargo xtask setup` to install it (CI never skips)",
        path.display()
    );
    None
}

/// Seconds for each run, from `BERTH_TEST_CONTRACT_SECONDS` (for each run) or
/// the defaults that keep the check within about three minutes.
fn seconds(default: u64) -> String {
    std::env::var("BERTH_TEST_CONTRACT_SECONDS").unwrap_or_else(|_| default.to_string())
}

/// Whether the run `name` is wanted: `BERTH_TEST_CONTRACT_RUNS` names some
/// (`admin`, `members`); both by default.
fn wanted(name: &str) -> bool {
    std::env::var("BERTH_TEST_CONTRACT_RUNS")
        .map(|runs| runs.split(',').any(|r| r.trim() == name))
        .unwrap_or(true)
}

struct Api<'r> {
    runtime: &'r tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
}

impl Api<'_> {
    /// Calls `method path` with `token`; answers the status and JSON body.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(
            method.parse().expect("a method"),
            format!("{}{path}", self.url),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.runtime.block_on(async {
            let response = request.send().await.expect("berthd answers");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// As `call`, and fails unless the answer is `want`.
    fn expect(&self, want: u16, method: &str, path: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.call(method, path, Some(token), Some(body));
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    }

    fn sign_in(&self, username: &str) -> String {
        let (status, answer) = self.call(
            "POST",
            "/api/v1/auth/cli/password",
            None,
            Some(json!({"username": username, "password": PASSWORD})),
        );
        assert_eq!(status, 201, "{username} signs in: {answer}");
        answer["secret"].as_str().expect("a token").to_owned()
    }
}

/// One schemathesis run against `url` with `auth` (a TOML `[auth]` section)
/// added to the shared settings; fails the test with schemathesis' report,
/// which ends with how to reproduce each failure.
fn run(tool: &Path, url: &str, name: &str, auth: &str, seconds: &str) {
    if !wanted(name) {
        return;
    }
    let dir = root().join("target/contract").join(name);
    std::fs::create_dir_all(&dir).expect("a folder for the run");
    let shared = std::fs::read_to_string(root().join("tests/contract/schemathesis.toml"))
        .expect("tests/contract/schemathesis.toml");
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, format!("{shared}\n{auth}")).expect("write the settings");
    let mut command = Command::new(tool);
    command
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{url}/api/v1/openapi.json"))
        // Every check is on in the settings (`--checks all` here would
        // override the operations' exceptions there).
        .args(["--max-time", seconds, "--no-color"])
        .args(["--max-examples", "40"])
        // Where `st replay` finds what the run recorded.
        .current_dir(&dir);
    if let Ok(seed) = std::env::var("BERTH_TEST_CONTRACT_SEED") {
        command.args(["--seed", &seed]);
    }
    eprintln!("contract run {name}: {command:?}");
    let started = Instant::now();
    let out = command.output().expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Kept whole beside the run's settings; printed whole on a failure.
    std::fs::write(dir.join("report.txt"), &report).expect("write the report");
    assert!(
        out.status.success(),
        "schemathesis found answers the API document does not allow ({name}, {}):\n{report}",
        out.status
    );
    let summary = report.lines().rev().take(12).collect::<Vec<_>>();
    eprintln!(
        "contract run {name}: passed in {:.0?}\n{}",
        started.elapsed(),
        summary.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_operation_keeps_to_the_api_document() {
    let Some(tool) = schemathesis() else {
        return;
    };
    // A chart repository for the catalog, over loopback, from a runtime of
    // its own; berthd installs with the tests' Helm.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let work = tempfile::tempdir().expect("work");
    let charts = work.path().join("charts");
    std::fs::create_dir_all(&charts).expect("charts");
    let charts_url = runtime.block_on(berth_testkit::charts::serve_dir(charts.clone()));
    berth_testkit::charts::publish_demo(work.path(), &charts, &charts_url, "0.1.0");
    let config = work.path().join("berthd.toml");
    std::fs::write(
        &config,
        format!(
            // Sign-in limits out of the way: the runs sign in again after
            // every logout, and try passwords by the thousand.
            "[apps]\nhelm = {:?}\n\n[auth]\nlogin_attempts_per_account = 1000000\nlogin_attempts_per_source = 1000000\n",
            berth_testkit::helm().to_str().expect("utf-8 path")
        ),
    )
    .expect("config");
    // Every URL the runs make the daemon fetch (a repository's index, a
    // chart) goes to a proxy that is not there, unless it is on loopback:
    // the daemon under test reaches nothing but this machine.
    let nowhere = "http://127.0.0.1:9";
    let daemon = berth_testkit::DaemonProcess::start_with_env(
        Path::new(BERTHD),
        &work.path().join("data"),
        &["--config", config.to_str().expect("utf-8 path")],
        &[
            ("HTTP_PROXY", nowhere),
            ("HTTPS_PROXY", nowhere),
            ("ALL_PROXY", nowhere),
            ("http_proxy", nowhere),
            ("https_proxy", nowhere),
            ("all_proxy", nowhere),
            ("NO_PROXY", "127.0.0.0/8,localhost,::1"),
            ("no_proxy", "127.0.0.0/8,localhost,::1"),
        ],
    )
    .expect("berthd starts");
    let api = Api {
        runtime: &runtime,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client"),
        url: daemon.url.clone(),
    };

    let setup = daemon
        .setup_url()
        .expect("a fresh daemon prints a setup link");
    let secret = setup.rsplit("token=").next().expect("the setup secret");
    let (status, answer) = api.call(
        "POST",
        "/api/v1/setup",
        None,
        Some(json!({"setup_token": secret, "username": "admin", "password": PASSWORD})),
    );
    assert_eq!(status, 201, "setup: {answer}");
    let admin = api.sign_in("admin");
    for member in ["alice", "bob"] {
        api.expect(
            201,
            "POST",
            "/api/v1/users",
            &admin,
            json!({"username": member, "password": PASSWORD}),
        );
    }
    // Their first sign-in makes their personal spaces.
    for member in ["alice", "bob"] {
        api.sign_in(member);
    }
    api.expect(
        201,
        "POST",
        "/api/v1/spaces",
        &admin,
        json!({"name": "contract"}),
    );
    api.expect(
        201,
        "POST",
        "/api/v1/catalog/repositories",
        &admin,
        json!({"name": "demo", "url": charts_url}),
    );
    api.expect(
        201,
        "POST",
        "/api/v1/catalog/items",
        &admin,
        json!({"name": "demo", "repository": "demo", "chart": "demo"}),
    );
    api.expect(
        202,
        "POST",
        "/api/v1/spaces/contract/apps",
        &admin,
        json!({"item": "demo"}),
    );
    api.expect(
        201,
        "POST",
        "/api/v1/sessions",
        &admin,
        json!({"space": "contract"}),
    );

    run(
        &tool,
        &daemon.url,
        "admin",
        &format!(
            r#"
[auth]
auto-signup = false

# Signed in again whenever a run's logout or revocation ends the token.
[auth.dynamic.openapi.bearer]
path = "/api/v1/auth/cli/password"
payload = {{ username = "admin", password = "{PASSWORD}" }}
extract_selector = "/secret"
"#
        ),
        &seconds(80),
    );

    // The admin's run may have disabled the members or changed their roles,
    // and deleted or changed what the first run had: the members are
    // members again, and what alice's run starts from is new, a space of
    // hers with an application (from a repository and item of its own) and
    // a session in it.
    let admin = api.sign_in("admin");
    let (_, users) = api.call("GET", "/api/v1/users", Some(&admin), None);
    for user in users.as_array().expect("users") {
        if ["alice", "bob"].contains(&user["username"].as_str().unwrap_or_default()) {
            api.expect(
                200,
                "PATCH",
                &format!("/api/v1/users/{}", user["id"].as_str().expect("an id")),
                &admin,
                json!({"disabled": false, "role": "member"}),
            );
        }
    }
    let alice = api.sign_in("alice");
    api.expect(
        201,
        "POST",
        "/api/v1/spaces",
        &admin,
        json!({"name": "alice-contract", "owner": "alice"}),
    );
    // A repository and an item the admin's run never saw, either.
    api.expect(
        201,
        "POST",
        "/api/v1/catalog/repositories",
        &admin,
        json!({"name": "members", "url": charts_url}),
    );
    api.expect(
        201,
        "POST",
        "/api/v1/catalog/items",
        &admin,
        json!({"name": "members-demo", "repository": "members", "chart": "demo"}),
    );
    api.expect(
        202,
        "POST",
        "/api/v1/spaces/alice-contract/apps",
        &alice,
        json!({"item": "members-demo", "name": "demo"}),
    );
    api.expect(
        201,
        "POST",
        "/api/v1/sessions",
        &alice,
        json!({"space": "alice-contract"}),
    );

    let member = |name: &str| {
        json!({"name": name, "loginEndpointAuth": {
            "endpoint": "/api/v1/auth/cli/password", "verb": "POST",
            "contentType": "application/json",
            "payloadUserPwd": {"username": name, "password": PASSWORD,
                "usernameField": "username", "passwordField": "password"},
            "token": {"extractFrom": "body", "extractSelector": "/secret",
                "sendIn": "header", "sendName": "Authorization",
                "sendTemplate": "Bearer {token}"}}})
    };
    let members = root().join("target/contract/members.json");
    std::fs::create_dir_all(members.parent().expect("a folder")).expect("target/contract");
    std::fs::write(
        &members,
        json!({"auth": [member("alice"), member("bob")]}).to_string(),
    )
    .expect("the members' sign-in");
    run(
        &tool,
        &daemon.url,
        "members",
        &format!(
            r#"
[auth]
auto-signup = false

# alice calls; bob is her peer, who must not see what is hers.
[auth.wfc]
path = {:?}
user = "alice"
peers = ["alice", "bob"]
"#,
            members.to_str().expect("utf-8 path")
        ),
        &seconds(60),
    );
}

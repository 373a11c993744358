//! No secret reaches the daemon's log, at any level: passwords, the setup
//! secret, API tokens, session cookies, the OIDC client secret, ID tokens.

use std::path::Path;

use serde_json::json;

use crate::daemon::BERTHD;

#[derive(serde::Serialize)]
struct Config {
    log: serde_json::Value,
    auth: berth_auth::config::AuthConfig,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_the_log_even_at_trace_level() {
    let provider = berth_testkit::OidcProvider::start_standard().expect("identity provider");
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = provider.auth_config(dir.path()).expect("config");
    let config = dir.path().join("berthd.toml");
    let text = toml::to_string(&Config {
        log: json!({"format": "json", "filter": "trace"}),
        auth,
    })
    .expect("toml");
    std::fs::write(&config, text).expect("write config");
    let mut daemon = berth_testkit::DaemonProcess::start_in(
        Path::new(BERTHD),
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf-8")],
    )
    .expect("berthd starts");
    let setup_url = daemon.setup_url().expect("setup link");
    let setup_secret = setup_url
        .rsplit("token=")
        .next()
        .expect("secret")
        .to_owned();
    let password = "a-password-that-must-never-be-logged";
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let base = daemon.url.clone();

    let response = http
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"setup_token": setup_secret, "username": "admin", "password": password}))
        .send()
        .await
        .expect("setup");
    assert_eq!(response.status(), 201);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("session cookie");
    let made: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/cli/password"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("cli login")
        .json()
        .await
        .expect("json");
    let token = made["secret"].as_str().expect("token").to_owned();
    let whoami = reqwest::Client::new()
        .get(format!("{base}/api/v1/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("whoami");
    assert_eq!(whoami.status(), 200);
    // A wrong password is logged as a failure, never with the password.
    let wrong = "wrong-password-also-never-logged";
    let refused = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/cli/password"))
        .json(&json!({"username": "admin", "password": wrong}))
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), 401);

    // Single sign-on with the real provider: the client secret and the ID
    // token travel, and must not be logged either.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let start = browser
        .get(format!("{base}/auth/oidc/login"))
        .send()
        .await
        .expect("sso start");
    let to_provider = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let callback = provider
        .authorize(&to_provider, "alice")
        .await
        .expect("provider sign-in");
    let back = browser.get(&callback).send().await.expect("callback");
    assert_eq!(back.status(), 303);

    daemon
        .signal(nix::sys::signal::Signal::SIGTERM)
        .expect("signal");
    assert!(
        daemon
            .wait_exit(std::time::Duration::from_secs(5))
            .expect("exit")
            .success()
    );
    let output = daemon.log_text();
    // The setup link is printed on stdout on purpose, outside the log.
    let lines: Vec<&str> = output.lines().filter(|l| l.starts_with('{')).collect();
    let log = lines.join("\n");
    assert!(
        lines.len() > 20,
        "the trace log was written: {} lines",
        lines.len()
    );
    let code = callback
        .split("code=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .expect("code");
    for (what, secret) in [
        ("password", password),
        ("wrong password", wrong),
        ("setup secret", setup_secret.as_str()),
        ("API token", token.as_str()),
        ("session cookie", cookie.as_str()),
        ("OIDC client secret", berth_testkit::OIDC_CLIENT_SECRET),
        ("authorization code", code),
    ] {
        assert!(!log.contains(secret), "the {what} appears in the log");
    }
    // ID tokens are JWTs: base64url JSON headers start with "eyJ".
    assert!(
        !lines.iter().any(|l| l.contains("eyJ")),
        "something like a JWT appears in the log"
    );
}

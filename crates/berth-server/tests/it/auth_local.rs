//! Local accounts, the setup link, sessions, CSRF, tokens and users.

use std::sync::Arc;
use std::time::Duration;

use berth_auth::config::AuthConfig;
use berth_core::ManualClock;
use berth_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method.parse().expect("method"), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Signs `username` in with the test password, keeping the session cookie
/// in `http`.
pub async fn sign_in(http: &reqwest::Client, base: &str, username: &str) -> (StatusCode, Value) {
    call(
        http,
        "POST",
        &format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"username": username, "password": PASSWORD})),
    )
    .await
}

/// `GET /api/v1/whoami` on the server at `base`, as `http` (its cookies) or
/// with `token`.
pub async fn whoami(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    call(http, "GET", &format!("{base}/api/v1/whoami"), token, None).await
}

/// The API as callers with tokens see it, paths under `base`.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    /// Paths under the server's URL and `prefix` (`/api/v1`, or none).
    pub fn new(server: &TestServer, prefix: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("{}{prefix}", server.url),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(
            &self.http,
            method,
            &format!("{}{path}", self.base),
            Some(token),
            body,
        )
        .await
    }
}

/// A member with a token, made by the admin.
pub async fn member(server: &TestServer, admin: &str, name: &str) -> String {
    let http = reqwest::Client::new();
    let (status, body) = call(
        &http,
        "POST",
        &format!("{}/api/v1/users", server.url),
        Some(admin),
        Some(json!({"username": name, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &http,
        "POST",
        &format!("{}/api/v1/auth/cli/password", server.url),
        None,
        Some(json!({"username": name, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["secret"].as_str().expect("secret").to_owned()
}

#[tokio::test]
async fn the_setup_link_works_once_and_only_with_its_secret() {
    let server = TestServer::start().await.expect("server");
    let auth = server.app.auth();
    let (secret, _) = auth
        .issue_setup_secret()
        .expect("issue")
        .expect("setup required");
    let http = client();
    let url = format!("{}/api/v1/setup", server.url);
    let (status, methods) = call(
        &http,
        "GET",
        &format!("{}/api/v1/auth/methods", server.url),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), methods["setup_required"].as_bool()),
        (200, Some(true))
    );

    let (status, _) = call(
        &http,
        "POST",
        &url,
        None,
        Some(json!({"setup_token": "0".repeat(64), "username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = call(
        &http,
        "POST",
        &url,
        None,
        Some(json!({"setup_token": secret, "username": "admin", "password": "short"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("password")
    );
    let (status, body) = call(
        &http,
        "POST",
        &url,
        None,
        Some(json!({"setup_token": secret, "username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    // The session cookie works.
    let (status, me) = whoami(&http, &server.url, None).await;
    assert_eq!(
        (status.as_u16(), me["via"].as_str()),
        (200, Some("session"))
    );
    // Used once: gone.
    let (status, _) = call(
        &client(),
        "POST",
        &url,
        None,
        Some(json!({"setup_token": secret, "username": "admin2", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        auth.issue_setup_secret().expect("issue").is_none(),
        "no setup once a user exists"
    );
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_to_change_anything() {
    let server = TestServer::start().await.expect("server");
    server.admin_token().await.expect("admin");
    let http = client();
    let (status, me) = sign_in(&http, &server.url, "admin").await;
    assert_eq!(status, 200, "{me}");
    let csrf = me["csrf_token"].as_str().expect("csrf").to_owned();
    let tokens = format!("{}/api/v1/tokens", server.url);
    let (status, _) = call(&http, "POST", &tokens, None, Some(json!({"name": "x"}))).await;
    assert_eq!(status, 403, "a change without the CSRF header is refused");
    let response = http
        .post(&tokens)
        .header("x-csrf-token", "wrong")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    let response = http
        .post(&tokens)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    // Reads need no CSRF token.
    let (status, _) = call(&http, "GET", &tokens, None, None).await;
    assert_eq!(status, 200);
    // Logout ends the session.
    let response = http
        .post(format!("{}/api/v1/auth/logout", server.url))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    let (status, _) = whoami(&http, &server.url, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_account() {
    let config = AuthConfig {
        login_attempts_per_account: 3,
        ..AuthConfig::default()
    };
    let server = TestServer::start_with(config).await.expect("server");
    server.admin_token().await.expect("admin");
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/auth/cli/password", server.url);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = call(
            &http,
            "POST",
            &url,
            None,
            Some(json!({"username": "admin", "password": "not the password"})),
        )
        .await;
        statuses.push(status.as_u16());
    }
    // admin_token() signed in once already: three attempts a minute in all.
    assert_eq!(statuses, vec![401, 401, 429, 429]);
    // Even the right password waits now.
    let (status, _) = call(
        &http,
        "POST",
        &url,
        None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn tokens_are_scoped_listed_and_revoked_and_others_tokens_are_invisible() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let alice = member(&server, &admin, "alice").await;
    let bob = member(&server, &admin, "bob").await;
    let http = reqwest::Client::new();
    let tokens = format!("{}/api/v1/tokens", server.url);

    let (status, made) = call(
        &http,
        "POST",
        &tokens,
        Some(&alice),
        Some(json!({"name": "ci", "scopes": ["read"], "expires_in_days": 7})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().expect("secret");
    assert!(secret.starts_with("berth_pat_"));
    let id = made["token"]["id"].as_str().expect("id").to_owned();
    assert!(
        !made["token"].to_string().contains(secret),
        "the view never carries the secret"
    );

    // A read-only token reads but cannot change anything.
    let (status, _) = call(&http, "GET", &tokens, Some(secret), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &http,
        "POST",
        &tokens,
        Some(secret),
        Some(json!({"name": "more"})),
    )
    .await;
    assert_eq!(status, 403);

    // Bob cannot see or revoke Alice's token: not found.
    let (_, listed) = call(&http, "GET", &tokens, Some(&bob), None).await;
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .all(|t| t["username"] == "bob")
    );
    let (status, _) = call(&http, "DELETE", &format!("{tokens}/{id}"), Some(&bob), None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &http,
        "GET",
        &format!("{tokens}?all=true"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // The admin sees everyone's.
    let (_, all) = call(
        &http,
        "GET",
        &format!("{tokens}?all=true"),
        Some(&admin),
        None,
    )
    .await;
    assert!(
        all.as_array()
            .expect("list")
            .iter()
            .any(|t| t["id"] == id.as_str())
    );

    let (status, _) = call(
        &http,
        "DELETE",
        &format!("{tokens}/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&http, "GET", &tokens, Some(secret), None).await;
    assert_eq!(status, 401, "a revoked token stops working at once");
}

#[tokio::test]
async fn disabling_a_user_revokes_their_sessions_and_tokens_at_once() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let alice = member(&server, &admin, "alice").await;
    let http = reqwest::Client::new();
    let session = client();
    let (status, _) = sign_in(&session, &server.url, "alice").await;
    assert_eq!(status, 200);
    let (_, users) = call(
        &http,
        "GET",
        &format!("{}/api/v1/users", server.url),
        Some(&admin),
        None,
    )
    .await;
    let id = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "alice")
        .expect("alice")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, member_view) = call(
        &http,
        "GET",
        &format!("{}/api/v1/users", server.url),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 403, "{member_view}");

    let (status, updated) = call(
        &http,
        "PATCH",
        &format!("{}/api/v1/users/{id}", server.url),
        Some(&admin),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), updated["disabled"].as_bool()),
        (200, Some(true))
    );
    let (status, _) = whoami(&http, &server.url, Some(&alice)).await;
    assert_eq!(status, 401);
    let (status, _) = whoami(&session, &server.url, None).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &http,
        "POST",
        &format!("{}/api/v1/auth/cli/password", server.url),
        None,
        Some(json!({"username": "alice", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn sessions_end_after_idleness_and_tokens_after_expiry() {
    let clock = ManualClock::starting_now();
    let config = AuthConfig {
        session_idle_timeout: Duration::from_secs(600),
        ..AuthConfig::default()
    };
    let server = TestServer::start_full(config, Arc::new(clock.clone()))
        .await
        .expect("server");
    let admin = server.admin_token().await.expect("admin");
    let http = client();
    let plain = reqwest::Client::new();
    sign_in(&http, &server.url, "admin").await;
    let (_, made) = call(
        &plain,
        "POST",
        &format!("{}/api/v1/tokens", server.url),
        Some(&admin),
        Some(json!({"name": "short", "expires_in_days": 1})),
    )
    .await;
    let short = made["secret"].as_str().expect("secret").to_owned();
    assert_eq!(whoami(&http, &server.url, None).await.0, 200);

    clock.advance(Duration::from_secs(601));
    assert_eq!(
        whoami(&http, &server.url, None).await.0,
        401,
        "idle session ended"
    );
    assert_eq!(whoami(&plain, &server.url, Some(&short)).await.0, 200);
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(
        whoami(&plain, &server.url, Some(&short)).await.0,
        401,
        "expired token refused"
    );
}

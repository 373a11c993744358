//! Single sign-on against a real OpenID Connect provider (the certified
//! `oidc-provider`, see tests/oidc): console sign-in with PKCE, replayed
//! state, group mapping, key rotation, the device grant, the CLI loopback
//! flow, and ID tokens that must be refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_testkit::{OidcProvider, TestServer};
use serde_json::{Value, json};

use crate::auth_local::{call, client, whoami};

struct Sso {
    provider: OidcProvider,
    server: TestServer,
    _dir: tempfile::TempDir,
}

async fn start() -> Sso {
    let provider = OidcProvider::start_standard().expect("identity provider starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = provider.auth_config(dir.path()).expect("config");
    let server = TestServer::start_with(config).await.expect("server");
    Sso {
        provider,
        server,
        _dir: dir,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// Signs `login` in to the console; returns the browser (with its cookie)
/// and the callback URL it used.
async fn console_sign_in(sso: &Sso, login: &str) -> (reqwest::Client, String) {
    let browser = no_redirects();
    let start = browser
        .get(format!(
            "{}/auth/oidc/login?return_to=/tokens",
            sso.server.url
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(start.status(), 303);
    let callback = sso
        .provider
        .authorize(&location(&start), login)
        .await
        .expect("provider sign-in");
    let back = browser.get(&callback).send().await.expect("callback");
    assert_eq!(back.status(), 303, "{:?}", back.text().await);
    assert_eq!(location(&back), "/tokens");
    (browser, callback)
}

#[tokio::test]
async fn console_sign_in_maps_groups_and_a_replayed_state_is_refused() {
    let sso = start().await;
    let (browser, callback) = console_sign_in(&sso, "alice").await;
    let (status, me) = whoami(&browser, &sso.server.url, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["role"], "admin", "berth-admins maps to admin");
    assert_eq!(me["user"]["kind"], "sso");
    assert_eq!(me["user"]["groups"], json!(["berth-admins", "dev"]));

    let replay = no_redirects().get(&callback).send().await.expect("replay");
    assert_eq!(replay.status(), 401, "a state is single-use");

    // Carol's name is normalized; her groups make her a member.
    let (carol, _) = console_sign_in(&sso, "carol").await;
    let (_, me) = whoami(&carol, &sso.server.url, None).await;
    assert_eq!(
        (me["user"]["username"].as_str(), me["user"]["role"].as_str()),
        (Some("carol-smith"), Some("member"))
    );
}

#[tokio::test]
async fn a_missing_groups_claim_keeps_the_role_and_is_flagged() {
    let sso = start().await;
    let auth = sso.server.app.auth();
    let mut claims = berth_auth::oidc::Claims {
        issuer: sso.provider.issuer.clone(),
        subject: "dave".to_owned(),
        username: Some("dave".to_owned()),
        email: Some("dave@example.com".to_owned()),
        email_verified: Some(true),
        name: None,
        groups: Some(vec!["berth-admins".to_owned()]),
    };
    assert_eq!(
        auth.sign_in_sso(&claims, &berth_audit::Origin::default())
            .await
            .expect("first sign-in")
            .role,
        berth_core::identity::Role::Admin
    );
    claims.groups = None;
    let again = auth
        .sign_in_sso(&claims, &berth_audit::Origin::default())
        .await
        .expect("second sign-in");
    assert_eq!(
        again.role,
        berth_core::identity::Role::Admin,
        "no groups claim: no demotion"
    );
    assert!(again.groups_claim_missing);
    claims.groups = Some(vec![]);
    let demoted = auth
        .sign_in_sso(&claims, &berth_audit::Origin::default())
        .await
        .expect("third sign-in");
    assert_eq!(
        demoted.role,
        berth_core::identity::Role::Member,
        "an explicit empty list does demote"
    );
    assert!(!demoted.groups_claim_missing);
}

#[tokio::test]
async fn sign_in_keeps_working_after_the_provider_rotates_its_keys() {
    let sso = start().await;
    console_sign_in(&sso, "alice").await;
    let kid = sso.provider.rotate_keys().await.expect("rotate");
    assert!(!kid.is_empty());
    let (browser, _) = console_sign_in(&sso, "alice").await;
    let (status, _) = whoami(&browser, &sso.server.url, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_device_grant_gives_the_cli_a_berth_token() {
    let sso = start().await;
    let http = reqwest::Client::new();
    let (status, started) = call(
        &http,
        "POST",
        &format!("{}/api/v1/auth/device", sso.server.url),
        None,
        None,
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let uri = started["verification_uri_complete"]
        .as_str()
        .expect("complete URI")
        .to_owned();
    let login_id = started["login_id"].as_str().expect("login id").to_owned();
    let poll = format!("{}/api/v1/auth/device/poll", sso.server.url);
    let (_, first) = call(
        &http,
        "POST",
        &poll,
        None,
        Some(json!({"login_id": login_id})),
    )
    .await;
    assert_eq!(first["status"], "pending");
    sso.provider
        .approve_device(&uri, "alice")
        .await
        .expect("approve");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let token = loop {
        let (_, answer) = call(
            &http,
            "POST",
            &poll,
            None,
            Some(json!({"login_id": login_id})),
        )
        .await;
        match answer["status"].as_str() {
            Some("done") => {
                break answer["token"]["secret"]
                    .as_str()
                    .expect("secret")
                    .to_owned();
            }
            Some("pending") => {}
            other => panic!("device sign-in ended with {other:?}: {answer}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "device sign-in did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        token.starts_with("berth_cli_"),
        "a Berth token, not the provider's"
    );
    let (status, me) = whoami(&http, &sso.server.url, Some(&token)).await;
    assert_eq!(
        (status.as_u16(), me["user"]["username"].as_str()),
        (200, Some("alice"))
    );
    // Handed out once.
    let (status, _) = call(
        &http,
        "POST",
        &poll,
        None,
        Some(json!({"login_id": login_id})),
    )
    .await;
    assert_eq!(status, 404);
}

/// Alice signs in through the CLI's loopback flow in `browser`; returns where
/// Berth sends the browser back to the CLI.
async fn cli_loopback_sign_in(
    sso: &Sso,
    browser: &reqwest::Client,
    challenge: &openidconnect::PkceCodeChallenge,
) -> String {
    let start = browser
        .get(format!(
            "{}/auth/cli/login?port=54321&state=cli-state&code_challenge={}",
            sso.server.url,
            challenge.as_str()
        ))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), 303);
    let callback = sso
        .provider
        .authorize(&location(&start), "alice")
        .await
        .expect("provider sign-in");
    location(&browser.get(&callback).send().await.expect("callback"))
}

/// The `code` parameter of a redirect to the CLI.
fn code_in(to_cli: &str) -> String {
    to_cli
        .split("code=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .expect("code")
        .to_owned()
}

#[tokio::test]
async fn the_cli_loopback_flow_needs_the_right_verifier() {
    let sso = start().await;
    let verifier = "a-verifier-with-enough-entropy-0123456789-abcdefghij";
    let challenge = openidconnect::PkceCodeChallenge::from_code_verifier_sha256(
        &openidconnect::PkceCodeVerifier::new(verifier.to_owned()),
    );
    let browser = no_redirects();
    let to_cli = cli_loopback_sign_in(&sso, &browser, &challenge).await;
    assert!(
        to_cli.starts_with("http://127.0.0.1:54321/callback?code="),
        "{to_cli}"
    );
    assert!(to_cli.ends_with("&state=cli-state"), "{to_cli}");
    let code = code_in(&to_cli);
    let http = reqwest::Client::new();
    let exchange = format!("{}/api/v1/auth/cli/exchange", sso.server.url);
    let (status, _) = call(
        &http,
        "POST",
        &exchange,
        None,
        Some(json!({"code": code, "code_verifier": "short"})),
    )
    .await;
    assert_eq!(status, 422, "a malformed verifier is named, not a crash");
    let wrong = "b".repeat(50);
    let (status, _) = call(
        &http,
        "POST",
        &exchange,
        None,
        Some(json!({"code": code, "code_verifier": wrong})),
    )
    .await;
    assert_eq!(status, 401);
    // A wrong verifier burns the code.
    let (status, _) = call(
        &http,
        "POST",
        &exchange,
        None,
        Some(json!({"code": code, "code_verifier": verifier})),
    )
    .await;
    assert_eq!(status, 401);

    // A fresh sign-in with the right verifier gets a token.
    let to_cli = cli_loopback_sign_in(&sso, &browser, &challenge).await;
    let code = code_in(&to_cli);
    let (status, made) = call(
        &http,
        "POST",
        &exchange,
        None,
        Some(json!({"code": code, "code_verifier": verifier})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert!(
        made["secret"]
            .as_str()
            .expect("secret")
            .starts_with("berth_cli_")
    );
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn crafted_id_tokens_are_refused_for_the_right_reason_and_the_dry_run_maps_good_ones() {
    let sso = start().await;
    let (admin_browser, _) = console_sign_in(&sso, "alice").await;
    let (_, me) = whoami(&admin_browser, &sso.server.url, None).await;
    let csrf = me["csrf_token"].as_str().expect("csrf").to_owned();
    let issuer = sso.provider.issuer.clone();
    let good = json!({
        "iss": issuer, "aud": "berth", "sub": "erin", "iat": now(), "exp": now() + 300,
        "preferred_username": "erin", "email": "erin@example.com", "email_verified": true, "groups": ["dev"]
    });
    let preview = |token: String, rules: Option<Value>| {
        let browser = admin_browser.clone();
        let url = format!("{}/api/v1/auth/mapping/preview", sso.server.url);
        let csrf = csrf.clone();
        async move {
            let response = browser
                .post(url)
                .header("x-csrf-token", csrf)
                .json(&json!({"id_token": token, "rules": rules}))
                .send()
                .await
                .expect("preview");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let token = sso.provider.sign(&good).await.expect("sign");
    let (status, result) = preview(
        token.clone(),
        Some(json!({"admin_groups": ["dev"], "auditor_groups": []})),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        (
            result["username"].as_str(),
            result["role"].as_str(),
            result["allowed"].as_bool()
        ),
        (Some("erin"), Some("admin"), Some(true))
    );
    let (_, saved_rules) = preview(token, None).await;
    assert_eq!(
        saved_rules["role"], "member",
        "the saved mapping gives dev no role"
    );

    for (what, change) in [
        ("wrong audience", json!({"aud": "someone-else"})),
        ("expired", json!({"exp": now() - 3600, "iat": now() - 7200})),
        ("wrong issuer", json!({"iss": "http://127.0.0.1:1"})),
        (
            "issued in the future",
            json!({"iat": now() + 3600, "exp": now() + 7200}),
        ),
    ] {
        let mut claims = good.clone();
        for (k, v) in change.as_object().expect("object") {
            claims[k] = v.clone();
        }
        let token = sso.provider.sign(&claims).await.expect("sign");
        let (status, body) = preview(token, None).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    let mut tampered = sso.provider.sign(&good).await.expect("sign");
    tampered.push('x');
    assert_eq!(preview(tampered, None).await.0, 401, "a bad signature");

    // A nonce must match the sign-in that asked for it.
    let mut with_nonce = good.clone();
    with_nonce["nonce"] = json!("nonce-of-another-sign-in");
    let token = sso.provider.sign(&with_nonce).await.expect("sign");
    let oidc = sso.server.app.auth().oidc().expect("sso configured");
    let err = oidc
        .verify(&token, Some("the-expected-nonce"))
        .await
        .expect_err("wrong nonce");
    assert_eq!(err.code, berth_core::ErrorCode::Unauthenticated);
    assert!(
        oidc.verify(&token, Some("nonce-of-another-sign-in"))
            .await
            .is_ok()
    );

    // A domain outside the allowed list is refused at sign-in.
    let mut outsider = good.clone();
    outsider["email"] = json!("mallory@elsewhere.test");
    let token = sso.provider.sign(&outsider).await.expect("sign");
    let (status, result) = preview(token, None).await;
    assert_eq!(status, 200);
    assert_eq!(result["allowed"], false);
    assert!(
        result["refusal"]
            .as_str()
            .expect("refusal")
            .contains("elsewhere.test")
    );
    let _ = client();
}

#[tokio::test]
async fn a_sign_in_finishes_only_in_the_browser_that_started_it() {
    let sso = start().await;
    let victim = no_redirects();
    let attacker = no_redirects();
    let start = attacker
        .get(format!("{}/auth/oidc/login", sso.server.url))
        .send()
        .await
        .expect("login");
    let callback = sso
        .provider
        .authorize(&location(&start), "carol")
        .await
        .expect("provider sign-in");
    // The attacker sends the victim the callback link.
    let refused = victim.get(&callback).send().await.expect("callback");
    assert_eq!(refused.status(), 401);
    let (status, _) = whoami(&victim, &sso.server.url, None).await;
    assert_eq!(
        status, 401,
        "the victim is not signed in to the attacker's account"
    );
    // The browser that started it still can.
    let finished = attacker.get(&callback).send().await.expect("callback");
    assert_eq!(finished.status(), 303);
}

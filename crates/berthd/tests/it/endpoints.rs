//! Endpoints end to end, against the daemon as a process: a Service of a
//! space served at `SERVICE-SPACE.localhost` through berthd's proxy, to
//! whom its access level lets in, waking the space when it sleeps. The
//! Service is a real HTTP server on this machine (the embedded cluster
//! runs no pods), found through the Service's cluster IP.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::daemon::start;
use crate::dev::admin_with_a_deployment;

const BIG: usize = 50 << 20;

/// The Service: a page, the headers it was sent, a WebSocket echo and a
/// 50 MiB streamed body.
async fn web_service() -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route("/", get(|| async { "hello from web" }))
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let mut names: Vec<String> = headers
                    .iter()
                    .map(|(name, value)| format!("{name}={}", value.to_str().unwrap_or("?")))
                    .collect();
                names.sort();
                names.join("\n")
            }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if let Message::Text(text) = message
                            && socket.send(Message::Text(text)).await.is_err()
                        {
                            break;
                        }
                    }
                })
            }),
        )
        .route(
            "/big",
            get(|| async {
                let chunk = bytes::Bytes::from(vec![7u8; 64 << 10]);
                let chunks = BIG / chunk.len();
                Body::from_stream(futures::stream::iter(
                    (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                ))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the service");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .expect("a Location")
        .to_owned()
}

/// The `name=value` of the cookie `name` a response sets.
fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("a {name} cookie"))
        .to_owned()
}

/// Signs `username` in to the console: its session cookie.
async fn console_session(
    http: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> String {
    let answer = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("sign in");
    assert!(answer.status().is_success(), "{}", answer.status());
    set_cookie(&answer, "berth_session")
}

/// What a browser does, signed in to the console with `session`, to open
/// `url`: to the console, back with a ticket, its page. Returns the
/// endpoint host's cookie and the last answer.
async fn browse(http: &reqwest::Client, url: &str, session: &str) -> (String, reqwest::Response) {
    let html = "text/html,application/xhtml+xml";
    let first = http
        .get(url)
        .header(ACCEPT, html)
        .send()
        .await
        .expect("open");
    assert_eq!(first.status(), 303, "a signed-out browser goes to sign in");
    let console = http
        .get(location(&first))
        .header(ACCEPT, html)
        .header(COOKIE, session)
        .send()
        .await
        .expect("the console");
    assert_eq!(console.status(), 303);
    let back = location(&console);
    assert!(back.starts_with(url.trim_end_matches('/')), "{back}");
    let signed = http
        .get(&back)
        .header(ACCEPT, html)
        .send()
        .await
        .expect("back");
    assert_eq!(signed.status(), 303);
    assert_eq!(location(&signed), "/");
    let cookie = set_cookie(&signed, "berth_endpoint");
    let page = http
        .get(url)
        .header(ACCEPT, html)
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("the page");
    (cookie, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_serves_its_space_to_whom_its_access_lets_in_and_wakes_it() {
    let daemon = start();
    let base = daemon.url.clone();
    let (token, _deployments, kube) = admin_with_a_deployment(&daemon).await;
    let service = web_service().await;
    let services: Api<DynamicObject> = Api::namespaced_with(
        kube,
        "admin",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Service"), "services"),
    );
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "127.0.0.1", "selector": {"app": "api"},
            "ports": [{"port": service.port(), "targetPort": 8080}]}
    }))
    .expect("service");
    services
        .create(&PostParams::default(), &object)
        .await
        .expect("create the service");

    let api = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let set = set_access(&api, &base, &auth, "private").await;
    let daemon_addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("the daemon's address");
    let url = format!("http://web-admin.localhost:{}/", daemon_addr.port());
    assert_eq!(set["url"], url.trim_end_matches('/'), "{set}");
    assert_eq!(set["access"], "private");
    let listed: Value = api
        .get(format!("{base}/api/v1/spaces/admin/endpoints"))
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["service"], "web", "{listed}");

    // A browser-like client that resolves the endpoint's host to berthd
    // (as browsers do for *.localhost) and follows no redirects itself.
    let http = reqwest::Client::builder()
        .resolve("web-admin.localhost", daemon_addr)
        .redirect(Policy::none())
        .build()
        .expect("client");

    // Signed out: a browser is sent to sign in, a client told so.
    let page = http
        .get(&url)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 303);
    assert_eq!(
        location(&page),
        format!("{base}/auth/endpoint?host=web-admin.localhost&path=%2F")
    );
    let plain = http.get(&url).send().await.expect("get");
    assert_eq!(plain.status(), 401);
    // Not signed in to the console either: the console's sign-in, and
    // back here after it.
    let console = http.get(location(&page)).send().await.expect("console");
    assert_eq!(console.status(), 303);
    assert!(
        location(&console).starts_with("/login?next=%2Fauth%2Fendpoint"),
        "{}",
        location(&console)
    );

    // A Berth token: through, and the Service never sees it.
    let (status, seen) = seen_by_service(
        &http,
        &url,
        &[(AUTHORIZATION, &auth), (COOKIE, "theme=dark")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(!seen.contains("authorization"), "{seen}");
    assert!(seen.contains("cookie=theme=dark"), "{seen}");
    assert!(seen.contains("host=web-admin.localhost"), "{seen}");
    assert!(seen.contains("x-forwarded-for=127.0.0.1"), "{seen}");

    // The owner's browser, signed in to the console.
    let password = "correct horse battery staple";
    let admin_session = console_session(&api, &base, "admin", password).await;
    let (admin_cookie, page) = browse(&http, &url, &admin_session).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.expect("text"), "hello from web");
    // The endpoint's cookie reaches the Service as nothing, and is no
    // console session.
    let (_, seen) = seen_by_service(&http, &url, &[(COOKIE, &admin_cookie)]).await;
    assert!(
        !seen.contains("berth_endpoint") && !seen.contains("cookie="),
        "{seen}"
    );
    let as_console = api
        .get(format!("{base}/api/v1/whoami"))
        .header(
            COOKIE,
            admin_cookie.replace("berth_endpoint", "berth_session"),
        )
        .send()
        .await
        .expect("me");
    assert_eq!(as_console.status(), 401);

    // Someone who is not a member of the space: refused, as a space they
    // may not see.
    let created = api
        .post(format!("{base}/api/v1/users"))
        .header(AUTHORIZATION, &auth)
        .json(&json!({"username": "bob", "password": password}))
        .send()
        .await
        .expect("create bob");
    assert_eq!(created.status(), 201);
    let bob_session = console_session(&api, &base, "bob", password).await;
    let (bob_cookie, refused) = browse(&http, &url, &bob_session).await;
    assert_eq!(refused.status(), 404);
    // On the team level, any signed-in user is in.
    set_access(&api, &base, &auth, "team").await;
    let in_team = http
        .get(&url)
        .header(COOKIE, &bob_cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(in_team.status(), 200);
    // Signing out of the console ends the endpoint's cookie too.
    let out = api
        .post(format!("{base}/api/v1/auth/logout"))
        .header(COOKIE, &bob_session)
        .header("x-csrf-token", csrf(&api, &base, &bob_session).await)
        .send()
        .await
        .expect("sign out");
    assert!(out.status().is_success(), "{}", out.status());
    let ended = http
        .get(&url)
        .header(COOKIE, &bob_cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(ended.status(), 401);

    // Public: a WebSocket echo and a 50 MiB streamed body, for anyone.
    set_access(&api, &base, &auth, "public").await;
    // Public, yet a Berth token still never reaches the Service.
    let (_, seen) = seen_by_service(&http, &url, &[(AUTHORIZATION, &auth)]).await;
    assert!(!seen.contains("authorization"), "{seen}");
    let tcp = tokio::net::TcpStream::connect(daemon_addr)
        .await
        .expect("connect");
    let (mut socket, _) = tokio_tungstenite::client_async(
        format!("ws://web-admin.localhost:{}/ws", daemon_addr.port()),
        tcp,
    )
    .await
    .expect("a WebSocket through the endpoint");
    for word in ["one", "two", "three"] {
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(word))
            .await
            .expect("send");
        let echo = socket.next().await.expect("an echo").expect("a frame");
        assert_eq!(echo.into_text().expect("text").as_str(), word);
    }
    let mut big = http.get(format!("{url}big")).send().await.expect("get");
    assert_eq!(big.status(), 200);
    let mut received = 0;
    while let Some(chunk) = big.chunk().await.expect("a chunk") {
        received += chunk.len();
    }
    assert_eq!(received, BIG);

    // Asleep: the request wakes the space; a browser waits on a page
    // that reloads, a client is told when to try again; then the page.
    let slept = api
        .post(format!("{base}/api/v1/spaces/admin/sleep"))
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .expect("sleep");
    assert!(slept.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let space: Value = api
            .get(format!("{base}/api/v1/spaces/admin"))
            .header(AUTHORIZATION, &auth)
            .send()
            .await
            .expect("space")
            .json()
            .await
            .expect("json");
        if space["status"]["phase"] == "Sleeping" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the space does not fall asleep: {space}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting = http
        .get(&url)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("get");
    assert_eq!(waiting.status(), 503);
    assert_eq!(
        waiting
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let text = waiting.text().await.expect("text");
    assert!(
        text.contains("Waking up space admin") && text.contains("http-equiv=\"refresh\""),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http.get(&url).send().await.expect("get");
        if answer.status() == 200 {
            assert_eq!(answer.text().await.expect("text"), "hello from web");
            break;
        }
        assert_eq!(answer.status(), 503);
        assert!(answer.headers().contains_key(RETRY_AFTER));
        assert!(Instant::now() < deadline, "the space does not wake");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Counted in /metrics, and the access changes are in the audit log.
    let metrics = api
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("berth_endpoint_requests_total{")
                && l.contains("answer=\"waking\"")),
        "{metrics}"
    );
    let audit: Value = api
        .get(format!("{base}/api/v1/audit/events?action=endpoint.set"))
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let mut accesses: Vec<&Value> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["changes"]["access"]["after"])
        .collect();
    accesses.reverse();
    assert_eq!(
        accesses,
        [&json!("private"), &json!("team"), &json!("public")],
        "{audit}"
    );

    // Removed: the host is no endpoint's.
    let removed = api
        .delete(format!("{base}/api/v1/spaces/admin/endpoints/web"))
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), 204);
    let gone = http.get(&url).send().await.expect("get");
    assert_eq!(gone.status(), 404);
}

/// The headers the Service saw of a request to the endpoint at `url`
/// sent with `headers`, one `name=value` a line, and the answer's status.
async fn seen_by_service(
    http: &reqwest::Client,
    url: &str,
    headers: &[(reqwest::header::HeaderName, &str)],
) -> (reqwest::StatusCode, String) {
    let mut request = http.get(format!("{url}headers"));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let answer = request.send().await.expect("get");
    (answer.status(), answer.text().await.expect("text"))
}

/// Sets the endpoint `web` of space admin to `access`, as its owner: the
/// endpoint as the API answers it.
async fn set_access(api: &reqwest::Client, base: &str, auth: &str, access: &str) -> Value {
    let answer = api
        .put(format!("{base}/api/v1/spaces/admin/endpoints/web"))
        .header(AUTHORIZATION, auth)
        .json(&json!({"access": access}))
        .send()
        .await
        .expect("set");
    assert_eq!(answer.status(), 200);
    answer.json().await.expect("json")
}

/// The CSRF token of a console session, as the console reads it.
async fn csrf(http: &reqwest::Client, base: &str, session: &str) -> String {
    let me: Value = http
        .get(format!("{base}/api/v1/whoami"))
        .header(COOKIE, session)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    me["csrf_token"].as_str().expect("a CSRF token").to_owned()
}

/// The chart with `endpoints.domain`: berthd's configuration has the
/// domain (and lets berthd's namespace into isolated spaces), berthd may
/// read Services, and a wildcard Ingress brings every endpoint's host to
/// berthd.
#[test]
fn the_chart_serves_endpoints_under_their_domain() {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/berth");
    let out = std::process::Command::new(berth_testkit::helm())
        .args(["template", "berth", "--namespace", "platform"])
        .arg(&chart)
        .args([
            "--set",
            "endpoints.domain=apps.example.com",
            "--set",
            "endpoints.ingress.tlsSecretName=wildcard-tls",
            "--set",
            "ingress.className=nginx",
        ])
        .output()
        .expect("helm template");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<Value> =
        serde_yaml_ng::Deserializer::from_str(std::str::from_utf8(&out.stdout).expect("utf-8"))
            .map(|document| serde::Deserialize::deserialize(document).expect("YAML"))
            .collect();
    let of = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);

    let toml = of("ConfigMap")
        .find_map(|o| o["data"]["berthd.toml"].as_str())
        .expect("berthd.toml");
    assert!(
        toml.contains("[endpoints]\ndomain = \"apps.example.com\""),
        "{toml}"
    );
    assert!(
        toml.contains("ingress_namespaces = [\"ingress-nginx\", \"platform\"]"),
        "{toml}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("berthd.toml");
    std::fs::write(&file, toml).expect("write");
    let checked = std::process::Command::new(crate::daemon::BERTHD)
        .args(["config", "check"])
        .arg(&file)
        .output()
        .expect("berthd config check");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let rules = of("ClusterRole")
        .flat_map(|o| o["rules"].as_array().cloned().unwrap_or_default())
        .find(|r| r["resources"] == json!(["services"]))
        .expect("a rule for Services");
    assert_eq!(rules["verbs"], json!(["get"]));

    let ingress = of("Ingress")
        .find(|o| o["metadata"]["name"] == "berth-endpoints")
        .expect("the endpoints' Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "*.apps.example.com");
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"secretName": "wildcard-tls", "hosts": ["*.apps.example.com"]}])
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"],
        "off"
    );
}

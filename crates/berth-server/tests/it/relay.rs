//! The relay over real WebSockets: a CLI and an agent, each a
//! `berth-proto` session, paired through the daemon; data through it,
//! resume after cut connections, and every kind of wrong caller refused.

use std::time::Duration;

use berth_proto::StreamKind;
use berth_proto::mux::{Driver, Ended, Mux, MuxConfig, Side};
use berth_testkit::TestServer;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::auth_local::{call, member};

use berth_testkit::relay::{Ws, WsLink, connect, echo, pattern};

/// A server whose relay waits `grace` for a side to come back.
async fn server_with_grace(grace: Duration) -> TestServer {
    let relay = berth_relay::RelayConfig {
        grace,
        ..berth_relay::RelayConfig::default()
    };
    TestServer::start_with_relay(
        Default::default(),
        Default::default(),
        relay,
        std::sync::Arc::new(berth_core::SystemClock),
    )
    .await
    .expect("server")
}

/// Connects an agent and then a CLI with the same HELLO, and returns both
/// once the relay has paired them: (CLI, agent), each with its WELCOME.
async fn attach_both(
    base: &str,
    agent_token: &str,
    client_token: &str,
    hello: Value,
) -> ((Ws, Value), (Ws, Value)) {
    let agent = tokio::spawn({
        let (base, token, hello) = (base.to_owned(), agent_token.to_owned(), hello.clone());
        async move { connect(&base, "agent", &token, hello).await }
    });
    let client = connect(base, "client", client_token, hello)
        .await
        .expect("the CLI attaches");
    let agent = agent.await.expect("task").expect("the agent is paired");
    (client, agent)
}

async fn new_session(server: &TestServer, token: &str, space: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let (status, created) = call(
        &http,
        "POST",
        &format!("{}/api/v1/sessions", server.url),
        Some(token),
        Some(json!({"space": space})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    (
        created["session"]["id"].as_str().expect("id").to_owned(),
        created["agent_token"].as_str().expect("token").to_owned(),
    )
}

async fn round_trip(client: &Mux, data: &[u8]) -> Vec<u8> {
    let mut stream = client
        .open(StreamKind::PortForward, json!({"port": 8080}))
        .await
        .expect("open");
    let writer = stream.writer();
    let out = data.to_vec();
    let writing = tokio::spawn(async move {
        for chunk in out.chunks(40_000) {
            writer.send(chunk).await.expect("send");
        }
        writer.close().await.expect("close");
    });
    let mut echoed = Vec::new();
    while let Some(chunk) = stream.recv().await {
        echoed.extend(chunk.expect("data"));
    }
    writing.await.expect("writer");
    echoed
}

/// Who connects one side of a session, and whether the test cuts its
/// connections.
struct Attach {
    base: String,
    role: &'static str,
    token: String,
    session: String,
    cut: bool,
}

/// One side of a session: keeps reconnecting (resuming) until the session
/// ends, cutting each connection after a few frames when `cut` is set.
fn keep_connected(
    attach: Attach,
    mux: Mux,
    mut driver: Driver,
    reconnects: mpsc::UnboundedSender<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Attach {
            base,
            role,
            token,
            session,
            cut,
        } = attach;
        let mut resume: Option<String> = None;
        let mut seed: u64 = if role == "client" { 7 } else { 11 };
        loop {
            let mut hello = json!({"version": 1, "session": session});
            if let Some(token) = &resume {
                hello["resume"] = json!({"token": token, "last_received": mux.last_received()});
            }
            let (ws, welcome) = match connect(&base, role, &token, hello).await {
                Ok(found) => found,
                Err(reason) if reason.contains("ended") => return,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            resume = welcome["resume_token"].as_str().map(str::to_owned);
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cut_after = cut.then(|| 20 + (seed >> 33) % 80);
            let link = WsLink { ws, cut_after };
            let peer = welcome["peer_last_received"]
                .as_u64()
                .expect("peer_last_received");
            match driver.run(link, peer).await {
                Ok(Ended::Finished) => return,
                Ok(Ended::Disconnected(_)) => {
                    let _ = reconnects.send(());
                }
                Err(err) => panic!("{role}: the session broke: {err}"),
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_carries_streams_and_resumes_through_cut_connections() {
    let server = server_with_grace(Duration::from_secs(30)).await;
    let admin = server.admin_token().await.expect("admin");
    let bob = member(&server, &admin, "bob").await;
    let (session, agent_token) = new_session(&server, &bob, "bob").await;

    let (client, _client_in, client_driver) = Mux::new(MuxConfig::new(Side::Client));
    let (agent, agent_in, agent_driver) = Mux::new(MuxConfig::new(Side::Agent));
    echo(agent_in);
    let (reconnected, mut reconnects) = mpsc::unbounded_channel();
    let agent_task = keep_connected(
        Attach {
            base: server.url.clone(),
            role: "agent",
            token: agent_token,
            session: session.clone(),
            cut: false,
        },
        agent.clone(),
        agent_driver,
        reconnected.clone(),
    );
    let client_task = keep_connected(
        Attach {
            base: server.url.clone(),
            role: "client",
            token: bob.clone(),
            session: session.clone(),
            cut: true,
        },
        client.clone(),
        client_driver,
        reconnected,
    );

    let data = pattern(4 << 20);
    let echoed = tokio::time::timeout(Duration::from_secs(120), round_trip(&client, &data))
        .await
        .expect("the transfer finishes");
    let mut cuts = 0;
    while reconnects.try_recv().is_ok() {
        cuts += 1;
    }
    assert!(
        echoed == data,
        "4 MiB through the relay, nothing lost or repeated"
    );
    assert!(
        cuts >= 4,
        "the connections were cut and resumed {cuts} times"
    );

    // The session's view counts what went through, and the stream is audited.
    let http = reqwest::Client::new();
    let (status, view) = call(
        &http,
        "GET",
        &format!("{}/api/v1/sessions/{session}", server.url),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert!(
        view["bytes_to_agent"].as_u64().unwrap_or(0) >= 4 << 20,
        "{view}"
    );
    let (_, page) = call(
        &http,
        "GET",
        &format!(
            "{}/api/v1/audit/events?action=session.&limit=50",
            server.url
        ),
        Some(&admin),
        None,
    )
    .await;
    let reasons: Vec<&str> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("port-forward to port 8080")),
        "{reasons:?}"
    );

    // An admin ends it: both sides are told, and cannot resume.
    let (status, view) = call(
        &http,
        "DELETE",
        &format!("{}/api/v1/sessions/{session}", server.url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "ended");
    assert!(
        view["ended_reason"]
            .as_str()
            .is_some_and(|r| r.contains("terminated by admin")),
        "{view}"
    );
    tokio::time::timeout(Duration::from_secs(30), async {
        let _ = agent_task.await;
        let _ = client_task.await;
    })
    .await
    .expect("both sides stop once the session ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_callers_and_bad_input_are_refused_with_a_reason() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let bob = member(&server, &admin, "bob").await;
    let eve = member(&server, &admin, "eve").await;
    let (session, agent_token) = new_session(&server, &bob, "bob").await;
    let (other, _) = new_session(&server, &eve, "eve").await;
    let hello = |s: &str| json!({"version": 1, "session": s});

    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "agent",
            "berth_agt_0000".to_owned(),
            hello(&session),
            "not valid",
        ),
        (
            "agent",
            agent_token.clone(),
            hello(&other),
            "another session",
        ),
        ("client", eve.clone(), hello(&session), "not found"),
        (
            "client",
            bob.clone(),
            json!({"version": 2, "session": session}),
            "version 2",
        ),
        (
            "client",
            bob.clone(),
            json!({"version": 1}),
            "must name its session",
        ),
        (
            "client",
            bob.clone(),
            json!({"version": 1, "session": session, "resume": {"token": "x", "last_received": 0}}),
            "not valid",
        ),
    ];
    for (role, token, hello, expected) in cases {
        let refused = connect(&server.url, role, &token, hello.clone())
            .await
            .expect_err("refused");
        assert!(
            refused.contains(expected),
            "{role} {hello}: {refused:?} should say {expected:?}"
        );
    }
    // No token at all, or a user token on the agent side: no upgrade.
    let refused = connect(&server.url, "agent", &bob, hello(&session))
        .await
        .expect_err("refused");
    assert!(refused.contains("401"), "{refused}");

    // A text message, or a frame that is not one, ends the connection.
    let (mut ws, _) = {
        let url = format!(
            "{}/api/v1/relay/agent",
            server.url.replace("http://", "ws://")
        );
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {agent_token}").parse().expect("h"),
        );
        tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade")
    };
    ws.send(Message::Text("hello".into())).await.expect("send");
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert!(frame.reason.contains("text messages"), "{}", frame.reason)
        }
        other => panic!("expected a close with a reason, got {other:?}"),
    }

    // The first agent and the owner pair; a second CLI gets its own
    // attachment once another agent connection is there.
    let ((_client, first), _agent) =
        attach_both(&server.url, &agent_token, &bob, hello(&session)).await;
    let ((_second, second), _second_agent) =
        attach_both(&server.url, &agent_token, &bob, hello(&session)).await;
    assert_ne!(first["attachment"], second["attachment"]);
    // A resume token is one side's own: the agent cannot use the CLI's.
    let token = first["resume_token"].as_str().expect("token");
    let refused = connect(
        &server.url,
        "agent",
        &agent_token,
        json!({"version": 1, "resume": {"token": token, "last_received": 0}}),
    )
    .await
    .expect_err("another side's token");
    assert!(refused.contains("not valid"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_whose_side_does_not_come_back_ends_after_the_grace_period() {
    let server = server_with_grace(Duration::from_secs(1)).await;
    let admin = server.admin_token().await.expect("admin");
    let (session, agent_token) = new_session(&server, &admin, "admin").await;
    let hello = json!({"version": 1, "session": session});
    let ((client, _), (mut agent_ws, agent_welcome)) =
        attach_both(&server.url, &agent_token, &admin, hello).await;

    // The laptop goes away for good: the relay closes the agent's side too.
    drop(client);
    match agent_ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert!(frame.reason.contains("resume"), "{}", frame.reason)
        }
        other => panic!("expected a close with a reason, got {other:?}"),
    }
    // The agent comes back and waits; past the grace period it is told.
    let token = agent_welcome["resume_token"].as_str().expect("token");
    let resume = json!({"version": 1, "resume": {"token": token, "last_received": 0}});
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        connect(&server.url, "agent", &agent_token, resume.clone()),
    )
    .await
    .expect("answered")
    .expect_err("no client came back");
    assert!(refused.contains("did not come back within 1s"), "{refused}");
    // The attachment is gone; the session is not.
    let refused = connect(&server.url, "agent", &agent_token, resume)
        .await
        .expect_err("nothing to resume");
    assert!(refused.contains("not valid"), "{refused}");
    let http = reqwest::Client::new();
    let (status, view) = call(
        &http,
        "GET",
        &format!("{}/api/v1/sessions/{session}", server.url),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["state"], "waiting", "{view}");
}

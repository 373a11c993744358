//! The CLI's connection to a dev session over an emulated laptop link
//! (`berth_testkit::wan`), as `berth up` and `berth port-forward` make it
//! with `berth-dial`: the link goes dark in the middle of a transfer for longer than the
//! multiplexer waits in silence; the CLI's side gives the dead connection
//! up by itself, resumes when the link is back, and every byte arrives
//! once, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_dial::{self as dial, Role};
use berth_proto::StreamKind;
use berth_testkit::TestServer;
use berth_testkit::relay::{echo, pattern};
use berth_testkit::wan::{Wan, profile};
use serde_json::json;

/// A dev session in `space`: its id and its agent token.
async fn new_session(server: &TestServer, token: &str, space: &str) -> (String, String) {
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", server.url))
        .bearer_auth(token)
        .json(&json!({"space": space}))
        .send()
        .await
        .expect("create a session")
        .error_for_status()
        .expect("created")
        .json()
        .await
        .expect("json");
    (
        created["session"]["id"].as_str().expect("id").to_owned(),
        created["agent_token"].as_str().expect("token").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumes_by_itself_after_the_link_goes_dark() {
    let server = TestServer::start().await.expect("server");
    let token = server.admin_token().await.expect("token");
    let (session, agent_token) = new_session(&server, &token, "admin").await;
    let wan = Wan::new(profile("wan").expect("the wan profile")).expect("the link");
    // The server's end of the link hands connections to the router on
    // loopback, as a load balancer in front of berthd would.
    let front = tokio::net::TcpListener::bind((wan.server(), 0))
        .await
        .expect("bind the link's end");
    let over_link = format!("http://{}", front.local_addr().expect("addr"));
    let router = server.url.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((mut laptop, _)) = front.accept().await {
            let router = router.clone();
            tokio::spawn(async move {
                if let Ok(mut daemon) = tokio::net::TcpStream::connect(router).await {
                    let _ = tokio::io::copy_bidirectional(&mut laptop, &mut daemon).await;
                }
            });
        }
    });

    // The agent, in the cluster: on loopback.
    let agent = {
        let (url, session) = (server.url.clone(), session.clone());
        tokio::spawn(async move {
            let first = dial::first(
                &url,
                Role::Agent,
                &agent_token,
                Some(&session),
                &|_: &str| {},
            )
            .await
            .map_err(|e| format!("{e:?}"))?;
            Ok::<_, String>(dial::run(
                url,
                Role::Agent,
                agent_token,
                Some(session),
                first,
                |_: &str| {},
            ))
        })
    };
    // The CLI, on the laptop: every connection it makes crosses the link.
    let laptop = wan.runtime(1).expect("the laptop's runtime");
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = {
        let (said, token, session) = (said.clone(), token.clone(), session.clone());
        laptop
            .spawn(async move {
                let first = dial::first(
                    &over_link,
                    Role::Client,
                    &token,
                    Some(&session),
                    &|_: &str| {},
                )
                .await
                .map_err(|e| format!("{e:?}"))?;
                Ok::<_, String>(dial::run(
                    over_link,
                    Role::Client,
                    token,
                    Some(session),
                    first,
                    move |line: &str| {
                        said.lock().expect("said").push(line.to_owned());
                    },
                ))
            })
            .await
            .expect("task")
            .expect("the CLI attaches over the link")
    };
    let agent = agent.await.expect("task").expect("the agent attaches");
    echo(agent.incoming);

    let data = pattern(3 << 20);
    let mut stream = client
        .mux
        .open(StreamKind::PortForward, json!({"port": 8080}))
        .await
        .expect("open");
    let writer = stream.writer();
    let out = data.clone();
    let sending = tokio::spawn(async move {
        for chunk in out.chunks(16 * 1024) {
            writer.send(chunk).await.expect("send");
        }
        writer.close().await.expect("close");
    });
    let mut echoed = Vec::with_capacity(data.len());
    let mut went_dark = false;
    while let Some(chunk) = stream.recv().await {
        echoed.extend(chunk.expect("data"));
        if !went_dark && echoed.len() > 1 << 20 {
            went_dark = true;
            wan.set_down(true);
            // Longer than the multiplexer's 5 s of silence; TCP alone would
            // still be backing off its retransmissions.
            tokio::time::sleep(Duration::from_secs(8)).await;
            wan.set_down(false);
        }
    }
    sending.await.expect("sender");
    assert!(went_dark);
    assert!(echoed == data, "every byte came back once, in order");
    let said = said.lock().expect("said").clone();
    assert!(
        said.iter().any(|l| l.contains("nothing heard")),
        "the CLI gave the silent connection up by itself: {said:?}"
    );
    assert!(said.iter().any(|l| l.contains("is back")), "{said:?}");
    client.task.abort();
    agent.task.abort();
    laptop.shutdown_background();
}

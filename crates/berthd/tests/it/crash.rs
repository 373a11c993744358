//! Durability under SIGKILL: writers create tokens through the API while the
//! daemon is killed at random points; after every restart each acknowledged
//! token is there with its audit event, and the chain verifies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use crate::daemon::start_in;

const ROUNDS: usize = 6;
const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_and_their_events_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut token = String::new();
    // A fixed seed: the kill points vary per round but every run is the same.
    let mut seed: u64 = 0x5eed;

    for round in 0..ROUNDS {
        let mut daemon = start_in(&data);
        let base = daemon.url.clone();
        if round == 0 {
            let setup = daemon.setup_url().expect("setup link");
            let secret = setup.rsplit("token=").next().expect("secret");
            let answer = http
                .post(format!("{base}/api/v1/setup"))
                .json(&json!({"setup_token": secret, "username": "admin", "password": "correct horse battery staple"}))
                .send()
                .await
                .expect("setup");
            assert_eq!(answer.status(), 201);
            let made: serde_json::Value = http
                .post(format!("{base}/api/v1/auth/cli/password"))
                .json(&json!({"username": "admin", "password": "correct horse battery staple"}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("json");
            token = made["secret"].as_str().expect("token").to_owned();
        } else {
            let so_far = acknowledged.lock().expect("lock").clone();
            check(&http, &base, &token, &so_far).await;
        }

        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kill_after = acknowledged.lock().expect("lock").len() + 5 + (seed >> 33) as usize % 60;
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let http = http.clone();
            let base = base.clone();
            let token = token.clone();
            let acknowledged = acknowledged.clone();
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let name = format!("r{round}-w{w}-{n}");
                    let Ok(answer) = http
                        .post(format!("{base}/api/v1/tokens"))
                        .bearer_auth(&token)
                        .json(&json!({"name": name}))
                        .send()
                        .await
                    else {
                        return;
                    };
                    if answer.status() != 201 {
                        return;
                    }
                    let Ok(made) = answer.json::<serde_json::Value>().await else {
                        return;
                    };
                    if let Some(id) = made["token"]["id"].as_str() {
                        acknowledged.lock().expect("lock").push(id.to_owned());
                    }
                }
            }));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while acknowledged.lock().expect("lock").len() < kill_after {
            assert!(tokio::time::Instant::now() < deadline, "writes stalled");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        daemon.signal(Signal::SIGKILL).expect("kill");
        let _ = daemon.wait_exit(Duration::from_secs(10));
        for writer in writers {
            let _ = writer.await;
        }
    }
    let daemon = start_in(&data);
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() > ROUNDS * 5);
    check(&http, &daemon.url, &token, &acknowledged).await;
}

async fn check(http: &reqwest::Client, base: &str, token: &str, acknowledged: &[String]) {
    let tokens: Vec<serde_json::Value> = http
        .get(format!("{base}/api/v1/tokens"))
        .bearer_auth(token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let ids: std::collections::HashSet<&str> =
        tokens.iter().filter_map(|t| t["id"].as_str()).collect();
    for id in acknowledged {
        assert!(
            ids.contains(id.as_str()),
            "acknowledged token {id} is gone after a crash"
        );
        let page: serde_json::Value = http
            .get(format!(
                "{base}/api/v1/audit/events?action=token.create&resource_kind=token&resource={id}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        assert_eq!(
            page["events"].as_array().map(Vec::len),
            Some(1),
            "token {id} has no audit event"
        );
    }
    let verified: serde_json::Value = http
        .get(format!("{base}/api/v1/audit/verify"))
        .bearer_auth(token)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verified["ok"], true, "{verified}");
}

//! Shipping to an OTLP logs endpoint, at least once, against an OTLP/HTTP
//! (JSON) receiver served here, which can refuse requests to play an outage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_audit::forward::ForwardConfig;
use berth_audit::{AuditEvent, Outcome};
use serde_json::Value;

use crate::{event, open};

#[derive(Clone, Default)]
struct Receiver {
    seqs: Arc<Mutex<Vec<u64>>>,
    bodies: Arc<Mutex<Vec<AuditEvent>>>,
    refuse: Arc<AtomicUsize>,
}

async fn logs(State(receiver): State<Receiver>, Json(request): Json<Value>) -> StatusCode {
    if receiver.refuse.load(Ordering::SeqCst) > 0 {
        receiver.refuse.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let records = request["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for record in records {
        let seq = record["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "berth.audit.seq")
            .and_then(|a| a["value"]["intValue"].as_str())
            .and_then(|s| s.parse().ok())
            .expect("every record carries its sequence number");
        receiver.seqs.lock().expect("lock").push(seq);
        let body: AuditEvent =
            serde_json::from_str(record["body"]["stringValue"].as_str().expect("body"))
                .expect("an audit event");
        receiver.bodies.lock().expect("lock").push(body);
    }
    StatusCode::OK
}

async fn serve(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/v1/logs", axum::routing::post(logs))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_outage_loses_nothing_and_the_cursor_survives_a_restart() {
    let receiver = Receiver::default();
    receiver.refuse.store(2, Ordering::SeqCst);
    let endpoint = serve(receiver.clone()).await;
    let config = ForwardConfig {
        endpoint,
        service_name: "berthd".to_owned(),
        headers: vec![("x-api-key".to_owned(), "k".to_owned())],
    };
    let http = reqwest::Client::new();
    let (dir, audit) = open();
    for i in 0..1200 {
        audit
            .record(event(
                "alice",
                "token.create",
                "token",
                &format!("t{i}"),
                None,
                Outcome::Success,
            ))
            .expect("record");
    }
    // Two refused attempts: nothing is acknowledged, nothing advances.
    assert!(audit.forward_once(&http, &config).await.is_err());
    assert!(audit.forward_once(&http, &config).await.is_err());
    assert_eq!(audit.forwarded_up_to().expect("cursor"), 0);
    assert_eq!(
        audit.forward_once(&http, &config).await.expect("forward"),
        1200
    );
    assert_eq!(
        *receiver.seqs.lock().expect("lock"),
        (1..=1200).collect::<Vec<u64>>()
    );
    assert!(
        receiver
            .bodies
            .lock()
            .expect("lock")
            .iter()
            .all(|e| berth_audit::hash_of(e) == e.hash),
        "bodies are the sealed events"
    );
    assert_eq!(audit.forwarded_up_to().expect("cursor"), 1200);

    // Restart on the same data directory: only what is new goes out.
    let store = audit.store().clone();
    drop(audit);
    let audit = berth_audit::Audit::open(store).expect("reopen");
    assert_eq!(audit.forwarded_up_to().expect("cursor"), 1200);
    for i in 0..10 {
        audit
            .record(event(
                "bob",
                "user.update",
                "user",
                &format!("u{i}"),
                None,
                Outcome::Success,
            ))
            .expect("record");
    }
    assert_eq!(
        audit.forward_once(&http, &config).await.expect("forward"),
        10
    );
    let seqs = receiver.seqs.lock().expect("lock").clone();
    assert_eq!(seqs.len(), 1210);
    assert_eq!(seqs[1200..], (1201..=1210).collect::<Vec<u64>>()[..]);
    drop(dir);
}

//! `berth catalog repo ...` against a real server and a chart repository
//! index served over loopback.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use crate::Cli;
use crate::auth::server_with_admin;

/// Answers every request with the current `index` (a tiny repository).
fn serve_index(index: Arc<Mutex<String>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            // The whole request head, so closing leaves nothing unread.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let body = index.lock().expect("index").clone();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_chart_repositories_from_the_cli() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    let index = Arc::new(Mutex::new(
        "apiVersion: v1\nentries:\n  redis:\n    - version: 1.2.0\n      appVersion: \"7.4\"\n      description: An in-memory store\n      urls: [redis-1.2.0.tgz]\n".to_owned(),
    ));
    let url = serve_index(index.clone());
    cli.ok(&["catalog", "repo", "add", "stable", &url]);
    let listed: serde_json::Value =
        serde_json::from_str(&cli.ok(&["catalog", "repo", "list", "-o", "json"])).expect("json");
    assert_eq!(listed[0]["name"], "stable");
    assert_eq!(listed[0]["charts"], 1);
    let charts = cli.ok(&["catalog", "repo", "charts", "stable"]);
    assert!(
        charts.contains("redis")
            && charts.contains("1.2.0")
            && charts.contains("An in-memory store"),
        "{charts}"
    );
    *index.lock().expect("index") = "not: [an index".to_owned();
    let err = cli.fails(&["catalog", "repo", "refresh", "stable"]);
    assert!(err.contains("cannot refresh stable"), "{err}");
    // The charts of the last good fetch are kept.
    let charts = cli.ok(&["catalog", "repo", "charts", "stable"]);
    assert!(charts.contains("redis"), "{charts}");
    cli.ok(&["catalog", "repo", "remove", "stable"]);
    let err = cli.fails(&["catalog", "repo", "show", "stable"]);
    assert!(err.contains("stable"), "{err}");
}

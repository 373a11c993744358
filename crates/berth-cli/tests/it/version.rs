//! `berth version` against a live server, an absent one and none at all.

use berth_testkit::TestServer;

use crate::Cli;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_reports_client_and_server() {
    let server = TestServer::start().await.expect("server starts");
    let cli = Cli::new();
    cli.ok(&["context", "add", "local", &server.url]);
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["version", "-o", "json"])).expect("JSON output");
    let expected = serde_json::to_value(berth_core::BuildInfo::current()).expect("serializes");
    assert_eq!(json["client"], expected);
    assert_eq!(json["server"], expected);

    let table = cli.ok(&["version"]);
    assert!(table.contains("server: berthd "), "{table}");
}

#[test]
fn version_without_a_server_prints_the_client_and_how_to_add_one() {
    let cli = Cli::new();
    let out = cli.ok(&["version"]);
    assert!(out.contains(&format!("client: berth {}", env!("CARGO_PKG_VERSION"))));
    assert!(out.contains("berth context add"), "{out}");
}

#[test]
fn an_unreachable_server_is_one_clear_failure() {
    let cli = Cli::new();
    // Port 9 (discard) on loopback: nothing listens there in a test sandbox.
    cli.ok(&["context", "add", "gone", "http://127.0.0.1:9"]);
    let stderr = cli.fails(&["version"]);
    assert!(
        stderr.contains("cannot reach Berth at http://127.0.0.1:9"),
        "{stderr}"
    );
}

//! `berth space ...` against a real server and its reconciler.

use std::time::Duration;

use crate::Cli;
use crate::auth::{PASSWORD, server_with_admin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spaces_from_the_command_line() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);

    // The admin's personal space was made at sign-in.
    let list = cli.ok(&["space", "list"]);
    assert!(list.contains("admin"), "{list}");

    let out = cli.run(&[
        "space",
        "create",
        "web",
        "--use",
        "--label",
        "team=payments",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = cli.ok(&["space", "list"]);
    let current: Vec<&str> = list
        .lines()
        .filter(|l| l.trim_start().starts_with('*'))
        .collect();
    assert_eq!(current.len(), 1, "{list}");
    assert!(current[0].contains("web"), "{list}");
    let config = std::fs::read_to_string(cli.config_file()).expect("config");
    assert!(config.contains("space = \"web\""), "{config}");

    // `get` with no name is about the current space; it converges.
    let mut described = String::new();
    for _ in 0..300 {
        described = cli.ok(&["space", "get"]);
        if described.contains("Phase:        Active") && !described.contains("not yet in sync") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(described.contains("Phase:        Active"), "{described}");
    assert!(described.contains("ResourceQuota"), "{described}");
    assert!(
        described.contains("Labels:       team=payments"),
        "{described}"
    );

    // Share with a new user, then take it back.
    let out = cli.run_with_stdin(&["user", "create", "bob"], &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli.run(&["space", "share", "bob"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = cli.ok(&["space", "get", "web", "-o", "json"]);
    let view: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(view["members"].as_array().map(Vec::len), Some(2), "{json}");

    let out = cli.run(&["space", "sleep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Asleep:"));
    let out = cli.run(&["space", "wake", "web"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("woken by admin"));
    let out = cli.run(&["space", "unshare", "bob", "--space", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Failures say what to do.
    let err = cli.fails(&["space", "get", "nope"]);
    assert!(err.contains("nope"), "{err}");
    let err = cli.fails(&["space", "create", "Bad_Name"]);
    assert!(err.contains("name"), "{err}");
    let err = cli.fails(&["space", "delete", "web"]);
    assert!(err.contains("--yes"), "deleting asks first: {err}");

    let out = cli.run(&["space", "delete", "web", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut gone = false;
    for _ in 0..300 {
        if !cli.run(&["space", "get", "web"]).status.success() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the space goes once its namespace has");
}

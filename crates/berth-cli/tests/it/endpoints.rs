//! `berth endpoint set|list|rm` against a real server.

use crate::Cli;
use crate::auth::server_with_admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_serve_services_as_endpoints_from_the_cli() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    let port = server
        .url
        .rsplit(':')
        .next()
        .expect("the server's port")
        .to_owned();

    let set = cli.ok(&[
        "endpoint", "set", "web", "--port", "8080", "--access", "team", "--space", "admin",
    ]);
    assert_eq!(
        set.trim(),
        format!("http://web-admin.localhost:{port} (team): anyone signed in to Berth")
    );
    cli.ok(&["endpoint", "set", "docs", "--space", "admin"]);
    let list = cli.ok(&["endpoint", "list", "--space", "admin"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["SERVICE", "PORT", "ACCESS", "URL", "SET", "BY"],
        "{list}"
    );
    assert_eq!(
        rows[1],
        [
            "docs",
            "first",
            "private",
            &format!("http://docs-admin.localhost:{port}"),
            "admin"
        ]
    );
    assert_eq!(rows[2][..3], ["web", "8080", "team"]);
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["-o", "json", "endpoint", "list", "--space", "admin"]))
            .expect("json");
    assert_eq!(json[1]["access"], "team", "{json}");

    // What cannot be is named.
    let out = cli.run(&[
        "endpoint", "set", "web", "--access", "everyone", "--space", "admin",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("`everyone` is not an access level: private, team or public"),
        "{err}"
    );
    let err = cli.fails(&["endpoint", "set", "Web_1", "--space", "admin"]);
    assert!(err.contains("service"), "{err}");

    cli.ok(&["endpoint", "rm", "web", "--space", "admin"]);
    let list = cli.ok(&["endpoint", "list", "--space", "admin"]);
    assert!(!list.contains("web-admin"), "{list}");
    let err = cli.fails(&["endpoint", "rm", "web", "--space", "admin"]);
    assert!(err.contains("endpoint") && err.contains("web"), "{err}");
}

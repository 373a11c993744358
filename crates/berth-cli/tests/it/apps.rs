//! `berth catalog list|show|item`, `berth deploy` and `berth app ...`
//! against a real server, a chart repository served over loopback and the
//! real Helm running against the server's cluster.

use berth_testkit::charts::{publish_demo, serve_dir};

use crate::Cli;
use crate::auth::server_with_admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developers_deploy_and_manage_apps_from_the_cli() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    let work = tempfile::tempdir().expect("work");
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    let url = serve_dir(repo.clone()).await;
    publish_demo(work.path(), &repo, &url, "0.1.0");
    cli.ok(&["catalog", "repo", "add", "stable", &url]);

    // An admin's item, from a file.
    let item = work.path().join("item.yaml");
    std::fs::write(
        &item,
        "name: demo\ndescription: The demo web app\nrepository: stable\nchart: demo\nversion: ~0.1\nvalues:\n  message: from the item\nparameters: [replicaCount, message, password, fail]\n",
    )
    .expect("item");
    cli.ok(&[
        "catalog",
        "item",
        "apply",
        "-f",
        item.to_str().expect("utf-8"),
    ]);
    let list = cli.ok(&["catalog", "list"]);
    assert!(
        list.contains("demo") && list.contains("stable/demo") && list.contains("0.1.0"),
        "{list}"
    );
    let show = cli.ok(&["catalog", "show", "demo"]);
    assert!(
        show.contains("replicaCount *") && show.contains("1 to 5") && show.contains("(secret)"),
        "{show}"
    );
    // A file that is not an item is named.
    std::fs::write(&item, "name: [not, a, name]\n").expect("item");
    let err = cli.fails(&[
        "catalog",
        "item",
        "apply",
        "-f",
        item.to_str().expect("utf-8"),
    ]);
    assert!(err.contains("is not a catalog item"), "{err}");

    server.installer_ready("admin").await;

    // Deploy with a values file and --set, waiting for Helm.
    let values = work.path().join("values.yaml");
    std::fs::write(&values, "replicaCount: 2\nmessage: from a file\n").expect("values");
    let values = values.to_str().expect("utf-8");
    let err = cli.fails(&[
        "deploy",
        "demo",
        "--space",
        "admin",
        "--set",
        "replicaCount=9",
    ]);
    assert!(err.contains("values.replicaCount"), "{err}");
    let err = cli.fails(&["deploy", "demo", "--space", "admin", "--set", "novalue"]);
    assert!(err.contains("has no '='"), "{err}");
    let out = cli.ok(&[
        "deploy",
        "demo",
        "--space",
        "admin",
        "-f",
        values,
        "--set",
        "message=from --set",
        "--wait",
    ]);
    assert!(
        out.contains("deployed") && out.contains("revision 1"),
        "{out}"
    );
    let config = server
        .sim
        .get_object("v1", "ConfigMap", "admin", "demo-config")
        .await
        .expect("read")
        .expect("configmap");
    assert_eq!(config["data"]["message"], "from --set");
    let web = server
        .sim
        .get_object("apps/v1", "Deployment", "admin", "demo-web")
        .await
        .expect("read")
        .expect("deployment");
    assert_eq!(web["spec"]["replicas"], 2);

    let list = cli.ok(&["app", "list", "--space", "admin"]);
    assert!(list.contains("demo") && list.contains("deployed"), "{list}");
    let status: serde_json::Value =
        serde_json::from_str(&cli.ok(&["app", "status", "demo", "--space", "admin", "-o", "json"]))
            .expect("json");
    assert_eq!(status["release"]["revision"], 1);
    let logs = cli.ok(&["app", "logs", "demo", "--space", "admin"]);
    assert!(logs.contains("NAME: demo"), "{logs}");

    // Upgrade; a failing one says Helm's words and fails the command.
    let out = cli.ok(&[
        "app",
        "upgrade",
        "demo",
        "--space",
        "admin",
        "--set",
        "message=changed",
        "--wait",
    ]);
    assert!(out.contains("revision 2"), "{out}");
    // Helm's output comes first on stderr, then what failed and what to do.
    let out = cli.run(&[
        "app",
        "upgrade",
        "demo",
        "--space",
        "admin",
        "--set",
        "fail=true",
        "--wait",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("$ helm upgrade --install demo"),
        "{stderr}"
    );
    assert!(
        lines[lines.len() - 2].starts_with("error: Upgrade of demo failed: UPGRADE FAILED:")
            && lines[lines.len() - 2].contains("the chart refuses: fail is set"),
        "{stderr}"
    );
    assert!(lines[lines.len() - 1].starts_with("  to fix: "), "{stderr}");

    cli.ok(&["app", "uninstall", "demo", "--space", "admin", "--wait"]);
    let list = cli.ok(&["app", "list", "--space", "admin", "-o", "json"]);
    assert_eq!(list.trim(), "[]");
    assert!(
        server
            .sim
            .get_object("apps/v1", "Deployment", "admin", "demo-web")
            .await
            .expect("read")
            .is_none()
    );

    // Hidden items are not offered; deleted ones are gone.
    cli.ok(&["catalog", "item", "hide", "demo"]);
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["catalog", "show", "demo", "-o", "json"])).expect("json");
    assert_eq!(shown["spec"]["hidden"], true);
    cli.ok(&["catalog", "item", "delete", "demo"]);
    let err = cli.fails(&["catalog", "show", "demo"]);
    assert!(err.contains("not found"), "{err}");
}

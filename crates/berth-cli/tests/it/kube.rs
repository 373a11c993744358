//! kubectl and helm, the real binaries, pointed at a developer's spaces by
//! `berth kubeconfig`: through berthd's Kubernetes API proxy, with the
//! exec credential plugin `berth kube-credential`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::auth::{PASSWORD, server_with_admin};
use crate::{Cli, blocking};

impl Cli {
    fn kubectl(&self, args: &[&str]) -> Output {
        let mut command = self.tool(&berth_testkit::kubectl(), args);
        blocking(|| command.output().expect("kubectl runs"))
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

/// Waits until the space's namespace is in the cluster (its reconciler
/// made it).
async fn until_made(cli: &Cli, space: &str) {
    for _ in 0..300 {
        if cli
            .ok(&["space", "get", space])
            .contains("Phase:        Active")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("space {space} was not made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_and_helm_reach_your_spaces_and_nothing_else() {
    let server = server_with_admin().await;
    let admin = Cli::new();
    admin.login_with_password(&server.url);
    let out = admin.run_with_stdin(&["user", "create", "bob"], &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bob = Cli::new();
    bob.login_as(&server.url, "bob");
    until_made(&admin, "admin").await;
    until_made(&bob, "bob").await;

    let wrote = admin.run(&["kubeconfig"]);
    let stderr = String::from_utf8_lossy(&wrote.stderr);
    assert!(wrote.status.success(), "{stderr}");
    assert!(stderr.contains("berth-dev-admin"), "{stderr}");
    assert_eq!(
        admin.kubectl_ok(&["config", "current-context"]).trim(),
        "berth-dev-admin"
    );

    // Only one's own spaces are namespaces, even for an admin.
    assert_eq!(
        admin
            .kubectl_ok(&["get", "namespaces", "-o", "name"])
            .trim(),
        "namespace/admin"
    );

    // Apply, read, watch and delete in one's own space.
    let manifest = admin.config_file().with_file_name("demo.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  greeting: hello\n",
    )
    .expect("manifest");
    let manifest = manifest.to_str().expect("utf-8 path");
    let applied = admin.kubectl_ok(&["apply", "-f", manifest]);
    assert!(applied.contains("configmap/demo created"), "{applied}");
    let got = admin.kubectl_ok(&[
        "get",
        "configmap",
        "demo",
        "-o",
        "jsonpath={.data.greeting}",
    ]);
    assert_eq!(got, "hello");

    let mut watch = admin
        .tool(
            &berth_testkit::kubectl(),
            &["get", "configmaps", "--watch", "-o", "name"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    let lines = BufReader::new(watch.stdout.take().expect("stdout"));
    let (seen, events) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if seen.send(line).is_err() {
                return;
            }
        }
    });
    // The watch lists what is there first, then streams changes.
    let first = blocking(|| events.recv_timeout(Duration::from_secs(30))).expect("listed");
    assert!(first.contains("configmap/demo"), "{first}");
    admin.kubectl_ok(&["label", "configmap", "demo", "changed=yes"]);
    let changed = blocking(|| events.recv_timeout(Duration::from_secs(30))).expect("a watch event");
    assert!(changed.contains("configmap/demo"), "{changed}");
    let _ = watch.kill();
    let _ = watch.wait();

    let deleted = admin.kubectl_ok(&["delete", "configmap", "demo"]);
    assert!(deleted.contains("deleted"), "{deleted}");

    // Another user's space, and the cluster outside namespaces, are refused.
    let refused = admin.kubectl(&["get", "pods", "-n", "bob"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Forbidden") && stderr.contains("namespace bob is not one of your spaces"),
        "{stderr}"
    );
    for args in [
        &["get", "pods", "--all-namespaces"][..],
        &["get", "clusterroles"],
    ] {
        let refused = admin.kubectl(args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("outside a namespace"), "{args:?}: {stderr}");
    }
    let refused = admin.kubectl(&["create", "namespace", "mine"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("berth space create"), "{stderr}");

    // helm installs into one's space through the proxy.
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../berth-samples/charts/hello-web");
    let mut helm = admin.tool(
        &berth_testkit::helm(),
        &[
            "install",
            "web",
            chart.to_str().expect("utf-8"),
            "-n",
            "admin",
        ],
    );
    let installed = blocking(|| helm.output().expect("helm runs"));
    assert!(
        installed.status.success(),
        "helm install failed:\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let deployments = admin.kubectl_ok(&["get", "deployments", "-o", "name"]);
    assert!(deployments.contains("deployment.apps/web"), "{deployments}");

    // Streams into a pod pass through to the cluster, which answers; the
    // simulator runs no containers and says so.
    let pod = admin.config_file().with_file_name("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: shell\nspec:\n  containers:\n  - name: main\n    image: busybox\n",
    )
    .expect("pod");
    admin.kubectl_ok(&["apply", "-f", pod.to_str().expect("utf-8")]);
    for args in [&["exec", "shell", "--", "true"][..], &["logs", "shell"]] {
        let out = admin.kubectl(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("runs no containers"), "{args:?}: {stderr}");
    }

    // Each change and each refusal is in the audit log, as the user.
    let events = admin.ok(&["audit", "list", "--action", "kube.", "-o", "json"]);
    let events: Vec<serde_json::Value> = serde_json::from_str(&events).expect("json");
    let has = |action: &str, outcome: &str, space: Option<&str>| {
        events.iter().any(|e| {
            e["action"] == action
                && e["outcome"] == outcome
                && e["actor"]["name"] == "admin"
                && space.is_none_or(|s| e["resource"]["space"] == s)
        })
    };
    assert!(has("kube.create", "success", Some("admin")), "{events:#?}");
    assert!(has("kube.patch", "success", Some("admin")), "{events:#?}");
    assert!(has("kube.delete", "success", Some("admin")), "{events:#?}");
    assert!(has("kube.exec", "failure", Some("admin")), "{events:#?}");
    assert!(has("kube.list", "denied", None), "{events:#?}");
    assert!(has("kube.get", "denied", None), "{events:#?}");
    assert!(has("kube.post", "denied", None), "{events:#?}");

    // A request into a sleeping space wakes it (and counts as activity).
    admin.ok(&["space", "sleep", "admin"]);
    let asleep = |cli: &Cli| {
        let json = cli.ok(&["space", "get", "admin", "-o", "json"]);
        let view: serde_json::Value = serde_json::from_str(&json).expect("json");
        view["wakefulness"]["asleep"].as_bool().expect("asleep")
    };
    assert!(asleep(&admin));
    admin.kubectl_ok(&["get", "deployments"]);
    assert!(!asleep(&admin), "kubectl woke the space");

    // Revoking kubectl's token (`berth token revoke`) makes the plugin
    // make another: kubectl keeps working.
    let tokens = admin.ok(&["token", "list", "-o", "json"]);
    let tokens: Vec<serde_json::Value> = serde_json::from_str(&tokens).expect("json");
    let kube_token = tokens
        .iter()
        .find(|t| t["kind"] == "kube")
        .and_then(|t| t["id"].as_str())
        .expect("kubectl's token is listed");
    let out = admin.run(&["token", "revoke", kube_token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    admin.kubectl_ok(&["get", "deployments"]);

    // Signed out, kubectl has no credential and says how to get one.
    admin.ok(&["logout"]);
    let out = admin.kubectl(&["get", "pods"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("berth login"), "{stderr}");
}

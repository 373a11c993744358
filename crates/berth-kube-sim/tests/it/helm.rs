//! A real Helm (v4) against the cluster: install with `--wait`, status,
//! upgrade with changed values, uninstall. Helm stores releases as Secrets
//! sent in protobuf, reads `/openapi/v3`, applies server-side and waits on
//! Deployment conditions: each is a part of the simulator this exercises.
//! Against a real cluster older than Berth supports, `TestCluster::new`
//! says so before Helm runs (Helm 4's server-side apply fails obscurely on
//! a 1.20 server).

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};

use berth_kube_sim::testing::helm;

use crate::TestCluster;

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, text).expect("write");
}

/// A chart with a Deployment, a Service, a ConfigMap and a Secret.
fn chart(root: &Path) -> PathBuf {
    let chart = root.join("demo");
    write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    );
    write(&chart, "values.yaml", "replicaCount: 1\nmessage: hello\n");
    write(
        &chart,
        "templates/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      containers:
        - name: web
          image: registry.k8s.io/pause:3.9
          ports: [{containerPort: 8080}]
"#,
    );
    write(
        &chart,
        "templates/service.yaml",
        r#"apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector: {app: {{ .Release.Name }}-web}
  ports: [{port: 80, targetPort: 8080}]
"#,
    );
    write(
        &chart,
        "templates/configmap.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
"#,
    );
    write(
        &chart,
        "templates/secret.yaml",
        r#"apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-secret
stringData:
  password: s3cret
"#,
    );
    chart
}

fn run(helm: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(helm)
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("HELM_CACHE_HOME", kubeconfig.with_file_name("helm-cache"))
        .env("HELM_CONFIG_HOME", kubeconfig.with_file_name("helm-config"))
        .env("HELM_DATA_HOME", kubeconfig.with_file_name("helm-data"))
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn api(
    cluster: &TestCluster,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        cluster.client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installs_upgrades_and_uninstalls_a_chart() {
    let helm = helm();
    let cluster = TestCluster::new().await.expect("cluster");
    let ns = cluster.namespace("helm").await.expect("namespace");
    let temp = tempfile::tempdir().expect("temp");
    let kubeconfig = temp.path().join("kubeconfig");
    match cluster.simulator() {
        Some(sim) => std::fs::write(&kubeconfig, sim.kubeconfig()).expect("kubeconfig"),
        None => {
            let real =
                std::env::var_os("BERTH_TEST_KUBECONFIG").expect("a real cluster's kubeconfig");
            std::fs::copy(real, &kubeconfig).expect("kubeconfig");
        }
    }
    let chart = chart(temp.path());
    let chart = chart.to_str().expect("utf-8 path");

    // `--wait` waits for the Deployment's pods: only where pods run (a bare
    // control plane has no node to run them).
    let wait = cluster.runs_pods().await.expect("nodes");
    if !wait {
        eprintln!("the cluster has no Ready node: installing without --wait");
    }
    let helm_ = helm.clone();
    let kc = kubeconfig.clone();
    let namespace = ns.clone();
    let chart_ = chart.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["install", "demo", &chart_, "-n", &namespace];
        if wait {
            args.extend(["--wait", "--timeout", "60s"]);
        }
        run(&helm_, &kc, &args)
    })
    .await
    .expect("install");
    let deployments = api(&cluster, &ns, "apps", "v1", "Deployment", "deployments");
    let configmaps = api(&cluster, &ns, "", "v1", "ConfigMap", "configmaps");
    let secrets = api(&cluster, &ns, "", "v1", "Secret", "secrets");
    let services = api(&cluster, &ns, "", "v1", "Service", "services");
    let web = deployments.get("demo-web").await.expect("deployment");
    assert_eq!(web.data["spec"]["replicas"], 1);
    assert_eq!(
        configmaps.get("demo-config").await.expect("configmap").data["data"]["message"],
        "hello"
    );
    secrets.get("demo-secret").await.expect("secret");
    services.get("demo-web").await.expect("service");
    // Helm's own record of the release, stored as a Secret.
    let releases = secrets
        .list(&ListParams::default().labels("owner=helm,name=demo"))
        .await
        .expect("releases");
    assert_eq!(releases.items.len(), 1);

    let status = run(
        &helm,
        &kubeconfig,
        &["status", "demo", "-n", &ns, "-o", "json"],
    );
    let status: serde_json::Value = serde_json::from_str(&status).expect("status json");
    assert_eq!(status["info"]["status"], "deployed");
    assert_eq!(status["version"], 1);

    run(
        &helm,
        &kubeconfig,
        &[
            "upgrade",
            "demo",
            chart,
            "-n",
            &ns,
            "--set",
            "replicaCount=2",
            "--set",
            "message=bye",
        ],
    );
    assert_eq!(
        deployments.get("demo-web").await.expect("deployment").data["spec"]["replicas"],
        2
    );
    assert_eq!(
        configmaps.get("demo-config").await.expect("configmap").data["data"]["message"],
        "bye"
    );
    let status = run(
        &helm,
        &kubeconfig,
        &["status", "demo", "-n", &ns, "-o", "json"],
    );
    let status: serde_json::Value = serde_json::from_str(&status).expect("status json");
    assert_eq!(status["version"], 2);

    run(
        &helm,
        &kubeconfig,
        &["uninstall", "demo", "-n", &ns, "--wait"],
    );
    assert!(
        deployments
            .get_opt("demo-web")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        configmaps
            .get_opt("demo-config")
            .await
            .expect("get")
            .is_none()
    );
    assert!(secrets.get_opt("demo-secret").await.expect("get").is_none());
    let releases = secrets
        .list(&ListParams::default().labels("owner=helm,name=demo"))
        .await
        .expect("releases");
    assert!(releases.items.is_empty(), "the release records are gone");
    cluster.cleanup().await.expect("cleanup");
}

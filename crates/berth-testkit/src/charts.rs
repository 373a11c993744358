//! Chart repositories for tests: real charts packaged and indexed by the
//! real Helm, served over loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helm;

/// Serves the files of `dir` over loopback; answers its base URL.
pub async fn serve_dir(dir: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let dir = dir.clone();
        async move {
            let name = uri.path().trim_start_matches('/');
            match std::fs::read(dir.join(name)) {
                Ok(bytes) if !name.contains("..") => (axum::http::StatusCode::OK, bytes),
                _ => (axum::http::StatusCode::NOT_FOUND, b"not found".to_vec()),
            }
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Runs the tests' Helm with its homes under `home`; fails the test if
/// it fails.
pub fn helm_run(args: &[&str], home: &Path) {
    let out = Command::new(helm())
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `text` to `root/path`, making its folders.
pub fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, text).expect("write");
}

/// Packages version `version` of the `demo` chart (a Deployment, a
/// Service, a ConfigMap and a Secret; a post-install hook Job; a values
/// schema; a template that fails when `fail` is set) into `repo` and
/// indexes it.
pub fn publish_demo(work: &Path, repo: &Path, url: &str, version: &str) {
    let chart = work.join("demo");
    write(
        &chart,
        "Chart.yaml",
        &format!(
            "apiVersion: v2\nname: demo\ndescription: A web app\nversion: {version}\nappVersion: \"1.0\"\n"
        ),
    );
    write(
        &chart,
        "values.yaml",
        "replicaCount: 1\nmessage: hello\npassword: \"\"\nfail: false\n",
    );
    write(
        &chart,
        "values.schema.json",
        r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["replicaCount"],
  "properties": {
    "replicaCount": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Pods"},
    "message": {"type": "string"},
    "password": {"type": "string", "format": "password"},
    "fail": {"type": "boolean"}
  }
}"#,
    );
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
"#,
    );
    write(
        &chart,
        "templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  selector: {app: {{ .Release.Name }}-web}\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    write(
        &chart,
        "templates/configmap.yaml",
        "{{ if .Values.fail }}{{ fail \"the chart refuses: fail is set\" }}{{ end }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  message: {{ .Values.message | quote }}\n",
    );
    write(
        &chart,
        "templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-secret\nstringData:\n  password: {{ .Values.password | quote }}\n",
    );
    // A hook Job, as many charts have (Helm waits for it to complete).
    write(
        &chart,
        "templates/hook.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: post-install,post-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: migrate\n          image: registry.k8s.io/pause:3.9\n",
    );
    write(
        &chart,
        "templates/NOTES.txt",
        "{{ .Release.Name }} serves on port 80.\n",
    );
    let chart = chart.to_str().expect("utf-8");
    let repo_dir = repo.to_str().expect("utf-8");
    helm_run(&["package", chart, "-d", repo_dir], work);
    helm_run(&["repo", "index", repo_dir, "--url", url], work);
}

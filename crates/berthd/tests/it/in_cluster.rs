//! `berthd` in `kubernetes.mode = "in_cluster"` where that cannot work:
//! outside a pod, it stops and names the variable that is missing; in a pod
//! without a service account, the file; with the API server unreachable, it
//! serves but never says "berthd ready", `/readyz` names the API's URL and
//! the error, and the log says the cause once, as a warning, with no ERROR
//! lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_core::{ComponentStatus, ReadinessReport};
use berth_testkit::eventually;

use crate::daemon::{BERTHD, Daemon, wait_with_deadline};

/// A CA certificate of no one (P-256, self-signed, CN berth-test-ca): the
/// client needs a parseable bundle; nothing is ever verified with it, since
/// the API's port is closed.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBhjCCAS2gAwIBAgIUJh7Qvh1f09l9zm2EZoR+/DI8HcEwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYmVydGgtdGVzdC1jYTAgFw0yNjEyMDcwODI5MTJaGA8yMTI2
MTExMzA4MjkxMlowGDEWMBQGA1UEAwwNYmVydGgtdGVzdC1jYTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABIc5jWhWnMachzrNWfmOaxYix1opSo1ZDeONzx6pjArb
k/60FECOWIRvgYeoJaFvHS1GUBEpCogOUc8OZJ7eRDWjUzBRMB0GA1UdDgQWBBQY
UNy6q26RFpGuI+QUkgWYxup7jjAfBgNVHSMEGDAWgBQYUNy6q26RFpGuI+QUkgWY
xup7jjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIGLj8DU6joyt
pPyvZjB+/0VaVnZxtCvDmKkPoUuCE+OxAiABGMYn8HddyG0AVJD7dtSipyAB4cb+
aCQv5r5BK+yTRA==
-----END CERTIFICATE-----
";

const DEADLINE: Duration = Duration::from_secs(30);

/// A config file for in-cluster mode, with the service account in
/// `service_account_dir` when given.
fn in_cluster_config(dir: &Path, service_account_dir: Option<&Path>) -> std::path::PathBuf {
    let mut text = "[kubernetes]\nmode = \"in_cluster\"\n".to_owned();
    if let Some(sa) = service_account_dir {
        text.push_str(&format!(
            "service_account_dir = {:?}\n",
            sa.display().to_string()
        ));
    }
    let path = dir.join("berthd.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// Runs `berthd serve` to its exit and returns its stderr.
fn serve_until_exit(config: &Path, data_dir: &Path, env: &[(&str, &str)]) -> String {
    let mut child = Command::new(BERTHD)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berthd starts");
    let status = wait_with_deadline(&mut child, DEADLINE).expect("berthd exits");
    assert!(!status.success(), "berthd served without a cluster");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    stderr
}

#[test]
fn outside_a_pod_berthd_names_the_missing_variable_and_what_to_do() {
    let temp = tempfile::tempdir().expect("temp");
    let config = in_cluster_config(temp.path(), None);
    let stderr = serve_until_exit(&config, &temp.path().join("data"), &[]);
    assert!(
        stderr.contains(
            "berthd: error: kubernetes.mode is \"in_cluster\" but KUBERNETES_SERVICE_HOST is not set: berthd is not running in a Kubernetes pod"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("mode = \"kubeconfig\""), "{stderr}");
    assert!(
        !stderr.contains("environment variable not found"),
        "{stderr}"
    );
}

#[test]
fn in_a_pod_without_a_service_account_berthd_names_the_token_file() {
    let temp = tempfile::tempdir().expect("temp");
    let account = temp.path().join("serviceaccount");
    std::fs::create_dir(&account).expect("dir");
    let config = in_cluster_config(temp.path(), Some(&account));
    let stderr = serve_until_exit(
        &config,
        &temp.path().join("data"),
        &[
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
        ],
    );
    let token = account.join("token");
    assert!(
        stderr.contains(&format!(
            "the service account token {} cannot be read",
            token.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("automountServiceAccountToken"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_unreachable_readyz_names_it_and_berthd_never_says_ready() {
    let temp = tempfile::tempdir().expect("temp");
    let account = temp.path().join("serviceaccount");
    std::fs::create_dir(&account).expect("dir");
    std::fs::write(account.join("token"), "a-token").expect("token");
    std::fs::write(account.join("ca.crt"), TEST_CA).expect("ca");
    std::fs::write(account.join("namespace"), "berth-system").expect("namespace");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let api = format!("https://127.0.0.1:{port}");
    let config = in_cluster_config(temp.path(), Some(&account));
    let port_text = port.to_string();
    let daemon = Daemon::start_listening(
        Path::new(BERTHD),
        &temp.path().join("data"),
        &["--config", config.to_str().expect("utf-8")],
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", &port_text),
        ],
    )
    .expect("berthd listens");

    let url = format!("{}/readyz", daemon.url);
    let reason = eventually(DEADLINE, "/readyz to name the unreachable API", || {
        let url = url.clone();
        async move {
            let answer = reqwest::get(&url).await?;
            assert_eq!(answer.status(), 503);
            let report: ReadinessReport = answer.json().await?;
            assert!(!report.ready);
            Ok(match report.components.get("kubernetes") {
                Some(ComponentStatus::NotReady { reason }) if reason.contains("refused") => {
                    Some(reason.clone())
                }
                _ => None,
            })
        }
    })
    .await
    .expect("readyz");
    assert!(
        reason.starts_with(&format!(
            "cannot reach the Kubernetes API at {api}: connection refused"
        )),
        "{reason}"
    );
    assert!(reason.contains("; last tried "), "{reason}");
    assert!(reason.ends_with(" s ago"), "{reason}");

    // Past the bounded wait at start, the log says why it is not ready...
    let events = || -> Vec<serde_json::Value> {
        daemon
            .log_text()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };
    let waiting = eventually(DEADLINE, "the not-ready-yet line", || {
        let found = events().into_iter().find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("berthd is serving but not ready yet"))
        });
        async move { Ok(found) }
    })
    .await
    .expect("log");
    let waiting_for = waiting["waiting_for"].as_str().unwrap_or_default();
    assert!(
        waiting_for.contains(&format!(
            "kubernetes: cannot reach the Kubernetes API at {api}"
        )),
        "{waiting}"
    );

    // ...and never that it is ready; the cause is one warning with the
    // URL, and nothing is an ERROR.
    let events = events();
    let log = daemon.log_text();
    assert!(
        !events.iter().any(|e| e["message"] == "berthd ready"),
        "berthd said ready:\n{log}"
    );
    let errors: Vec<_> = events.iter().filter(|e| e["level"] == "ERROR").collect();
    assert!(errors.is_empty(), "ERROR lines: {errors:#?}");
    let causes: Vec<_> = events
        .iter()
        .filter(|e| {
            e["level"] == "WARN"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("cannot reach the Kubernetes API"))
        })
        .collect();
    assert_eq!(causes.len(), 1, "one warning per cause:\n{log}");
    assert_eq!(causes[0]["api"], api.as_str(), "{}", causes[0]);
}

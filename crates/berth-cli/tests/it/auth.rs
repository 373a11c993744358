//! `berth login|logout|whoami`, `berth token ...` and `berth user ...`
//! against a real server, and the device-code sign-in against a real
//! identity provider.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use berth_testkit::{OidcProvider, TestServer};

use crate::Cli;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) async fn server_with_admin() -> TestServer {
    let server = TestServer::start().await.expect("server");
    server.admin_token().await.expect("admin");
    server
}

impl Cli {
    pub(crate) fn login_with_password(&self, url: &str) {
        let stderr = self.login_as(url, "admin");
        assert!(stderr.contains("as admin (admin)"), "{stderr}");
    }

    /// Signs `user` in with the test password, as context `dev`; returns
    /// what the CLI said.
    pub(crate) fn login_as(&self, url: &str, user: &str) -> String {
        let out = self.run_with_stdin(
            &[
                "login",
                url,
                "--name",
                "dev",
                "--username",
                user,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_tokens_users_and_logout() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    let stored = std::fs::read_to_string(cli.config_file()).expect("config");
    assert!(
        stored.contains("berth_cli_"),
        "the token is kept in the private config file"
    );
    assert_eq!(
        cli.ok(&["whoami"]).trim(),
        "admin (admin), signed in with a token"
    );

    let secret = cli.ok(&[
        "token",
        "create",
        "ci",
        "--scope",
        "read",
        "--expires-in-days",
        "3",
    ]);
    assert!(secret.trim().starts_with("berth_pat_"), "{secret}");
    let tokens: serde_json::Value =
        serde_json::from_str(&cli.ok(&["token", "list", "-o", "json"])).expect("json");
    let ci = tokens
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "ci")
        .expect("ci token")
        .clone();
    assert_eq!(ci["scopes"], serde_json::json!(["read"]));

    // The new token works on its own, as CI would use it.
    let out = cli
        .command(&["whoami", "-o", "json"])
        .env("BERTH_URL", &server.url)
        .env("BERTH_TOKEN", secret.trim())
        .output()
        .expect("berth runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    cli.ok(&["token", "revoke", ci["id"].as_str().expect("id")]);
    let made = cli.run_with_stdin(
        &["user", "create", "dana", "--role", "auditor"],
        "another long password\n",
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let users = cli.ok(&["user", "list"]);
    assert!(
        users.contains("admin") && users.contains("dana") && users.contains("auditor"),
        "{users}"
    );
    let stderr = cli.fails(&["user", "disable", "nobody"]);
    assert!(stderr.contains("no user named nobody"), "{stderr}");

    let out = cli.run(&["logout"]);
    assert!(out.status.success());
    let stderr = cli.fails(&["whoami"]);
    assert!(stderr.contains("berth login"), "{stderr}");
    let stored = std::fs::read_to_string(cli.config_file()).expect("config");
    assert!(!stored.contains("berth_cli_"), "logout forgets the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_one_clear_failure() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    let out = cli.run_with_stdin(
        &[
            "login",
            &server.url,
            "--username",
            "admin",
            "--password-stdin",
        ],
        "not the password\n",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong user name or password"), "{stderr}");
    assert!(stderr.contains("to fix:"), "{stderr}");
}

/// `berth login` on a server with single sign-on uses the device grant: it
/// prints where to approve, and finishes once the user has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_login_through_the_identity_provider() {
    let provider = OidcProvider::start_standard().expect("identity provider");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with(provider.auth_config(dir.path()).expect("config"))
        .await
        .expect("server");
    let cli = Cli::new();
    let mut child = cli
        .command(&["login", &server.url, "--name", "sso"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let complete = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("berth prints where to sign in");
        if let Some(url) = line
            .strip_prefix("(or open ")
            .and_then(|l| l.strip_suffix(')'))
        {
            break url.to_owned();
        }
    };
    provider
        .approve_device(&complete, "alice")
        .await
        .expect("approve");
    let status = berth_testkit::wait_with_deadline(&mut child, Duration::from_secs(30))
        .expect("berth exits");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("as alice (admin)")),
        "{rest:?}"
    );
    assert!(cli.ok(&["whoami"]).starts_with("alice (admin)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_from_the_command_line() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    cli.ok(&["token", "create", "audited"]);
    let listed = cli.ok(&["audit", "list", "--action", "token."]);
    assert!(
        listed.contains("token.create") && listed.contains("token/audited"),
        "{listed}"
    );
    assert!(
        !listed.contains("auth.login"),
        "the filter applies: {listed}"
    );
    let verified = cli.ok(&["audit", "verify"]);
    assert!(verified.starts_with("ok: "), "{verified}");
    let exported = cli.ok(&["audit", "export", "--actor", "admin"]);
    let events: Vec<serde_json::Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(events.iter().any(|e| e["action"] == "token.create"));
    assert!(events.iter().all(|e| e["actor"]["name"] == "admin"));
    let key = cli.ok(&["audit", "public-key"]);
    assert_eq!(key.trim().len(), 64);
    let stderr = cli.fails(&["audit", "list", "--since", "yesterday"]);
    assert!(stderr.contains("--since"), "{stderr}");
}

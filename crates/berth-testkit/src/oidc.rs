//! A real OpenID Connect provider for tests: `tests/oidc/provider.mjs`
//! (the certified `oidc-provider` package) as a child process, and
//! `tests/oidc/drive.mjs`, which plays the user's browser.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    dir: PathBuf,
    http: reqwest::Client,
}

/// `tests/oidc` in this repository.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc")
}

/// The secret of the standard test client `berth`.
pub const CLIENT_SECRET: &str = "berth-test-client-secret";

impl OidcProvider {
    /// The provider with one confidential client, `berth` (a native client,
    /// so any loopback port may receive its redirects), and two users:
    /// `alice` in groups `berth-admins` and `dev`, and `carol` (preferred
    /// user name "Carol Smith") in `dev`.
    pub fn start_standard() -> anyhow::Result<OidcProvider> {
        OidcProvider::start(
            &serde_json::json!([{
                "client_id": "berth",
                "client_secret": CLIENT_SECRET,
                "application_type": "native",
                "redirect_uris": ["http://127.0.0.1/auth/oidc/callback"],
                "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic"
            }]),
            &serde_json::json!({
                "alice": {"email": "alice@example.com", "email_verified": true, "name": "Alice", "preferred_username": "alice", "groups": ["berth-admins", "dev"]},
                "carol": {"email": "carol@example.com", "email_verified": true, "name": "Carol", "preferred_username": "Carol Smith", "groups": ["dev"]}
            }),
        )
    }

    /// A sign-in configuration for the standard client, with
    /// `berth-admins` mapped to admin and `example.com` the allowed domain.
    /// The client secret is written to a file in `dir`.
    pub fn auth_config(
        &self,
        dir: &std::path::Path,
    ) -> anyhow::Result<berth_auth::config::AuthConfig> {
        let secret_file = dir.join("oidc-client-secret");
        std::fs::write(&secret_file, CLIENT_SECRET)?;
        Ok(berth_auth::config::AuthConfig {
            oidc: Some(berth_auth::config::OidcConfig {
                issuer_url: self.issuer.clone(),
                client_id: "berth".to_owned(),
                client_secret_file: secret_file,
                display_name: "Test SSO".to_owned(),
                scopes: ["openid", "profile", "email", "groups"]
                    .map(str::to_owned)
                    .to_vec(),
                username_claim: "preferred_username".to_owned(),
                email_claim: "email".to_owned(),
                groups_claim: "groups".to_owned(),
                allowed_email_domains: vec!["example.com".to_owned()],
                required_groups: vec![],
                clock_skew: Duration::from_secs(5),
                admin_groups: vec!["berth-admins".to_owned()],
                auditor_groups: vec![],
            }),
            ..berth_auth::config::AuthConfig::default()
        })
    }

    /// Starts the provider with `clients` (oidc-provider client metadata)
    /// and `users` (account id -> claims).
    pub fn start(clients: &Value, users: &Value) -> anyhow::Result<OidcProvider> {
        let dir = fixture_dir();
        anyhow::ensure!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test identity provider is not installed: run `cargo xtask setup`"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("OIDC_PORT", "0")
            .env("OIDC_CLIENTS", clients.to_string())
            .env("OIDC_USERS", users.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start node tests/oidc/provider.mjs")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .context("the identity provider did not start within 30 s")?;
        let ready: Value = serde_json::from_str(line.trim()).with_context(|| {
            format!("the identity provider did not print its ready line (got {line:?})")
        })?;
        let issuer = ready["issuer"]
            .as_str()
            .context("ready line without issuer")?
            .to_owned();
        Ok(OidcProvider {
            child,
            issuer,
            dir,
            http: reqwest::Client::new(),
        })
    }

    /// Makes the provider sign with a new key from now on; returns its kid.
    pub async fn rotate_keys(&self) -> anyhow::Result<String> {
        let answer: Value = self
            .http
            .post(format!("{}/__test/rotate-keys", self.issuer))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer["kid"].as_str().context("no kid")?.to_owned())
    }

    /// A JWT with exactly `claims`, signed with the provider's current key.
    pub async fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let answer: Value = self
            .http
            .post(format!("{}/__test/sign", self.issuer))
            .json(claims)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer["jwt"].as_str().context("no jwt")?.to_owned())
    }

    async fn drive(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = tokio::process::Command::new("node")
            .arg("drive.mjs")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .await
            .context("cannot run node tests/oidc/drive.mjs")?;
        if !out.status.success() {
            bail!(
                "drive.mjs {} failed: {}{}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Signs `login` in at `authorization_url` as a browser would; returns
    /// the URL the provider redirects back to (with code and state).
    pub async fn authorize(&self, authorization_url: &str, login: &str) -> anyhow::Result<String> {
        self.drive(&["authorize", authorization_url, login]).await
    }

    /// Approves a device sign-in as `login`.
    pub async fn approve_device(
        &self,
        verification_uri_complete: &str,
        login: &str,
    ) -> anyhow::Result<()> {
        let said = self
            .drive(&["device", verification_uri_complete, login])
            .await?;
        anyhow::ensure!(said == "approved", "device approval said {said:?}");
        Ok(())
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

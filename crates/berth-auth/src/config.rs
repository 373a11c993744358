//! The `[auth]` section of `berthd.toml`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Built-in accounts (the first admin and break-glass). Turn off once SSO
    /// works; the setup link is then never printed.
    pub local_accounts: bool,
    /// How long the first-admin setup link stays valid.
    #[serde(with = "humantime_serde")]
    pub setup_link_ttl: Duration,
    /// A console session ends after this long without a request...
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// ...and after this long in any case.
    #[serde(with = "humantime_serde")]
    pub session_max_lifetime: Duration,
    /// Lifetime of the token `berth login` receives.
    #[serde(with = "humantime_serde")]
    pub cli_token_ttl: Duration,
    /// Lifetime of the tokens kubectl gets from `berth kube-credential`.
    #[serde(with = "humantime_serde")]
    pub kube_token_ttl: Duration,
    /// The longest lifetime a personal access token may ask for.
    #[serde(with = "humantime_serde")]
    pub max_token_ttl: Duration,
    /// Failed and successful sign-ins allowed per account per minute.
    pub login_attempts_per_account: u32,
    /// Sign-ins allowed per source address per minute.
    pub login_attempts_per_source: u32,
    /// Mark cookies `Secure`. Leave unset to decide from `server.public_url`
    /// (https means secure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_cookies: Option<bool>,
    /// Single sign-on with an OpenID Connect provider; off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            local_accounts: true,
            setup_link_ttl: Duration::from_secs(3600),
            session_idle_timeout: Duration::from_secs(12 * 3600),
            session_max_lifetime: Duration::from_secs(7 * 24 * 3600),
            cli_token_ttl: Duration::from_secs(30 * 24 * 3600),
            kube_token_ttl: Duration::from_secs(3600),
            max_token_ttl: Duration::from_secs(365 * 24 * 3600),
            login_attempts_per_account: 10,
            login_attempts_per_source: 30,
            secure_cookies: None,
            oidc: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL; discovery is read from
    /// `<issuer_url>/.well-known/openid-configuration`.
    pub issuer_url: String,
    pub client_id: String,
    /// A file holding the client secret (mounted from a Kubernetes Secret).
    pub client_secret_file: PathBuf,
    /// The name on the console's sign-in button.
    #[serde(default = "default_display_name")]
    pub display_name: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the user; normalized into a Berth user name.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// When not empty, only these email domains may sign in.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// When not empty, a user must be in at least one of these groups.
    #[serde(default)]
    pub required_groups: Vec<String>,
    /// Tolerance for clock differences with the provider.
    #[serde(default = "default_skew", with = "humantime_serde")]
    pub clock_skew: Duration,
    /// Initial group-to-role mapping; admins edit it in the console after.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    #[serde(default)]
    pub auditor_groups: Vec<String>,
}

fn default_display_name() -> String {
    "single sign-on".to_owned()
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "groups"]
        .map(str::to_owned)
        .to_vec()
}

fn default_username_claim() -> String {
    "preferred_username".to_owned()
}

fn default_email_claim() -> String {
    "email".to_owned()
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

fn default_skew() -> Duration {
    Duration::from_secs(60)
}

impl AuthConfig {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("auth.setup_link_ttl", self.setup_link_ttl),
            ("auth.session_idle_timeout", self.session_idle_timeout),
            ("auth.session_max_lifetime", self.session_max_lifetime),
            ("auth.cli_token_ttl", self.cli_token_ttl),
            ("auth.kube_token_ttl", self.kube_token_ttl),
            ("auth.max_token_ttl", self.max_token_ttl),
        ] {
            if value < Duration::from_secs(1) {
                return Err(format!("{key} must be at least 1s"));
            }
        }
        if self.login_attempts_per_account == 0 || self.login_attempts_per_source == 0 {
            return Err("auth.login_attempts_per_account and auth.login_attempts_per_source must be at least 1".to_owned());
        }
        if !self.local_accounts && self.oidc.is_none() {
            return Err(
                "auth.local_accounts = false needs [auth.oidc], or nobody could sign in".to_owned(),
            );
        }
        if let Some(oidc) = &self.oidc {
            if !(oidc.issuer_url.starts_with("https://") || oidc.issuer_url.starts_with("http://"))
            {
                return Err(format!(
                    "auth.oidc.issuer_url must be an http(s) URL, not {:?}",
                    oidc.issuer_url
                ));
            }
            if oidc.client_id.is_empty() {
                return Err("auth.oidc.client_id must not be empty".to_owned());
            }
            if !oidc.scopes.iter().any(|s| s == "openid") {
                return Err("auth.oidc.scopes must include \"openid\"".to_owned());
            }
            match std::fs::read_to_string(&oidc.client_secret_file) {
                Ok(secret) if !secret.trim().is_empty() => {}
                Ok(_) => {
                    return Err(format!(
                        "auth.oidc.client_secret_file {} is empty",
                        oidc.client_secret_file.display()
                    ));
                }
                Err(err) => {
                    return Err(format!(
                        "auth.oidc.client_secret_file {} cannot be read: {err}",
                        oidc.client_secret_file.display()
                    ));
                }
            }
        }
        Ok(())
    }
}

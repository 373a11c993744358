//! Configuration: built-in defaults < `--config FILE` (TOML) < `BERTH_*`
//! environment < command-line flags, merged by figment and checked at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// `BERTH_*` variables that are not daemon configuration: `BERTH_CONFIG`
/// names the file, the `berth` CLI reads the others, and tests read
/// `BERTH_TEST_*`. Every other `BERTH_*` variable must name a setting.
const NOT_SETTINGS: &[&str] = &["config", "context", "url", "token", "space"];
const NOT_SETTINGS_PREFIXES: &[&str] = &["test_", "agent_"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub auth: berth_auth::config::AuthConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    #[serde(default)]
    pub spaces: berth_spaces::SpacesConfig,
    #[serde(default)]
    pub relay: berth_relay::RelayConfig,
    #[serde(default)]
    pub dev: berth_dev::DevConfig,
    #[serde(default)]
    pub catalog: berth_catalog::CatalogConfig,
    #[serde(default)]
    pub apps: berth_apps::AppsConfig,
}

/// Where the Kubernetes API is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KubeMode {
    /// Berth's own Kubernetes API simulator, saved under the data directory:
    /// for a try-out on one machine.
    Embedded,
    /// The cluster the daemon runs in, through its pod's service account.
    InCluster,
    /// The cluster a kubeconfig file names.
    Kubeconfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    pub mode: KubeMode,
    /// With `mode = "kubeconfig"`: the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// With `mode = "kubeconfig"`: a context other than the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            mode: KubeMode::Embedded,
            kubeconfig: None,
            context: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often the head of the chain is signed.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Events older than this are pruned; kept forever when unset.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub retention: Option<Duration>,
    /// Ship every event to this OTLP/HTTP logs collector (base URL), at
    /// least once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// A file of `Name: value` lines sent as headers to the collector (an
    /// API key, for example).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_headers_file: Option<PathBuf>,
}

impl AuditConfig {
    /// The collector headers from `otlp_headers_file`.
    pub fn otlp_headers(&self) -> anyhow::Result<Vec<(String, String)>> {
        let Some(file) = &self.otlp_headers_file else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(file).with_context(|| {
            format!(
                "invalid configuration: audit.otlp_headers_file {} cannot be read",
                file.display()
            )
        })?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| match line.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.trim().to_owned())),
                _ => bail!("invalid configuration: audit.otlp_headers_file {} has a line that is not `Name: value`", file.display()),
            })
            .collect()
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_interval: Duration::from_secs(60),
            retention: None,
            otlp_endpoint: None,
            otlp_headers_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The URL users reach the daemon at, when it differs from `listen`
    /// (behind an ingress): used in links the daemon prints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long shutdown waits for in-flight requests and WebSockets.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter; `RUST_LOG`, when set, takes its place.
    pub filter: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector; traces and metrics are exported
    /// there when set, and nowhere when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
    /// Share of new traces to sample, from 0 to 1; a caller's sampled
    /// `traceparent` is always followed.
    pub trace_sample_ratio: f64,
    /// How often metrics are pushed to the collector.
    #[serde(with = "humantime_serde")]
    pub metrics_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./.berth"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            server: ServerConfig::default(),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: berth_auth::config::AuthConfig::default(),
            audit: AuditConfig::default(),
            kubernetes: KubernetesConfig::default(),
            spaces: berth_spaces::SpacesConfig::default(),
            relay: berth_relay::RelayConfig::default(),
            dev: berth_dev::DevConfig::default(),
            catalog: berth_catalog::CatalogConfig::default(),
            apps: berth_apps::AppsConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: None,
            shutdown_grace: Duration::from_secs(4),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Pretty,
            filter: "info".to_owned(),
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "berthd".to_owned(),
            trace_sample_ratio: 1.0,
            metrics_interval: Duration::from_secs(30),
        }
    }
}

/// Settings given on the command line; they win over everything else.
#[derive(Debug, Default, clap::Args)]
pub struct Overrides {
    /// A TOML configuration file.
    #[arg(long, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory holding the store [default: ./.berth].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Log format [default: pretty].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

impl Overrides {
    pub fn from_file(file: PathBuf) -> Overrides {
        Overrides {
            config: Some(file),
            ..Overrides::default()
        }
    }
}

impl Config {
    /// Merges every source and validates the result. Errors name the key and
    /// the file or variable it came from.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &overrides.config {
            if !file.is_file() {
                bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("BERTH_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                let key = key.as_str();
                !NOT_SETTINGS.contains(&key)
                    && !NOT_SETTINGS_PREFIXES.iter().any(|p| key.starts_with(p))
            })
            .split("__");
        figment = figment.merge(env);
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", dir));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("listen", listen));
        }
        if let Some(format) = overrides.log_format {
            figment = figment.merge(Serialized::default("log.format", format));
        }
        let config: Config = figment
            .extract()
            .map_err(|err| anyhow::anyhow!(describe(err)))
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.server.public_url {
            check_http_url("server.public_url", url)?;
        }
        if let Some(url) = &self.telemetry.otlp_endpoint {
            check_http_url("telemetry.otlp_endpoint", url)?;
        }
        let ratio = self.telemetry.trace_sample_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            bail!(
                "invalid configuration: telemetry.trace_sample_ratio must be between 0 and 1, not {ratio}"
            );
        }
        if self.telemetry.metrics_interval < Duration::from_secs(1) {
            bail!("invalid configuration: telemetry.metrics_interval must be at least 1s");
        }
        if self.telemetry.service_name.trim().is_empty() {
            bail!("invalid configuration: telemetry.service_name must not be empty");
        }
        if self.audit.checkpoint_interval < Duration::from_secs(1) {
            bail!("invalid configuration: audit.checkpoint_interval must be at least 1s");
        }
        if self
            .audit
            .retention
            .is_some_and(|r| r < Duration::from_secs(3600))
        {
            bail!("invalid configuration: audit.retention must be at least 1h");
        }
        self.auth
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        self.spaces
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: spaces: {e}"))?;
        self.relay
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: relay: {e}"))?;
        self.catalog
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: catalog: {e}"))?;
        self.apps
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: apps: {e}"))?;
        if self.apps.local_helm && self.kubernetes.mode == KubeMode::InCluster {
            bail!(
                "invalid configuration: apps.local_helm runs helm with a kubeconfig: it needs the embedded cluster or kubernetes.mode = \"kubeconfig\""
            );
        }
        match (self.kubernetes.mode, &self.kubernetes.kubeconfig) {
            (KubeMode::Kubeconfig, None) => bail!(
                "invalid configuration: kubernetes.mode is \"kubeconfig\" but kubernetes.kubeconfig names no file"
            ),
            (KubeMode::Embedded | KubeMode::InCluster, Some(_)) => bail!(
                "invalid configuration: kubernetes.kubeconfig is set but kubernetes.mode is not \"kubeconfig\""
            ),
            _ => {}
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            bail!(
                "invalid configuration: log.filter {:?} is not a valid filter (example: \"info,berth_server=debug\")",
                self.log.filter
            );
        }
        Ok(())
    }
}

fn check_http_url(key: &str, url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => bail!(
            "invalid configuration: {key} must be an http:// or https:// URL with a host, not {url:?}"
        ),
    }
}

/// One line per error, each naming the key and the file or variable it came from.
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let path: Vec<String> = e.path.iter().map(|p| p.to_ascii_lowercase()).collect();
            let source = match &e.metadata {
                Some(meta) if meta.name.contains("environment") => {
                    format!(
                        "environment variable BERTH_{}",
                        path.join("__").to_ascii_uppercase()
                    )
                }
                Some(meta) => match &meta.source {
                    Some(source) => source.to_string(),
                    None => meta.name.to_string(),
                },
                None => "the command line".to_owned(),
            };
            format!("{}: {} (in {source})", path.join("."), e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The output of `berthd config default`. A test keeps it equal to
/// [`Config::default`].
pub const DEFAULT_TOML: &str = r#"# berthd configuration. Every key is optional; these are the defaults.
# Precedence: these defaults < this file (--config) < BERTH_* environment
# variables < command-line flags. Nested keys use a double underscore in the
# environment: BERTH_LOG__FORMAT=json sets [log] format.
# Secrets are never written here: settings that need one take a file path.

# Where the store lives (sled database, lock file, keys). --data-dir, BERTH_DATA_DIR
data_dir = "./.berth"

# The address the HTTP server binds. --listen, BERTH_LISTEN
listen = "127.0.0.1:8080"

[server]
# The URL users reach the daemon at, when it differs from `listen`
# (for example behind an ingress). Used in links the daemon prints.
# public_url = "https://berth.example.com"

# How long shutdown waits for in-flight requests and WebSockets to finish.
shutdown_grace = "4s"

[log]
# "pretty" for people, "json" for log pipelines. --log-format
format = "pretty"
# A RUST_LOG-style filter. RUST_LOG, when set, takes its place.
filter = "info"

[telemetry]
# Base URL of an OTLP/HTTP collector. Traces and metrics are exported there
# when set, and nowhere when not. /metrics serves Prometheus text either way.
# otlp_endpoint = "http://otel-collector:4318"

# The service.name resource attribute.
service_name = "berthd"

# Share of new traces to sample, from 0 to 1. A caller's sampled traceparent
# is always followed.
trace_sample_ratio = 1.0

# How often metrics are pushed to the collector.
metrics_interval = "30s"

[auth]
# Built-in accounts: the first admin (made with the setup link berthd prints
# while no user exists) and break-glass access. Turn off once SSO works.
local_accounts = true
# How long the first-admin setup link stays valid.
setup_link_ttl = "1h"
# A console session ends after this long without a request...
session_idle_timeout = "12h"
# ...and after this long in any case.
session_max_lifetime = "7days"
# Lifetime of the token `berth login` receives.
cli_token_ttl = "30days"
# The longest lifetime a personal access token may ask for.
max_token_ttl = "365days"
# Sign-ins allowed per account, and per source address, per minute.
login_attempts_per_account = 10
login_attempts_per_source = 30
# Mark cookies Secure. Unset: decided from server.public_url (https = secure).
# secure_cookies = true

# Single sign-on with any OpenID Connect provider. Uncomment to turn it on;
# register <public_url>/auth/oidc/callback as the redirect URI.
# [auth.oidc]
# issuer_url = "https://idp.example.com/realms/dev"
# client_id = "berth"
# client_secret_file = "/etc/berth/secrets/oidc-client-secret"
# display_name = "Example SSO"
# scopes = ["openid", "profile", "email", "groups"]
# username_claim = "preferred_username"
# email_claim = "email"
# groups_claim = "groups"
# allowed_email_domains = ["example.com"]
# required_groups = []
# clock_skew = "60s"
# The initial group-to-role mapping (then edited in the console):
# admin_groups = ["platform-admins"]
# auditor_groups = ["security"]

[audit]
# How often the head of the hash chain is signed with the audit key
# (<data_dir>/keys/audit-signing; export its public half with
# `berth audit public-key`).
checkpoint_interval = "1m"
# Events older than this are pruned (what remains still verifies).
# Unset: kept forever.
# retention = "400days"
# Ship every event to an OTLP/HTTP logs collector, at least once (a cursor in
# the store survives outages and restarts).
# otlp_endpoint = "http://otel-collector:4318"
# A file of `Name: value` lines sent as headers (for example an API key).
# otlp_headers_file = "/etc/berth/secrets/otlp-headers"

[kubernetes]
# Where the Kubernetes API is: "embedded" (Berth's own simulator, saved under
# data_dir, for a try-out on one machine), "in_cluster" (the pod's service
# account; what the Helm chart sets) or "kubeconfig".
mode = "embedded"
# With mode = "kubeconfig": the file, and a context other than its current one.
# kubeconfig = "/home/me/.kube/config"
# context = "staging"

[spaces]
# Make each user a personal space, named after them, at their first sign-in.
personal_spaces = true
# The most spaces one user may own (admins are not limited).
max_per_user = 5
# A space with no activity (changes through the API, dev sessions, relay
# traffic, catalog actions) for this long sleeps: its Deployments and
# StatefulSets scale to zero and its CronJobs are suspended. Persistent
# spaces never sleep.
idle_sleep = "3h"
# A space idle for this long is deleted (persistent spaces never are).
# Unset: never.
# idle_delete = "14days"
idle_check_interval = "30s"
# Every space is checked at least this often, from the watch cache: no
# Kubernetes API request unless something drifted.
resync_interval = "10m"
# Spaces reconciled at once.
workers = 8
# The quota profile a space gets unless an admin picks another.
default_quota_profile = "default"
# The Pod Security admission level enforced in every space:
# "privileged", "baseline" or "restricted".
pod_security = "baseline"
# A NetworkPolicy in each space admits traffic only from the same space and
# from the ingress controllers' namespaces.
network_isolation = true
ingress_namespaces = ["ingress-nginx"]

# A quota profile: the ResourceQuota's `hard` limits and the LimitRange's
# container defaults. Add more as [spaces.quota_profiles.NAME].
[spaces.quota_profiles.default]
hard = { "requests.cpu" = "4", "requests.memory" = "8Gi", "limits.cpu" = "8", "limits.memory" = "16Gi", "pods" = "50", "persistentvolumeclaims" = "10" }
default_request = { cpu = "100m", memory = "128Mi" }
default_limit = { cpu = "1", memory = "1Gi" }

[relay]
# How long a dev session waits for a side that dropped (a laptop that slept,
# a proxy that cut an idle socket) to come back and resume.
grace = "2m"
# A session with no traffic either way for this long ends.
idle_timeout = "8h"
# Each side is pinged this often; one that answers nothing for two
# intervals is taken as gone.
ping_interval = "15s"
max_sessions_per_user = 10
max_streams_per_session = 256

[dev]
# The image holding the `berth` binary; dev containers copy their agent
# from it. Defaults to this release's image.
# agent_image = "ghcr.io/berth-dev/berth:0.1.0"
# How agents in dev pods reach berthd (the in-cluster Service URL); the
# public URL when left out.
# agent_url = "http://berth.berth.svc:8080"
# Run agents inside berthd, on folders under the data directory. Always on
# with the embedded cluster, which runs no pods.
local_agents = false

[catalog]
# How often every chart repository's index is fetched again (also on
# demand: `berth catalog repo refresh NAME`).
refresh_interval = "1h"
# How long one fetch of an index may take.
fetch_timeout = "30s"
# Repositories' credential and CA files must be under this folder (mount
# their Secrets there); without it, repositories take none.
# credentials_dir = "/etc/berth/catalog"

[apps]
# Helm installs catalog items into spaces as a Job in the space, under its
# installer ServiceAccount, from this image (its entry point is `helm`).
helm_image = "docker.io/alpine/helm:3.17.3"
# How long one install, upgrade or uninstall may take (Helm's --timeout).
timeout = "5m"
# Run helm as a process of berthd instead (always so with the embedded
# cluster, which runs no pods), found on PATH or here.
local_helm = false
# helm = "/usr/local/bin/helm"
"#;

// figment's Jail fixes its closures' error type, which clippy finds large.
#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn load(
        toml: Option<&str>,
        env: &[(&str, &str)],
        overrides: Overrides,
    ) -> anyhow::Result<Config> {
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            let mut overrides = overrides;
            if let Some(toml) = toml {
                jail.create_file("berthd.toml", toml)?;
                overrides.config = Some(PathBuf::from("berthd.toml"));
            }
            for (key, value) in env {
                jail.set_env(key, value);
            }
            result = Some(Config::load(&overrides).map_err(|e| anyhow::anyhow!("{e:#}")));
            Ok(())
        });
        result.expect("the jail ran the closure")
    }

    #[test]
    fn the_printed_default_is_the_default() {
        let parsed: Config =
            toml::from_str(DEFAULT_TOML).expect("the default configuration parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn nothing_configured_gives_the_defaults() {
        let config = load(None, &[], Overrides::default()).expect("defaults load");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn later_sources_win() {
        let config = load(
            Some("listen = \"127.0.0.1:1\"\ndata_dir = \"/from/file\"\n[log]\nformat = \"json\"\n"),
            &[
                ("BERTH_LISTEN", "127.0.0.1:2"),
                ("BERTH_TELEMETRY__SERVICE_NAME", "env-name"),
            ],
            Overrides {
                data_dir: Some(PathBuf::from("/from/flag")),
                ..Overrides::default()
            },
        )
        .expect("loads");
        assert_eq!(config.listen, "127.0.0.1:2".parse().expect("addr"));
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.telemetry.service_name, "env-name");
    }

    #[test]
    fn unknown_keys_are_named_with_their_source() {
        let err = load(
            Some("[server]\nshutdown_grase = \"1s\"\n"),
            &[],
            Overrides::default(),
        )
        .expect_err("unknown key");
        let message = err.to_string();
        assert!(message.contains("shutdown_grase"), "{message}");
        assert!(message.contains("berthd.toml"), "{message}");

        let err = load(
            None,
            &[("BERTH_LISTN", "127.0.0.1:1")],
            Overrides::default(),
        )
        .expect_err("unknown variable");
        let message = err.to_string();
        assert!(message.contains("listn"), "{message}");
        assert!(message.contains("BERTH_LISTN"), "{message}");
    }

    #[test]
    fn wrong_types_are_named() {
        let err = load(Some("listen = 8080\n"), &[], Overrides::default()).expect_err("wrong type");
        let message = err.to_string();
        assert!(message.contains("listen"), "{message}");

        let err = load(
            Some("[server]\nshutdown_grace = \"soon\"\n"),
            &[],
            Overrides::default(),
        )
        .expect_err("bad duration");
        assert!(err.to_string().contains("shutdown_grace"), "{err}");
    }

    #[test]
    fn values_are_validated() {
        for (toml, key) in [
            (
                "[telemetry]\ntrace_sample_ratio = 1.5\n",
                "telemetry.trace_sample_ratio",
            ),
            (
                "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
                "telemetry.otlp_endpoint",
            ),
            ("[server]\npublic_url = \"ftp://x\"\n", "server.public_url"),
            ("[log]\nfilter = \"info,=[\"\n", "log.filter"),
        ] {
            let err = load(Some(toml), &[], Overrides::default()).expect_err(toml);
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn client_and_test_variables_are_not_settings() {
        let config = load(
            None,
            &[
                ("BERTH_TOKEN", "x"),
                ("BERTH_TEST_KUBECONFIG", "/k"),
                ("BERTH_CONTEXT", "dev"),
            ],
            Overrides::default(),
        )
        .expect("client variables are ignored");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let err = Config::load(&Overrides::from_file(PathBuf::from(
            "/nonexistent/berthd.toml",
        )))
        .expect_err("missing file");
        assert!(
            err.to_string().contains("/nonexistent/berthd.toml"),
            "{err}"
        );
    }
}

//! Configuration: built-in defaults < `--config FILE` (TOML) < `BERTH_*`
//! environment < command-line flags, merged by figment and checked at start.
//!
//! This module holds the settings' types and their defaults; `load` merges
//! the sources, `validate` checks the result, and `default_doc` is the
//! commented file `berthd config default` prints.

mod default_doc;
mod load;
// figment's Jail fixes its closures' error type, which clippy finds large.
#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

pub use default_doc::DEFAULT_TOML;

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
    pub store: StoreConfig,
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
    pub endpoints: berth_spaces::EndpointsConfig,
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
    /// With `mode = "in_cluster"`: where the service account's `token`,
    /// `ca.crt` and `namespace` are, when not where the kubelet mounts them
    /// (`/var/run/secrets/kubernetes.io/serviceaccount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_dir: Option<PathBuf>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            mode: KubeMode::Embedded,
            kubeconfig: None,
            context: None,
            service_account_dir: None,
        }
    }
}

/// The embedded store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The store's cache in MiB. Unset: a quarter of the container's memory
    /// limit (cgroup `memory.max`), at most 256 MiB; 256 MiB with no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_mib: Option<u64>,
}

impl StoreConfig {
    /// The options the store is opened with.
    pub fn options(&self) -> berth_store::StoreOptions {
        berth_store::StoreOptions {
            cache_bytes: self.cache_mib.map(|mib| mib << 20),
            ..berth_store::StoreOptions::default()
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
    /// Also serve the Kubernetes API proxy over HTTPS here, with a
    /// certificate berthd makes and keeps in `<data_dir>/keys/`: for a
    /// daemon not reached through HTTPS (kubectl sends no credentials over
    /// plain HTTP). Unset: kubectl reaches `<public_url>/kube`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_listen: Option<SocketAddr>,
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
            store: StoreConfig::default(),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: berth_auth::config::AuthConfig::default(),
            audit: AuditConfig::default(),
            kubernetes: KubernetesConfig::default(),
            spaces: berth_spaces::SpacesConfig::default(),
            endpoints: berth_spaces::EndpointsConfig::default(),
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
            kube_listen: None,
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

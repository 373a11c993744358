//! Checking a loaded configuration: each rule's error names the key.

use std::time::Duration;

use anyhow::bail;

use super::{Config, KubeMode};

impl Config {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.server.public_url {
            check_http_url("server.public_url", url)?;
        }
        if let Some(mib) = self.store.cache_mib
            && !(16..=1 << 20).contains(&mib)
        {
            bail!(
                "invalid configuration: store.cache_mib must be between 16 and 1048576 (MiB), not {mib}"
            );
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
        self.endpoints
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        self.relay
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: relay: {e}"))?;
        self.catalog
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: catalog: {e}"))?;
        if self.dev.volume_gib == 0 || self.dev.volume_gib > self.dev.max_volume_gib {
            bail!(
                "invalid configuration: dev.volume_gib must be between 1 and dev.max_volume_gib ({}), not {}",
                self.dev.max_volume_gib,
                self.dev.volume_gib
            );
        }
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
        if self.kubernetes.service_account_dir.is_some()
            && self.kubernetes.mode != KubeMode::InCluster
        {
            bail!(
                "invalid configuration: kubernetes.service_account_dir is set but kubernetes.mode is not \"in_cluster\""
            );
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

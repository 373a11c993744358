//! The `[apps]` section of `berthd.toml`, and where Helm runs: as a Job in
//! the space, or as a local process against a kubeconfig (`LocalCluster`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppsConfig {
    /// The `helm` binary the daemon runs itself (the embedded cluster);
    /// found on `PATH` when left out.
    pub helm: Option<PathBuf>,
    /// Run Helm as a local process instead of a Job in the space (on by
    /// itself with the embedded cluster).
    pub local_helm: bool,
    /// The image of the Jobs that run Helm; its entry point must be `helm`.
    pub helm_image: String,
    /// How long one Helm operation may take (Helm's `--timeout`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for AppsConfig {
    fn default() -> Self {
        AppsConfig {
            helm: None,
            local_helm: false,
            helm_image: "docker.io/alpine/helm:3.17.3".to_owned(),
            timeout: Duration::from_secs(300),
        }
    }
}

impl AppsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout < Duration::from_secs(10) || self.timeout > Duration::from_secs(3600) {
            return Err("timeout must be between 10s and 1h".to_owned());
        }
        if self.helm_image.trim().is_empty() {
            return Err("helm_image must name an image".to_owned());
        }
        Ok(())
    }
}

/// The cluster a local `helm` acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalCluster {
    pub kubeconfig: PathBuf,
    /// A context of the kubeconfig other than its current one.
    pub context: Option<String>,
    /// Act as the space's installer ServiceAccount (impersonated), so Helm
    /// is held to the space as a Job is. The embedded cluster has no RBAC
    /// to hold it.
    pub as_installer: bool,
}

/// Where Helm runs.
#[derive(Debug, Clone)]
pub(crate) enum Runner {
    /// A local `helm` process.
    Local(LocalCluster),
    /// A Job in the space.
    Job,
}

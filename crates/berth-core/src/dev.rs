//! Dev mode as the API shows it: a workload in a space turned into a dev
//! container whose agent serves a dev session (`berth up`, `berth down`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::session::SessionView;
use crate::time::Timestamp;

/// `berth up`: put a workload in dev mode for a target of the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevRequest {
    /// The manifest's dev target (a DNS label).
    #[schema(value_type = crate::name::TargetName)]
    pub target: String,
    /// `deployment/NAME` or `statefulset/NAME`, NAME a DNS label.
    #[schema(pattern = "^(deployment|statefulset)/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub workload: String,
    /// The container to develop in; the first when left out.
    #[serde(default)]
    pub container: Option<String>,
    /// The dev image; the container's own when left out.
    #[serde(default)]
    pub image: Option<String>,
    /// Started by the agent once the first sync is done.
    #[serde(default)]
    pub command: Vec<String>,
    /// The container's working folder (the first sync folder's remote path).
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Folders of the dev container kept on a volume of their own that
    /// outlives the pod and `berth down` (caches, `node_modules`): absolute
    /// paths, or relative to the working folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// The volume's size and storage class; the daemon's defaults when
    /// left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<DevVolume>,
}

/// The persistent volume of a dev target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevVolume {
    /// In GiB, at most the daemon's `dev.max_volume_gib`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub size_gib: Option<u32>,
    /// The StorageClass; the cluster's default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// Where a dev target's agent runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DevMode {
    /// In the workload's pod, in the cluster.
    Cluster,
    /// In `berthd`, on a folder under its data directory (the embedded
    /// cluster runs no pods).
    Local,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DevView {
    pub space: String,
    pub target: String,
    pub workload: String,
    pub mode: DevMode,
    pub session: SessionView,
    pub started_by: String,
    pub started_at: Timestamp,
    pub image: Option<String>,
    pub command: Vec<String>,
    /// The agent's root on the daemon's machine, in the local mode.
    pub local_root: Option<String>,
    /// The container's folders kept on the target's volume, which outlives
    /// the pod and `berth down`.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Set by `up` when the space was not wholly awake: what waking it
    /// first did ("Woke space alice: 2 workloads restored."), or what is
    /// still pending when it did not finish in time.
    #[serde(default)]
    pub wake: Option<String>,
}

/// A workload of a space, for `berth init` and the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadView {
    /// `deployment/NAME` or `statefulset/NAME`.
    pub workload: String,
    pub containers: Vec<ContainerView>,
    /// The dev target it is in dev mode for.
    pub dev_target: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub ports: Vec<u16>,
    pub workdir: Option<String>,
}

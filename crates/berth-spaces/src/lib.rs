//! Spaces: a developer's isolated namespace in the shared cluster. The
//! service answers the API (create, share, sleep, wake, delete) and keeps
//! the records; the reconciler makes the cluster match them.
//!
//! Invariant: the store holds what each space should be; the reconciler is
//! the only writer of what it observed (its status) and the only caller of
//! the cluster, and a space's record is removed only after its namespace is
//! gone.

pub mod config;
pub mod naming;
pub mod reconciler;
mod records;
mod service;
mod status;
mod workloads;

/// What the Kubernetes API proxy reads a request as; `berth-server` serves
/// it through [`Spaces::kube_forward`].
pub use berth_kube::proxy as kube_proxy;
pub use config::{QuotaProfileConfig, SpacesConfig};
pub use reconciler::Reconciler;
pub use service::Spaces;
pub use service::endpoints::{Backend, Endpoints, EndpointsConfig, Route};

use std::sync::Arc;

/// Everything spaces need, started: the service (also made the sign-in
/// hook, for personal spaces) and the reconciler running on its own task.
pub struct Started {
    pub spaces: Arc<Spaces>,
    pub reconciler: Arc<Reconciler>,
    pub task: tokio::task::JoinHandle<()>,
}

pub fn start(
    auth: Arc<berth_auth::Auth>,
    config: SpacesConfig,
    clock: Arc<dyn berth_core::Clock>,
    cluster: berth_kube::Cluster,
) -> Result<Started, berth_core::Error> {
    let (inbox_tx, inbox) = Reconciler::inbox();
    let spaces = Arc::new(Spaces::new(
        auth.clone(),
        config,
        clock,
        inbox_tx.clone(),
        Some(cluster.clone()),
    )?);
    auth.set_sign_in_hook(spaces.clone());
    let reconciler = Reconciler::new(spaces.clone(), cluster);
    let task = tokio::spawn(reconciler.clone().run(inbox_tx, inbox));
    Ok(Started {
        spaces,
        reconciler,
        task,
    })
}

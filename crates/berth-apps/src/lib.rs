//! Applications in spaces: catalog items installed, upgraded and
//! uninstalled by Helm. In a cluster, Helm runs as a Job in the space
//! under the space's installer ServiceAccount (so a chart can never touch
//! another namespace), with the chart and values in a Secret it mounts.
//! With the embedded cluster, which runs no pods, the daemon runs the
//! `helm` binary itself against the cluster's API.
//!
//! Invariant: at most one Helm operation runs on a release at a time, and
//! every operation ends recorded (succeeded or failed, with Helm's own
//! words); values reach Helm only once checked against the chart's schema.
//!
//! `Apps` is the service; the rest is one concern a file: `config` (the
//! `[apps]` section, where Helm runs), `records` (what the store holds),
//! `operation` (install, upgrade, uninstall, begun and ended recorded),
//! `run` (Helm as a process or a Job), `logs` (output, followed while it
//! runs) and `janitor` (operations resumed at start, records of deleted
//! spaces forgotten).

mod config;
mod janitor;
mod logs;
mod operation;
mod records;
mod run;

pub use config::{AppsConfig, LocalCluster};
pub use logs::{LogFollower, Logs};
pub use operation::Counters;
pub use records::{APPS, AppRecord};

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_audit::Audit;
use berth_auth::{Actor, Auth};
use berth_catalog::Catalog;
use berth_core::Error;
use berth_core::app::AppView;
use berth_core::time::Clock;
use berth_kube::Cluster;
use berth_spaces::Spaces;

use crate::config::Runner;
use crate::logs::Live;

pub struct Apps {
    auth: Arc<Auth>,
    audit: Arc<Audit>,
    spaces: Arc<Spaces>,
    catalog: Arc<Catalog>,
    cluster: Cluster,
    clock: Arc<dyn Clock>,
    config: AppsConfig,
    runner: Runner,
    /// Where local Helm runs keep their files.
    home: PathBuf,
    running: Mutex<HashMap<String, Arc<Live>>>,
    counters: Counters,
}

impl Apps {
    /// `local`: run Helm as a local process against that cluster (the
    /// embedded one), instead of Jobs.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        auth: Arc<Auth>,
        spaces: Arc<Spaces>,
        catalog: Arc<Catalog>,
        cluster: Cluster,
        config: AppsConfig,
        clock: Arc<dyn Clock>,
        data_dir: &std::path::Path,
        local: Option<LocalCluster>,
    ) -> Arc<Apps> {
        let runner = match local {
            Some(cluster) => Runner::Local(cluster),
            None => Runner::Job,
        };
        Arc::new(Apps {
            audit: auth.audit().clone(),
            auth,
            spaces,
            catalog,
            cluster,
            clock,
            config,
            runner,
            home: data_dir.join("apps"),
            running: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// Operations ended since the daemon started.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Operations running now.
    pub fn running(&self) -> usize {
        self.running.lock().len()
    }

    pub async fn list(&self, actor: &Actor, space: &str) -> Result<Vec<AppView>, Error> {
        self.spaces.check_use(actor, space, "app.list").await?;
        Ok(self
            .current(space)
            .await?
            .into_iter()
            .map(Self::view)
            .collect())
    }

    pub async fn get(&self, actor: &Actor, space: &str, name: &str) -> Result<AppView, Error> {
        self.spaces.check_use(actor, space, "app.get").await?;
        Ok(Self::view(self.current_one(space, name).await?))
    }
}

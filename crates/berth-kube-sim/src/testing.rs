//! The dual-target test harness: a `kube::Client` for a fresh simulator, or,
//! when `BERTH_TEST_KUBECONFIG` names a kubeconfig, for that real cluster.
//! Every test gets a unique name prefix; namespaces it makes through
//! [`TestCluster::namespace`] are labelled with it and removed by
//! [`TestCluster::cleanup`].

use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use crate::{SimOptions, Simulator};

/// The label on every namespace a test run creates.
pub const TEST_RUN_LABEL: &str = "berth.dev/test-run";

pub struct TestCluster {
    pub client: kube::Client,
    pub prefix: String,
    simulator: Option<Simulator>,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("prefix", &self.prefix)
            .field("simulator", &self.simulator.is_some())
            .finish()
    }
}

fn namespaces_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Namespace"), "namespaces")
}

impl TestCluster {
    /// A cluster for one test: the simulator, or the real cluster named by
    /// `BERTH_TEST_KUBECONFIG`.
    pub async fn new() -> anyhow::Result<TestCluster> {
        let prefix = format!("bt-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        match std::env::var_os("BERTH_TEST_KUBECONFIG") {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(&path).with_context(|| {
                    format!(
                        "cannot read BERTH_TEST_KUBECONFIG={}",
                        path.to_string_lossy()
                    )
                })?;
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .context("BERTH_TEST_KUBECONFIG is not a usable kubeconfig")?;
                Ok(TestCluster {
                    client: kube::Client::try_from(config)?,
                    prefix,
                    simulator: None,
                })
            }
            None => {
                let simulator = Simulator::start(SimOptions::default()).await?;
                Ok(TestCluster {
                    client: simulator.client()?,
                    prefix,
                    simulator: Some(simulator),
                })
            }
        }
    }

    /// The simulator behind this cluster, when it is one.
    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }

    pub fn is_simulator(&self) -> bool {
        self.simulator.is_some()
    }

    /// `base` made unique to this test.
    pub fn name(&self, base: &str) -> String {
        format!("{}-{base}", self.prefix)
    }

    /// Creates a namespace unique to this test and returns its name.
    pub async fn namespace(&self, base: &str) -> anyhow::Result<String> {
        let name = self.name(base);
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &namespaces_resource());
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {TEST_RUN_LABEL: self.prefix}},
        }))?;
        api.create(&PostParams::default(), &object)
            .await
            .with_context(|| format!("cannot create namespace {name}"))?;
        Ok(name)
    }

    /// Deletes the namespaces this test created and waits, within a minute,
    /// for them to go.
    pub async fn cleanup(self) -> anyhow::Result<()> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &namespaces_resource());
        let selector = ListParams::default().labels(&format!("{TEST_RUN_LABEL}={}", self.prefix));
        for ns in api.list(&selector).await?.items {
            if let Some(name) = ns.metadata.name {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !api.list(&selector).await?.items.is_empty() {
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "namespaces labelled {TEST_RUN_LABEL}={} did not go within a minute",
                    self.prefix
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// Polls `check` until it returns `Some`, failing after `deadline`. Tests
/// await conditions this way instead of sleeping.
pub async fn eventually<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > until {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real Helm binary tests use: `BERTH_TEST_HELM`, or the one
/// `cargo xtask setup` installs in `target/tools/helm`.
pub fn helm() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("BERTH_TEST_HELM") {
        return std::path::PathBuf::from(path);
    }
    let installed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/helm");
    assert!(
        installed.exists(),
        "no helm at {}: run `cargo xtask setup`, or set BERTH_TEST_HELM",
        installed.display()
    );
    installed
}

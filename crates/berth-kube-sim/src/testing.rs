//! The dual-target test harness: a `kube::Client` for a fresh simulator, or,
//! when `BERTH_TEST_KUBECONFIG` names a kubeconfig, for that real cluster.
//! Every test gets a unique name prefix; namespaces it makes through
//! [`TestCluster::namespace`] are labelled with it and removed by
//! [`TestCluster::cleanup`]. A run names the server it targets and its
//! Kubernetes version first, and refuses a server older than Berth supports
//! ([`SUPPORTED_MINOR`]): what the suite asserts is what a supported API
//! server does.

use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use crate::{SimOptions, Simulator};

/// The label on every namespace a test run creates.
pub const TEST_RUN_LABEL: &str = "berth.dev/test-run";

/// The oldest Kubernetes Berth supports, 1.`SUPPORTED_MINOR`: the same as
/// `berth_kube::version::MINIMUM` (which this crate may not link; a test
/// there keeps the two equal).
pub const SUPPORTED_MINOR: u32 = 28;

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
                let client = kube::Client::try_from(config)?;
                check_server(&client, &path.to_string_lossy()).await?;
                Ok(TestCluster {
                    client,
                    prefix,
                    simulator: None,
                })
            }
            None => {
                let simulator = Simulator::start(SimOptions::default()).await?;
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    eprintln!(
                        "berth tests: the simulator (Kubernetes 1.{}); set BERTH_TEST_KUBECONFIG for a real cluster",
                        crate::KUBERNETES_MINOR
                    );
                });
                Ok(TestCluster {
                    client: simulator.client()?,
                    prefix,
                    simulator: Some(simulator),
                })
            }
        }
    }

    /// Whether the cluster runs pods: the simulator reports workloads as
    /// running; a real cluster does when one of its nodes is Ready (a bare
    /// control plane has none, and `helm --wait` would wait in vain).
    pub async fn runs_pods(&self) -> anyhow::Result<bool> {
        if self.is_simulator() {
            return Ok(true);
        }
        let nodes: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Node"), "nodes"),
        );
        let ready = nodes
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|node| {
                node.data["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        Ok(ready)
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

/// Names the real server a run targets and its version, once per process,
/// and refuses one older than Berth supports with a message that says so.
async fn check_server(client: &kube::Client, kubeconfig: &str) -> anyhow::Result<()> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let info = client
        .apiserver_version()
        .await
        .with_context(|| format!("cannot read /version of the cluster in {kubeconfig}"))?;
    SAID.call_once(|| {
        eprintln!(
            "berth tests: the real cluster of BERTH_TEST_KUBECONFIG={kubeconfig}, Kubernetes {} ({})",
            info.git_version, info.platform
        );
    });
    let minor: Option<u32> = info
        .minor
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok();
    match (info.major.as_str(), minor) {
        ("1", Some(minor)) if minor < SUPPORTED_MINOR => anyhow::bail!(
            "the cluster in BERTH_TEST_KUBECONFIG={kubeconfig} runs Kubernetes {}; Berth supports \
             1.{SUPPORTED_MINOR} and later, and this suite asserts what a supported API server does",
            info.git_version
        ),
        _ => Ok(()),
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
    tool("helm", "BERTH_TEST_HELM")
}

/// The real kubectl tests use: `BERTH_TEST_KUBECTL`, or the one `cargo
/// xtask setup` installs in `target/tools/kubectl`.
pub fn kubectl() -> std::path::PathBuf {
    tool("kubectl", "BERTH_TEST_KUBECTL")
}

fn tool(name: &str, variable: &str) -> std::path::PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return std::path::PathBuf::from(path);
    }
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tools")
        .join(name);
    assert!(
        installed.exists(),
        "no {name} at {}: run `cargo xtask setup`, or set {variable}",
        installed.display()
    );
    installed
}

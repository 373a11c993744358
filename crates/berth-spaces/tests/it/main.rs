//! The spaces reconciler against a Kubernetes API: the simulator by
//! default, a real cluster when `BERTH_TEST_KUBECONFIG` names one.

mod faults;
mod lifecycle;
mod sleep;
mod status;

use std::sync::Arc;
use std::time::Duration;

use berth_auth::{Actor, Via};
use berth_core::ManualClock;
use berth_core::identity::Scope;
use berth_core::space::{NewSpace, Phase, SpaceView};
use berth_kube_sim::testing::{TestCluster, eventually};
use berth_spaces::{Reconciler, Spaces, SpacesConfig};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(30);

pub struct Harness {
    pub cluster: TestCluster,
    pub spaces: Arc<Spaces>,
    pub reconciler: Arc<Reconciler>,
    pub clock: ManualClock,
    pub admin: Actor,
    task: tokio::task::JoinHandle<()>,
    _temp: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn harness(config: SpacesConfig) -> anyhow::Result<Harness> {
    let cluster = TestCluster::new().await?;
    let temp = tempfile::tempdir()?;
    let store = Arc::new(berth_store::Store::open(
        &temp.path().join("data"),
        &berth_store::Holder::this_process("test"),
    )?);
    let audit = berth_audit::Audit::open(store.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let clock = ManualClock::starting_now();
    let auth = Arc::new(
        berth_auth::Auth::new(
            store,
            audit,
            berth_auth::config::AuthConfig::default(),
            Arc::new(clock.clone()),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let (secret, _) = auth
        .issue_setup_secret()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("a fresh store needs setup"))?;
    let config = SpacesConfig {
        personal_spaces: false,
        ..config
    };
    let started = berth_spaces::start(
        auth.clone(),
        config,
        Arc::new(clock.clone()),
        berth_kube::Cluster::new(cluster.client.clone()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (user, _) = auth
        .complete_setup(
            &secret,
            "admin",
            "correct horse battery staple",
            None,
            &Default::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = Actor {
        user,
        via: Via::Token {
            id: "t".to_owned(),
            scopes: vec![Scope::Read, Scope::Write],
        },
        origin: Default::default(),
    };
    Ok(Harness {
        cluster,
        spaces: started.spaces,
        reconciler: started.reconciler,
        clock,
        admin,
        task: started.task,
        _temp: temp,
    })
}

impl Harness {
    /// Makes a space unique to this test.
    pub async fn create(&self, base: &str, persistent: bool) -> anyhow::Result<String> {
        let name = self.cluster.name(base);
        self.spaces
            .create(
                &self.admin,
                NewSpace {
                    name: name.clone(),
                    persistent,
                    ..NewSpace::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(name)
    }

    pub async fn view(&self, name: &str) -> anyhow::Result<SpaceView> {
        self.spaces
            .get(&self.admin, name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Waits until the space is in `phase` with its generation observed.
    pub async fn phase(&self, name: &str, phase: Phase) -> anyhow::Result<SpaceView> {
        eventually(WAIT, &format!("space {name} to be {phase:?}"), || async {
            let view = self.view(name).await?;
            Ok(
                (view.status.phase == phase && view.status.observed_generation == view.generation)
                    .then_some(view),
            )
        })
        .await
    }

    /// Waits until the space's `Asleep` condition has `reason` and a
    /// message that contains `says`; a status must never carry an injected
    /// fault's text, which is internal detail.
    pub async fn asleep(&self, name: &str, reason: &str, says: &str) -> anyhow::Result<SpaceView> {
        let what = format!("space {name}'s Asleep condition to be {reason} saying {says:?}");
        let found = eventually(WAIT, &what, || async {
            let view = self.view(name).await?;
            let shown = serde_json::to_string(&view.status)?;
            anyhow::ensure!(!shown.contains("injected fault"), "{shown}");
            let found = view
                .status
                .conditions
                .iter()
                .any(|c| c.kind == "Asleep" && c.reason == reason && c.message.contains(says));
            Ok(found.then_some(view))
        })
        .await;
        match found {
            Ok(view) => Ok(view),
            Err(e) => {
                let now = self.view(name).await?;
                Err(e.context(format!(
                    "it is {:?} with {:?}",
                    now.status.phase, now.status.conditions
                )))
            }
        }
    }

    pub async fn sleep(&self, name: &str) -> anyhow::Result<SpaceView> {
        self.spaces
            .sleep(&self.admin, name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub async fn wake(&self, name: &str) -> anyhow::Result<SpaceView> {
        self.spaces
            .wake(&self.admin, name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn api(
        &self,
        api_version: &str,
        kind: &str,
        plural: &str,
        ns: Option<&str>,
    ) -> Api<DynamicObject> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        match ns {
            Some(ns) => Api::namespaced_with(self.cluster.client.clone(), ns, &resource),
            None => Api::all_with(self.cluster.client.clone(), &resource),
        }
    }

    pub async fn get(&self, api: &Api<DynamicObject>, name: &str) -> anyhow::Result<Option<Value>> {
        Ok(api
            .get_opt(name)
            .await?
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    pub async fn create_object(
        &self,
        api: &Api<DynamicObject>,
        object: Value,
    ) -> anyhow::Result<()> {
        api.create(&PostParams::default(), &serde_json::from_value(object)?)
            .await?;
        Ok(())
    }

    pub async fn merge(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        patch: Value,
    ) -> anyhow::Result<()> {
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    /// Deletes the test's spaces and waits for their namespaces to go.
    pub async fn cleanup(self, names: &[&str]) -> anyhow::Result<()> {
        for name in names {
            if self.spaces.get(&self.admin, name).await.is_ok() {
                let _ = self.spaces.delete(&self.admin, name).await;
            }
        }
        for name in names {
            eventually(
                Duration::from_secs(60),
                "the test's spaces to go",
                || async {
                    Ok(self
                        .spaces
                        .get(&self.admin, name)
                        .await
                        .is_err()
                        .then_some(()))
                },
            )
            .await?;
        }
        Ok(())
    }
}

pub fn deployment(name: &str, replicas: u64, annotations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]}
            }
        }
    })
}

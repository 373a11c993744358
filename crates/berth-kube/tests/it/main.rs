//! A space's objects against the cluster (the simulator, or a real one with
//! `BERTH_TEST_KUBECONFIG`): applied once, seen through the watch cache,
//! converged with no further writes, drift repaired.

mod dev;
mod helm;
mod version;

use std::time::Duration;

use berth_kube::{Cluster, ClusterPolicy, PodSecurity, QuotaProfile, SpaceSpec, changes, space};
use berth_kube_sim::testing::{TestCluster, eventually};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn spec(name: &str) -> (SpaceSpec, ClusterPolicy) {
    (
        SpaceSpec {
            name: name.to_owned(),
            owner: "alice".to_owned(),
            quota: QuotaProfile {
                name: "small".to_owned(),
                hard: [
                    ("pods".to_owned(), "20".to_owned()),
                    ("requests.cpu".to_owned(), "4".to_owned()),
                ]
                .into(),
                default_request: [
                    ("cpu".to_owned(), "100m".to_owned()),
                    ("memory".to_owned(), "128Mi".to_owned()),
                ]
                .into(),
                default_limit: [
                    ("cpu".to_owned(), "1".to_owned()),
                    ("memory".to_owned(), "512Mi".to_owned()),
                ]
                .into(),
            },
            isolated: true,
            labels: [("team".to_owned(), "payments".to_owned())].into(),
            developers: vec!["alice".to_owned()],
        },
        ClusterPolicy {
            ingress_namespaces: vec!["ingress-nginx".to_owned()],
            pod_security: PodSecurity::Baseline,
        },
    )
}

#[tokio::test]
async fn a_space_converges_costs_nothing_once_converged_and_drift_is_repaired() -> anyhow::Result<()>
{
    let cluster = TestCluster::new().await?;
    let kube = Cluster::new(cluster.client.clone());
    let (changed, mut told) = tokio::sync::mpsc::unbounded_channel();
    let watches = kube.start_watches(changed);
    eventually(Duration::from_secs(30), "the watches to list", || async {
        Ok(kube.synced().then_some(()))
    })
    .await?;

    // Two spaces whose objects share names: the cache keeps them apart.
    let names = [cluster.name("one"), cluster.name("two")];
    let mut plans = Vec::new();
    for name in &names {
        let (spec, policy) = spec(name);
        let desired = space(&spec, &policy);
        let first = changes(&desired, &kube.observed(name))?;
        assert_eq!(
            first.len(),
            desired.len(),
            "an empty cluster needs every object"
        );
        kube.apply(&first).await?;
        plans.push(desired);
    }
    for (name, desired) in names.iter().zip(&plans) {
        let observed = eventually(
            Duration::from_secs(30),
            "the cache to see the space",
            || async {
                let observed = kube.observed(name);
                Ok((observed.len() == desired.len()).then_some(observed))
            },
        )
        .await?;
        assert!(
            changes(desired, &observed)?.is_empty(),
            "converged: no writes"
        );
        let namespace = observed.iter().find(|o| o["kind"] == "Namespace");
        assert_eq!(
            namespace.map(|ns| &ns["metadata"]["labels"]["team"]),
            Some(&json!("payments"))
        );
    }
    let told_about: std::collections::HashSet<String> =
        std::iter::from_fn(|| told.try_recv().ok()).collect();
    assert!(
        names.iter().all(|n| told_about.contains(n)),
        "{told_about:?}"
    );

    // Someone edits the quota and deletes the installer account by hand.
    let name = &names[0];
    let quotas: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        name,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ResourceQuota"),
            "resourcequotas",
        ),
    );
    quotas
        .patch(
            "berth-quota",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"pods": "999"}}})),
        )
        .await?;
    let accounts: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        name,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ServiceAccount"),
            "serviceaccounts",
        ),
    );
    accounts
        .delete("berth-installer", &DeleteParams::default())
        .await?;

    let drift = eventually(
        Duration::from_secs(30),
        "the cache to see the drift",
        || async {
            let drift = changes(&plans[0], &kube.observed(name))?;
            Ok((drift.len() == 2).then_some(drift))
        },
    )
    .await?;
    let kinds: Vec<&str> = drift
        .iter()
        .map(|berth_kube::Change::Apply(o)| o["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["ResourceQuota", "ServiceAccount"]);
    assert!(
        changes(&plans[1], &kube.observed(&names[1]))?.is_empty(),
        "the other space is untouched"
    );
    kube.apply(&drift).await?;
    let repaired = eventually(Duration::from_secs(30), "the repair to show", || async {
        let observed = kube.observed(name);
        Ok(changes(&plans[0], &observed)?
            .is_empty()
            .then_some(observed))
    })
    .await?;
    let quota = repaired
        .iter()
        .find(|o| o["kind"] == "ResourceQuota")
        .expect("quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "20");

    for name in &names {
        kube.delete_namespace(name).await?;
    }
    for watch in watches {
        watch.abort();
    }
    cluster.cleanup().await
}

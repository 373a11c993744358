//! A space's objects against the cluster (the simulator, or a real one with
//! `BERTH_TEST_KUBECONFIG`): applied once, converged with no further writes,
//! drift repaired.

use berth_kube::{
    ClusterPolicy, PodSecurity, QuotaProfile, SpaceSpec, apply_changes, changes, observe_space,
    space,
};
use berth_kube_sim::testing::TestCluster;
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
    let name = cluster.name("space");
    let (spec, policy) = spec(&name);
    let desired = space(&spec, &policy);

    let first = changes(&desired, &observe_space(&cluster.client, &name).await?)?;
    assert_eq!(
        first.len(),
        desired.len(),
        "an empty cluster needs every object"
    );
    apply_changes(&cluster.client, &first).await?;

    let observed = observe_space(&cluster.client, &name).await?;
    assert_eq!(observed.len(), desired.len(), "{observed:#?}");
    assert!(
        changes(&desired, &observed)?.is_empty(),
        "converged: no writes"
    );

    // Someone edits the quota and deletes the installer account by hand.
    let quotas: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &name,
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
        &name,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ServiceAccount"),
            "serviceaccounts",
        ),
    );
    accounts
        .delete("berth-installer", &DeleteParams::default())
        .await?;

    let drift = changes(&desired, &observe_space(&cluster.client, &name).await?)?;
    let kinds: Vec<&str> = drift
        .iter()
        .map(|berth_kube::Change::Apply(o)| o["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["ResourceQuota", "ServiceAccount"]);
    apply_changes(&cluster.client, &drift).await?;
    let repaired = observe_space(&cluster.client, &name).await?;
    assert!(changes(&desired, &repaired)?.is_empty());
    let quota = repaired
        .iter()
        .find(|o| o["kind"] == "ResourceQuota")
        .expect("quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "20");

    let namespaces: Api<DynamicObject> = Api::all_with(
        cluster.client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "Namespace"),
            "namespaces",
        ),
    );
    namespaces.delete(&name, &DeleteParams::default()).await?;
    cluster.cleanup().await
}

//! Finalizers, propagation policies and garbage collection.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::{DEADLINE, TestCluster, create, eventually};

fn owned_by(name: &str, owner: &ConfigMap) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap",
            "name": owner.metadata.name, "uid": owner.metadata.uid
        }]}
    })
}

async fn gone(api: &Api<ConfigMap>, name: &str) -> anyhow::Result<()> {
    let what = format!("{name} to be deleted");
    eventually(DEADLINE, &what, || async {
        Ok(api.get_opt(name).await?.is_none().then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_finalizer_holds_deletion_until_it_is_removed() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("final").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["berth.dev/test"]}})).await;
    api.delete("held", &DeleteParams::default()).await?;
    let held = api.get("held").await?;
    assert!(held.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    gone(&api, "held").await?;
    cluster.cleanup().await
}

#[tokio::test]
async fn owned_objects_follow_their_owner_unless_orphaned() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("gc").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let owner = create(
        &api,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
    )
    .await;
    create(&api, owned_by("child", &owner)).await;
    api.delete("owner", &DeleteParams::background()).await?;
    gone(&api, "child").await?;

    let owner = create(
        &api,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner2"}}),
    )
    .await;
    create(&api, owned_by("orphan", &owner)).await;
    api.delete("owner2", &DeleteParams::orphan()).await?;
    gone(&api, "owner2").await?;
    let orphan = eventually(DEADLINE, "the orphan's owner reference to go", || async {
        let orphan = api.get("orphan").await?;
        Ok(orphan
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(Vec::is_empty)
            .then_some(orphan))
    })
    .await?;
    assert!(orphan.metadata.deletion_timestamp.is_none());

    let owner = create(
        &api,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner3"}}),
    )
    .await;
    create(&api, owned_by("child3", &owner)).await;
    api.delete("owner3", &DeleteParams::foreground()).await?;
    gone(&api, "child3").await?;
    gone(&api, "owner3").await?;
    cluster.cleanup().await
}

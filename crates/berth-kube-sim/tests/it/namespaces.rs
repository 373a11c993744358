//! Namespace lifecycle and the default ServiceAccount.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{DEADLINE, TestCluster, api_error, create, eventually, object};

#[tokio::test]
async fn a_new_namespace_gets_a_default_service_account() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("sa").await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), &ns);
    eventually(DEADLINE, "the default ServiceAccount", || async {
        Ok(accounts.get_opt("default").await?)
    })
    .await?;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let namespace = namespaces.get(&ns).await?;
    assert_eq!(
        namespace.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    cluster.cleanup().await
}

#[tokio::test]
async fn a_terminating_namespace_refuses_new_content_and_goes_when_empty() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("term").await?;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    create(
        &maps,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}}),
    )
    .await;
    create(&maps, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["berth.dev/test"]}})).await;

    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    namespaces.delete(&ns, &DeleteParams::default()).await?;
    let terminating = namespaces.get(&ns).await?;
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );

    eventually(DEADLINE, "the namespace's plain content to go", || async {
        Ok(maps.get_opt("plain").await?.is_none().then_some(()))
    })
    .await?;
    let refused = maps
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}})),
        )
        .await;
    assert_eq!(api_error(refused), (403, "Forbidden".to_owned()));
    assert!(
        namespaces.get_opt(&ns).await?.is_some(),
        "held open by the finalizer"
    );

    maps.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    eventually(DEADLINE, "the namespace to go", || async {
        Ok(namespaces.get_opt(&ns).await?.is_none().then_some(()))
    })
    .await?;
    cluster.cleanup().await
}

#[tokio::test]
async fn content_in_a_missing_namespace_is_not_found() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.name("nowhere"));
    let result = maps
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})),
        )
        .await;
    assert_eq!(api_error(result), (404, "NotFound".to_owned()));
    cluster.cleanup().await
}

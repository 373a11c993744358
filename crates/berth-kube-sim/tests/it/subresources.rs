//! Status and scale subresources, workload status, ResourceQuota usage and
//! CustomResourceDefinitions.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ResourceQuota};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::json;

use crate::crud::deployment;
use crate::{DEADLINE, TestCluster, create, eventually, object, update};

#[tokio::test]
async fn status_is_written_through_its_subresource_only() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("status").await?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    create(&api, deployment("web", 2)).await;
    let ready = eventually(DEADLINE, "the deployment to report 2 replicas", || async {
        let d = api.get("web").await?;
        let status = d.status.clone().unwrap_or_default();
        let observed = status.observed_generation == d.metadata.generation;
        Ok((observed && status.replicas == Some(2)).then_some(d))
    })
    .await?;
    assert!(ready.status.is_some());

    // A status change sent to the main resource is ignored.
    let after = update(&api, "web", |d| {
        d.status.get_or_insert_default().replicas = Some(99);
    })
    .await?;
    assert_ne!(after.status.and_then(|s| s.replicas), Some(99));

    // Scale through the scale subresource.
    let scale = api.get_scale("web").await?;
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await?;
    assert_eq!(api.get("web").await?.spec.and_then(|s| s.replicas), Some(0));
    cluster.cleanup().await
}

#[tokio::test]
async fn quota_usage_counts_objects() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("quota").await?;
    let quotas: Api<ResourceQuota> = Api::namespaced(cluster.client.clone(), &ns);
    create(
        &quotas,
        json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "q"},
            "spec": {"hard": {"count/deployments.apps": "5"}}
        }),
    )
    .await;
    // A real server's quota admission refuses what the quota counts until
    // the quota controller has written the quota's status.
    eventually(DEADLINE, "the quota's status", || async {
        let q = quotas.get("q").await?;
        Ok(q.status.and_then(|s| s.hard).map(drop))
    })
    .await?;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    create(&deployments, deployment("a", 0)).await;
    create(&deployments, deployment("b", 0)).await;
    eventually(DEADLINE, "quota usage of 2 deployments", || async {
        let q = quotas.get("q").await?;
        let used = q.status.and_then(|s| s.used).unwrap_or_default();
        Ok((used.get("count/deployments.apps").map(|q| q.0.as_str()) == Some("2")).then_some(()))
    })
    .await?;
    cluster.cleanup().await
}

#[tokio::test]
async fn a_custom_resource_definition_is_served() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let group = format!("{}.test.berth.dev", cluster.prefix);
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let name = format!("widgets.{group}");
    crds.create(&PostParams::default(), &object(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}}]
        }
    })))
    .await?;
    let ns = cluster.namespace("crd").await?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), &ns, &resource);
    let widget: DynamicObject = object(json!({
        "apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 3}
    }));
    // A real server needs a moment to establish the new resource.
    let created = eventually(DEADLINE, "the custom resource to be served", || async {
        match widgets.create(&PostParams::default(), &widget).await {
            Ok(created) => Ok(Some(created)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(err) => Err(err.into()),
        }
    })
    .await?;
    assert_eq!(created.data["spec"]["size"], 3);
    assert_eq!(created.metadata.generation, Some(1));

    let discovery = Discovery::new(cluster.client.clone())
        .filter(&[&group])
        .run()
        .await?;
    assert!(discovery.has_group(&group));

    crds.delete(&name, &Default::default()).await?;
    cluster.cleanup().await
}

#[tokio::test]
async fn secrets_and_config_maps_carry_data() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("data").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let created = create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"values.yaml": "a: 1\n"}})).await;
    assert_eq!(
        created
            .data
            .and_then(|d| d.get("values.yaml").cloned())
            .as_deref(),
        Some("a: 1\n")
    );
    cluster.cleanup().await
}

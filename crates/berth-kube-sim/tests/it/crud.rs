//! Create, get, update and their errors.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::{TestCluster, api_error, create, object, update};

fn config_map(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

pub fn deployment(name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
            }
        }
    })
}

#[tokio::test]
async fn create_then_create_again_is_already_exists() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("crud").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let created = create(&api, config_map("one")).await;
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| !u.is_empty()));
    assert!(meta.creation_timestamp.is_some());
    assert!(meta.resource_version.is_some());
    assert!(meta.managed_fields.as_ref().is_some_and(|m| !m.is_empty()));
    let again = api
        .create(&PostParams::default(), &object(config_map("one")))
        .await;
    assert_eq!(api_error(again), (409, "AlreadyExists".to_owned()));
    let missing = api.get("two").await;
    assert_eq!(api_error(missing), (404, "NotFound".to_owned()));
    cluster.cleanup().await
}

#[tokio::test]
async fn invalid_names_and_missing_fields_are_422() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("invalid").await?;
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let bad = maps
        .create(&PostParams::default(), &object(config_map("Not_Valid")))
        .await;
    assert_eq!(api_error(bad), (422, "Invalid".to_owned()));

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let mut no_selector = deployment("web", 1);
    no_selector["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("selector");
    let bad = deployments
        .create(&PostParams::default(), &object(no_selector))
        .await;
    assert_eq!(api_error(bad), (422, "Invalid".to_owned()));

    let mut mismatched = deployment("web", 1);
    mismatched["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
    let bad = deployments
        .create(&PostParams::default(), &object(mismatched))
        .await;
    assert_eq!(api_error(bad), (422, "Invalid".to_owned()));
    cluster.cleanup().await
}

#[tokio::test]
async fn a_stale_resource_version_is_a_conflict() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("occ").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let first = create(&api, config_map("cm")).await;
    let mut update = first.clone();
    update.data = Some([("k".to_owned(), "v2".to_owned())].into());
    let updated = api.replace("cm", &PostParams::default(), &update).await?;
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );
    let mut stale = first.clone();
    stale.data = Some([("k".to_owned(), "v3".to_owned())].into());
    let result = api.replace("cm", &PostParams::default(), &stale).await;
    assert_eq!(api_error(result), (409, "Conflict".to_owned()));
    assert_eq!(api.get("cm").await?.data, updated.data);
    cluster.cleanup().await
}

#[tokio::test]
async fn generate_name_makes_unique_names() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("gen").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let template =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}});
    let a = create(&api, template.clone()).await;
    let b = create(&api, template).await;
    let (a, b) = (
        a.metadata.name.expect("named"),
        b.metadata.name.expect("named"),
    );
    assert!(a.starts_with("job-") && a.len() > 4, "{a}");
    assert_ne!(a, b);
    cluster.cleanup().await
}

/// Deployments, because ConfigMaps have no generation. The deployment
/// controller of a real cluster writes the object between a read and a
/// replace (status, `deployment.kubernetes.io/revision`), so each change is
/// retried on 409; neither of its writes moves the generation.
#[tokio::test]
async fn generation_moves_on_spec_changes_only() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("gen").await?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let created = create(&api, deployment("web", 1)).await;
    assert_eq!(created.metadata.generation, Some(1));

    let labelled = update(&api, "web", |d| {
        d.metadata
            .labels
            .get_or_insert_default()
            .insert("touched".to_owned(), "yes".to_owned());
    })
    .await?;
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );

    let scaled = update(&api, "web", |d| {
        d.spec.as_mut().expect("spec").replicas = Some(3);
    })
    .await?;
    assert_eq!(scaled.metadata.generation, Some(2));
    cluster.cleanup().await
}

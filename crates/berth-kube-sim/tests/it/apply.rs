//! Server-side apply: creation, managedFields, conflicts, force, pruning.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::crud::deployment;
use crate::{TestCluster, api_error};

#[tokio::test]
async fn apply_creates_records_its_manager_and_prunes_what_it_stops_applying() -> anyhow::Result<()>
{
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("ssa").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let params = PatchParams::apply("berth-test");
    let applied = api
        .patch(
            "cm",
            &params,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
                "data": {"x": "1", "y": "2"}
            })),
        )
        .await?;
    let managers: Vec<(String, String)> = applied
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("berth-test".to_owned(), "Apply".to_owned())),
        "{managers:?}"
    );

    let rv = applied.metadata.resource_version.clone();
    let again = api
        .patch(
            "cm",
            &params,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
                "data": {"x": "1", "y": "2"}
            })),
        )
        .await?;
    assert_eq!(
        again.metadata.resource_version, rv,
        "an unchanged apply writes nothing"
    );

    let pruned = api
        .patch(
            "cm",
            &params,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "labels": {"a": "1"}},
                "data": {"x": "1"}
            })),
        )
        .await?;
    assert_eq!(pruned.data, Some([("x".to_owned(), "1".to_owned())].into()));
    let labels = pruned.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert!(!labels.contains_key("b"));
    cluster.cleanup().await
}

#[tokio::test]
async fn another_managers_field_conflicts_unless_forced() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("conflict").await?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    api.patch(
        "web",
        &PatchParams::apply("owner"),
        &Patch::Apply(deployment("web", 1)),
    )
    .await?;

    let other = PatchParams::apply("intruder");
    let result = api
        .patch("web", &other, &Patch::Apply(deployment("web", 5)))
        .await;
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
            assert!(status.message.contains("owner"), "{}", status.message);
            assert!(
                status.message.contains(".spec.replicas"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(api.get("web").await?.spec.and_then(|s| s.replicas), Some(1));

    let forced = api
        .patch("web", &other.force(), &Patch::Apply(deployment("web", 5)))
        .await?;
    assert_eq!(forced.spec.and_then(|s| s.replicas), Some(5));

    // The first manager lost `replicas`; applying it again conflicts now.
    let back = api
        .patch(
            "web",
            &PatchParams::apply("owner"),
            &Patch::Apply(deployment("web", 1)),
        )
        .await;
    assert_eq!(api_error(back), (409, "Conflict".to_owned()));
    cluster.cleanup().await
}

//! JSON merge patch, JSON patch and strategic merge patch.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::crud::deployment;
use crate::{TestCluster, create};

#[tokio::test]
async fn merge_and_json_patches() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("patch").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}})).await;
    let merged = api
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": null, "c": "3"}})),
        )
        .await?;
    assert_eq!(
        merged.data,
        Some(
            [
                ("b".to_owned(), "2".to_owned()),
                ("c".to_owned(), "3".to_owned())
            ]
            .into()
        )
    );
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/data/b", "value": "20"},
        {"op": "remove", "path": "/data/c"}
    ]))?;
    let patched = api
        .patch("cm", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await?;
    assert_eq!(
        patched.data,
        Some([("b".to_owned(), "20".to_owned())].into())
    );
    cluster.cleanup().await
}

#[tokio::test]
async fn strategic_merge_patches_containers_env_and_volumes_by_key() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("smp").await?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let mut initial = deployment("web", 1);
    initial["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "A", "value": "1"}]);
    create(&api, initial).await;
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{
            "name": "app",
            "image": "registry.k8s.io/pause:3.9",
            "env": [{"name": "B", "value": "2"}],
            "volumeMounts": [{"name": "src", "mountPath": "/src"}]
        }],
        "volumes": [{"name": "src", "emptyDir": {}}]
    }}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    let pod = patched.spec.expect("spec").template.spec.expect("pod spec");
    assert_eq!(pod.containers.len(), 1);
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("registry.k8s.io/pause:3.9")
    );
    let env: Vec<_> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env, vec!["A", "B"]);
    assert_eq!(container.volume_mounts.as_ref().map(Vec::len), Some(1));
    assert_eq!(pod.volumes.as_ref().map(Vec::len), Some(1));
    cluster.cleanup().await
}

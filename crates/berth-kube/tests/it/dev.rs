//! Dev mode against the cluster (the simulator, or a real one with
//! `BERTH_TEST_KUBECONFIG`): the patched spec is what the plan asks for,
//! the token's Secret is there, and leaving puts the original spec back
//! exactly.

use std::collections::BTreeMap;

use berth_kube::Cluster;
use berth_kube::dev::{self, DevPlan};
use berth_kube_sim::testing::TestCluster;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

#[tokio::test]
async fn dev_mode_patches_the_workload_and_leaving_restores_it_exactly() {
    let cluster = TestCluster::new().await.expect("cluster");
    let ns = cluster.namespace("dev").await.expect("namespace");
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    );
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "annotations": {"team": "payments"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{
                    "name": "api", "image": "registry.k8s.io/pause:3.9",
                    "args": ["--serve"],
                    "env": [{"name": "MODE", "value": "production"}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}},
                }]}
            }
        }
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &object)
        .await
        .expect("create");
    let kube = Cluster::new(cluster.client.clone());
    let before = kube
        .workload(&ns, "deployment", "api")
        .await
        .expect("read")
        .expect("there");
    let plan = DevPlan {
        target: "api".into(),
        container: None,
        image: Some("registry.k8s.io/pause:3.10".into()),
        command: vec!["sleep".into(), "infinity".into()],
        workdir: Some("/app".into()),
        env: BTreeMap::from([("MODE".into(), "dev".into())]),
        agent_image: "registry.k8s.io/pause:3.9".into(),
        agent_url: "http://berth.berth:8080".into(),
        token_secret: dev::token_secret("api"),
    };
    kube.put_secret(
        &ns,
        &plan.token_secret,
        BTreeMap::new(),
        BTreeMap::from([(dev::TOKEN_KEY.to_owned(), "berth_agt_test".to_owned())]),
    )
    .await
    .expect("secret");
    let spec = dev::dev_spec(&before["spec"], &plan).expect("dev spec");
    kube.patch_workload(
        &ns,
        "deployment",
        "api",
        dev::enter_patch(&before, spec, "api", Some(&before["spec"])),
    )
    .await
    .expect("enter dev mode");

    let during = kube
        .workload(&ns, "deployment", "api")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(during["spec"]["replicas"], 1);
    let container = &during["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.k8s.io/pause:3.10");
    assert_eq!(
        container["command"],
        json!([
            "/berth/bin/berth",
            "agent",
            "--root",
            "/",
            "--workdir",
            "/app",
            "--",
            "sleep",
            "infinity"
        ])
    );
    assert!(container.get("readinessProbe").is_none());
    assert!(container.get("args").is_none());
    assert_eq!(
        during["spec"]["template"]["spec"]["initContainers"][0]["name"],
        "berth-agent-install"
    );
    let annotations = &during["metadata"]["annotations"];
    assert_eq!(annotations["team"], "payments");
    assert_eq!(annotations[dev::TARGET_ANNOTATION], "api");
    let saved: serde_json::Value = serde_json::from_str(
        annotations[dev::ORIGINAL_ANNOTATION]
            .as_str()
            .expect("saved"),
    )
    .expect("json");
    assert_eq!(saved, before["spec"]);

    let leave = dev::leave_patch(&during)
        .expect("valid")
        .expect("in dev mode");
    kube.patch_workload(&ns, "deployment", "api", leave)
        .await
        .expect("leave dev mode");
    let after = kube
        .workload(&ns, "deployment", "api")
        .await
        .expect("read")
        .expect("there");
    // Byte for byte: the spec as the API server answers it, and the
    // annotations as they were.
    assert_eq!(
        serde_json::to_string(&after["spec"]).expect("json"),
        serde_json::to_string(&before["spec"]).expect("json")
    );
    assert_eq!(
        after["metadata"]["annotations"],
        before["metadata"]["annotations"]
    );
    kube.delete_secret(&ns, &plan.token_secret)
        .await
        .expect("delete secret");
    kube.delete_secret(&ns, &plan.token_secret)
        .await
        .expect("deleting what is gone is fine");
    cluster.cleanup().await.expect("cleanup");
}

//! Dev mode against the cluster (the simulator, or a real one with
//! `BERTH_TEST_KUBECONFIG`): the patched spec is what the plan asks for,
//! the token's Secret is there, and leaving puts the original spec back
//! exactly, while a writer that does what the deployment controller does
//! (status, `deployment.kubernetes.io/revision`) races every write. Dev
//! mode's own annotations come and go; every other annotation is the
//! workload's, and the controller-owned ones are the controller's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_kube::Cluster;
use berth_kube::dev::{self, DevPlan};
use berth_kube::workload::Changed;
use berth_kube_sim::testing::{TestCluster, eventually};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Map, Value, json};

const REVISION: &str = "deployment.kubernetes.io/revision";

fn deployments(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    )
}

async fn create_api(api: &Api<DynamicObject>) -> Value {
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
    api.create(&PostParams::default(), &object)
        .await
        .expect("create");
    serde_json::to_value(api.get("api").await.expect("read")).expect("json")
}

fn plan() -> DevPlan {
    DevPlan {
        target: "api".into(),
        container: None,
        image: Some("registry.k8s.io/pause:3.10".into()),
        command: vec!["sleep".into(), "infinity".into()],
        workdir: Some("/app".into()),
        env: BTreeMap::from([("MODE".into(), "dev".into())]),
        agent_image: "registry.k8s.io/pause:3.9".into(),
        agent_url: "http://berth.berth:8080".into(),
        token_secret: dev::token_secret("api"),
        volumes: Vec::new(),
    }
}

/// The patch `berth up` sends, planned from the workload as read.
fn enter(object: &Value) -> Result<Option<Value>, String> {
    let annotations = &object["metadata"]["annotations"];
    let saved: Option<Value> = annotations[dev::ORIGINAL_ANNOTATION]
        .as_str()
        .map(|s| serde_json::from_str(s).map_err(|e| e.to_string()))
        .transpose()?;
    let original = saved.clone().unwrap_or_else(|| object["spec"].clone());
    let spec = dev::dev_spec(&original, &plan())?;
    Ok(Some(dev::enter_patch(
        object,
        spec,
        "api",
        saved.is_none().then_some(&original),
    )))
}

fn leave(object: &Value) -> Result<Option<Value>, String> {
    dev::leave_patch(object)
}

/// Annotations that are the workload's own: neither dev mode's nor a
/// controller's.
fn own_annotations(object: &Value) -> Map<String, Value> {
    object["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !dev::controller_owned(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Writes what the deployment controller writes, as often as it can,
/// until told to stop: the status (through its subresource) and the
/// revision annotation. Returns the last revision it wrote.
fn controller(
    api: Api<DynamicObject>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<u64>> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let (mut n, mut last) = (100, 0);
        while !stop.load(Ordering::SeqCst) {
            tick.tick().await;
            n += 1;
            api.patch_status(
                "api",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"observedGeneration": n, "collisionCount": n}})),
            )
            .await?;
            api.patch(
                "api",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {REVISION: n.to_string()}}})),
            )
            .await?;
            last = n;
        }
        Ok(last)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_patches_the_workload_and_leaving_restores_it_exactly() {
    let cluster = TestCluster::new().await.expect("cluster");
    let ns = cluster.namespace("dev").await.expect("namespace");
    let api = deployments(&cluster.client, &ns);
    let before = create_api(&api).await;
    let kube = Cluster::new(cluster.client.clone());
    let plan = plan();
    kube.put_secret(
        &ns,
        &plan.token_secret,
        BTreeMap::new(),
        BTreeMap::from([(dev::TOKEN_KEY.to_owned(), "berth_agt_test".to_owned())]),
    )
    .await
    .expect("secret");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = controller(api.clone(), stop.clone());
    // Let the writer get going before dev mode starts.
    eventually(
        Duration::from_secs(30),
        "the writer's first write",
        || async {
            let object = api.get("api").await?;
            Ok(object
                .metadata
                .annotations
                .unwrap_or_default()
                .get(REVISION)
                .cloned())
        },
    )
    .await
    .expect("writer");

    let entered = kube
        .change_workload(&ns, "deployment", "api", enter)
        .await
        .expect("enter dev mode");
    let Changed::Written { object: during, .. } = entered else {
        panic!("dev mode wrote nothing: {entered:?}");
    };
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
    let install = &during["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(install["name"], "berth-agent-install");
    // As the API server keeps it: what Pod Security's `restricted` asks.
    assert_eq!(install["securityContext"], dev::install_security_context());
    assert_eq!(install["securityContext"]["runAsUser"], 65532);
    let annotations = &during["metadata"]["annotations"];
    assert_eq!(annotations["team"], "payments");
    assert_eq!(annotations[dev::TARGET_ANNOTATION], "api");
    assert!(
        annotations[REVISION].is_string(),
        "the writer's revision is kept"
    );
    let saved: Value = serde_json::from_str(
        annotations[dev::ORIGINAL_ANNOTATION]
            .as_str()
            .expect("saved"),
    )
    .expect("json");
    assert_eq!(saved, before["spec"]);

    let left = kube
        .change_workload(&ns, "deployment", "api", leave)
        .await
        .expect("leave dev mode");
    assert!(matches!(left, Changed::Written { .. }), "{left:?}");
    stop.store(true, Ordering::SeqCst);
    let last_revision = writer.await.expect("writer task").expect("writer");
    let after = serde_json::to_value(api.get("api").await.expect("read")).expect("json");
    // Byte for byte: the spec as the API server answers it.
    assert_eq!(
        serde_json::to_string(&after["spec"]).expect("json"),
        serde_json::to_string(&before["spec"]).expect("json")
    );
    // The workload's own annotations as they were, dev mode's gone, and the
    // controller's as the controller left them: never saved, never restored.
    assert_eq!(own_annotations(&after), own_annotations(&before));
    assert_eq!(own_annotations(&after), {
        let mut own = Map::new();
        own.insert("team".into(), json!("payments"));
        own
    });
    let revision = after["metadata"]["annotations"][REVISION].as_str();
    if cluster.is_simulator() {
        // Nothing but the writer writes it here; a real cluster's own
        // deployment controller writes it too.
        assert_eq!(revision, Some(last_revision.to_string().as_str()));
    } else {
        assert!(revision.is_some());
    }
    // Leaving twice changes nothing.
    let again = kube
        .change_workload(&ns, "deployment", "api", leave)
        .await
        .expect("leave again");
    assert!(matches!(again, Changed::Unchanged(_)), "{again:?}");

    kube.delete_secret(&ns, &plan.token_secret)
        .await
        .expect("delete secret");
    kube.delete_secret(&ns, &plan.token_secret)
        .await
        .expect("deleting what is gone is fine");
    cluster.cleanup().await.expect("cleanup");
}

/// Simulator only (a real server's timing cannot be staged): the patch is
/// held until another writer has changed the workload, so it is refused
/// with 409; the change is planned again from the new object, which keeps
/// the other writer's annotation.
#[tokio::test]
async fn a_write_between_the_read_and_the_patch_makes_the_change_planned_again() {
    let cluster = TestCluster::new().await.expect("cluster");
    let Some(sim) = cluster.simulator() else {
        return cluster.cleanup().await.expect("cleanup");
    };
    let ns = cluster.namespace("race").await.expect("namespace");
    let api = deployments(&cluster.client, &ns);
    create_api(&api).await;
    let kube = Cluster::new(cluster.client.clone());
    sim.faults().delay_next(
        Some("PATCH"),
        &format!("/namespaces/{ns}/deployments/api"),
        Duration::from_millis(500),
        1,
    );
    let writes = sim.requests().writes;
    let change = tokio::spawn({
        let (kube, ns) = (kube.clone(), ns.clone());
        async move { kube.change_workload(&ns, "deployment", "api", enter).await }
    });
    eventually(
        Duration::from_secs(10),
        "dev mode's patch to be sent",
        || async { Ok((sim.requests().writes > writes).then_some(())) },
    )
    .await
    .expect("patch sent");
    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {REVISION: "2"}}})),
    )
    .await
    .expect("the other writer");
    let changed = change.await.expect("task").expect("dev mode");
    let Changed::Written { object, attempts } = changed else {
        panic!("nothing written: {changed:?}");
    };
    assert_eq!(attempts, 2, "refused once, then planned again");
    let annotations = &object["metadata"]["annotations"];
    assert_eq!(annotations[REVISION], "2");
    assert_eq!(annotations[dev::TARGET_ANNOTATION], "api");
    cluster.cleanup().await.expect("cleanup");
}

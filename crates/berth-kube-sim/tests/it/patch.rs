//! JSON merge patch, JSON patch and strategic merge patch.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

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
    // What a real API server gives: an item the live list did not have
    // goes first.
    assert_eq!(env, vec!["B", "A"]);
    assert_eq!(container.volume_mounts.as_ref().map(Vec::len), Some(1));
    assert_eq!(pod.volumes.as_ref().map(Vec::len), Some(1));
    cluster.cleanup().await
}

/// One Deployment: what it starts as (a merge patch on the base), the
/// strategic merge patches sent in turn, and after each, what the lists
/// read (`key` picks each item's merge key; none compares the value).
struct Case {
    what: &'static str,
    live: Value,
    steps: Vec<(Value, Vec<Expect>)>,
}

struct Expect {
    pointer: &'static str,
    key: Option<&'static str>,
    value: Value,
}

fn names(pointer: &'static str, names: &[&str]) -> Expect {
    Expect {
        pointer,
        key: Some("name"),
        value: json!(names),
    }
}

fn value(pointer: &'static str, value: Value) -> Expect {
    Expect {
        pointer,
        key: None,
        value,
    }
}

fn env(names: &[&str]) -> Value {
    json!(
        names
            .iter()
            .map(|n| json!({"name": n, "value": "1"}))
            .collect::<Vec<_>>()
    )
}

/// The base's one container with `fields` (live) or a patch to it.
fn app(fields: Value) -> Value {
    let mut container = json!({"name": "app", "image": "registry.k8s.io/pause:3.10"});
    json_patch::merge(&mut container, &fields);
    container
}

fn pod_spec(spec: Value) -> Value {
    json!({"spec": {"template": {"spec": spec}}})
}

const ENV: &str = "/spec/template/spec/containers/0/env";
const CONTAINERS: &str = "/spec/template/spec/containers";
const VOLUMES: &str = "/spec/template/spec/volumes";

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "a new env var goes first",
            live: pod_spec(json!({"containers": [app(json!({"env": env(&["A"])}))]})),
            steps: vec![(
                pod_spec(json!({"containers": [{"name": "app", "env": env(&["B"])}]})),
                vec![names(ENV, &["B", "A"])],
            )],
        },
        Case {
            what: "patched and new env vars keep the patch's order around live ones",
            live: pod_spec(json!({"containers": [app(json!({"env": env(&["A", "B", "C"])}))]})),
            steps: vec![
                (
                    pod_spec(json!({"containers": [{"name": "app", "env": env(&["B", "D"])}]})),
                    vec![names(ENV, &["A", "B", "D", "C"])],
                ),
                (
                    pod_spec(json!({"containers": [{"name": "app", "env": env(&["E", "A"])}]})),
                    vec![names(ENV, &["E", "A", "B", "D", "C"])],
                ),
                (
                    pod_spec(json!({"containers": [{"name": "app", "env": [
                        {"name": "B", "$patch": "delete"}, {"name": "F", "value": "1"}]}]})),
                    vec![names(ENV, &["F", "E", "A", "D", "C"])],
                ),
            ],
        },
        Case {
            what: "$setElementOrder orders env as kubectl apply asks",
            live: pod_spec(json!({"containers": [app(json!({"env": env(&["A", "B", "C"])}))]})),
            steps: vec![
                (
                    pod_spec(json!({"containers": [{"name": "app",
                        "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "B"}],
                        "env": [{"name": "A", "value": "2"}]}]})),
                    vec![names(ENV, &["C", "A", "B"])],
                ),
                (
                    pod_spec(json!({"containers": [{"name": "app",
                        "$setElementOrder/env": [{"name": "C"}, {"name": "D"}, {"name": "A"}, {"name": "B"}],
                        "env": env(&["D"])}]})),
                    vec![names(ENV, &["C", "D", "A", "B"])],
                ),
            ],
        },
        Case {
            what: "$patch: replace replaces the list",
            live: pod_spec(json!({"containers": [app(json!({"env": env(&["A", "B"])}))]})),
            steps: vec![(
                pod_spec(json!({"containers": [{"name": "app",
                    "env": [{"$patch": "replace"}, {"name": "Z", "value": "1"}]}]})),
                vec![names(ENV, &["Z"])],
            )],
        },
        Case {
            what: "a new container goes first",
            live: pod_spec(json!({"containers": [app(json!({}))]})),
            steps: vec![(
                pod_spec(json!({"containers": [
                    {"name": "sidecar", "image": "registry.k8s.io/pause:3.10"}]})),
                vec![names(CONTAINERS, &["sidecar", "app"])],
            )],
        },
        Case {
            what: "new volumes, volumeMounts and ports go first",
            live: pod_spec(json!({
                "containers": [app(json!({
                    "ports": [{"containerPort": 80}],
                    "volumeMounts": [{"name": "v", "mountPath": "/v"}]}))],
                "volumes": [{"name": "v", "emptyDir": {}}],
            })),
            steps: vec![(
                pod_spec(json!({
                    "containers": [{"name": "app",
                        "ports": [{"containerPort": 8080}],
                        "volumeMounts": [{"name": "w", "mountPath": "/w"}]}],
                    "volumes": [{"name": "w", "emptyDir": {}}],
                })),
                vec![
                    names(VOLUMES, &["w", "v"]),
                    Expect {
                        pointer: "/spec/template/spec/containers/0/volumeMounts",
                        key: Some("mountPath"),
                        value: json!(["/w", "/v"]),
                    },
                    Expect {
                        pointer: "/spec/template/spec/containers/0/ports",
                        key: Some("containerPort"),
                        value: json!([8080, 80]),
                    },
                ],
            )],
        },
        Case {
            what: "$retainKeys switches a volume's source and the rollout strategy",
            live: json!({"spec": {
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"spec": {
                    "containers": [app(json!({}))],
                    "volumes": [{"name": "v", "emptyDir": {}}],
                }},
            }}),
            steps: vec![(
                json!({"spec": {
                    "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                    "template": {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"],
                        "name": "v", "configMap": {"name": "settings"}}]}},
                }}),
                vec![
                    value("/spec/strategy", json!({"type": "Recreate"})),
                    value("/spec/template/spec/volumes/0/emptyDir", Value::Null),
                    value(
                        "/spec/template/spec/volumes/0/configMap/name",
                        json!("settings"),
                    ),
                ],
            )],
        },
        Case {
            what: "a new finalizer goes first; $deleteFromPrimitiveList removes one",
            live: json!({"metadata": {"finalizers": ["a.berth.dev/x"]}}),
            steps: vec![
                (
                    json!({"metadata": {"finalizers": ["b.berth.dev/y"]}}),
                    vec![value(
                        "/metadata/finalizers",
                        json!(["b.berth.dev/y", "a.berth.dev/x"]),
                    )],
                ),
                (
                    json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.berth.dev/x"]}}),
                    vec![value("/metadata/finalizers", json!(["b.berth.dev/y"]))],
                ),
            ],
        },
    ]
}

/// The strategic merge patch order of every list Berth (and kubectl or a
/// client-side Helm apply) patches, as a table: the same on the simulator
/// and on a real API server.
#[tokio::test]
async fn strategic_merge_orders_lists_as_the_api_server_does() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("smp-order").await?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    for (i, case) in cases().into_iter().enumerate() {
        let name = format!("case-{i}");
        let mut object = deployment(&name, 0);
        json_patch::merge(&mut object, &case.live);
        create(&api, object).await;
        for (step, (patch, expects)) in case.steps.into_iter().enumerate() {
            let patched = api
                .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
                .await
                .map_err(|e| anyhow::anyhow!("{} (step {step}): {e}", case.what))?;
            let patched = serde_json::to_value(&patched)?;
            for expect in expects {
                let at = patched
                    .pointer(expect.pointer)
                    .cloned()
                    .unwrap_or(Value::Null);
                let actual = match expect.key {
                    Some(key) => json!(
                        at.as_array()
                            .into_iter()
                            .flatten()
                            .map(|item| item[key].clone())
                            .collect::<Vec<_>>()
                    ),
                    None => at,
                };
                assert_eq!(
                    actual, expect.value,
                    "{} (step {step}): {}",
                    case.what, expect.pointer
                );
            }
        }
        // No finalizer may hold the namespace's deletion.
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await?;
    }
    cluster.cleanup().await
}

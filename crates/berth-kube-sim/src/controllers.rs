//! The small controller behaviour Berth relies on, simulated: every
//! namespace's `default` ServiceAccount, namespace termination, garbage
//! collection of owned objects, workload status that follows `spec.replicas`,
//! ResourceQuota usage, and (when asked) Jobs that complete at once.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::quantity;
use crate::resources::ResourceType;
use crate::store::{Cluster, DeleteOpts, Event, EventType, State};

pub(crate) async fn run(
    cluster: Arc<Cluster>,
    mut events: mpsc::UnboundedReceiver<Arc<Event>>,
    complete_jobs: bool,
) {
    while let Some(event) = events.recv().await {
        let mut state = cluster.lock();
        react(&mut state, &event, complete_jobs);
    }
}

fn rt(state: &State, group: &str, plural: &str) -> Option<ResourceType> {
    state
        .types
        .get(&(group.to_owned(), plural.to_owned()))
        .cloned()
}

fn react(state: &mut State, event: &Event, complete_jobs: bool) {
    let (group, plural) = (event.res.0.as_str(), event.res.1.as_str());
    let object = &event.object;
    let ns = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();

    if (group, plural) == ("", "namespaces") {
        let terminating = object["metadata"]["deletionTimestamp"].is_string();
        if event.kind == EventType::Added && !terminating {
            ensure_default_service_account(state, &name);
        }
        if terminating && event.kind != EventType::Deleted {
            finalize_namespace(state, &name);
        }
        return;
    }

    if event.kind == EventType::Deleted
        && let Some(uid) = object["metadata"]["uid"].as_str()
    {
        state.collect_garbage(uid);
    }
    // Foreground deletion: the owner goes once its dependents have.
    if object["metadata"]["deletionTimestamp"].is_string() && event.kind != EventType::Deleted {
        foreground(state, group, plural, &ns, &name, object);
    }
    for owner in object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if event.kind == EventType::Deleted
            && let Some(uid) = owner["uid"].as_str()
        {
            release_foreground_owner(state, uid);
        }
    }

    if !ns.is_empty() {
        if let Some(namespace) = state.namespace_exists(&ns)
            && namespace["metadata"]["deletionTimestamp"].is_string()
        {
            finalize_namespace(state, &ns);
        }
        update_quotas(state, &ns);
    }

    if event.kind != EventType::Deleted
        && group == "apps"
        && matches!(plural, "deployments" | "statefulsets" | "replicasets")
    {
        follow_replicas(state, plural, &ns, &name);
    }
    if complete_jobs && event.kind == EventType::Added && (group, plural) == ("batch", "jobs") {
        complete_job(state, &ns, &name);
    }
}

/// A Job completes as if its pods had run and succeeded (its
/// `completions`, one by default); the times are its creation's.
fn complete_job(state: &mut State, ns: &str, name: &str) {
    let Some(rt) = rt(state, "batch", "jobs") else {
        return;
    };
    let Some(old) = state.get(&rt, ns, name).cloned() else {
        return;
    };
    if old["spec"]["suspend"] == true || old.pointer("/status/conditions").is_some() {
        return;
    }
    let at = old["metadata"]["creationTimestamp"].clone();
    let condition = |kind: &str| {
        json!({"type": kind, "status": "True", "reason": "Completed",
            "message": "the embedded cluster runs no pods: Jobs complete at once",
            "lastProbeTime": at, "lastTransitionTime": at})
    };
    let mut new = old.clone();
    new["status"] = json!({
        "startTime": at,
        "completionTime": at,
        "succeeded": old["spec"]["completions"].as_i64().unwrap_or(1),
        "conditions": [condition("SuccessCriteriaMet"), condition("Complete")],
    });
    state.write(&rt, ns, name, Some(&old), new);
}

fn ensure_default_service_account(state: &mut State, ns: &str) {
    let Some(sa) = rt(state, "", "serviceaccounts") else {
        return;
    };
    if state.get(&sa, ns, "default").is_some() {
        return;
    }
    let object = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "default",
            "namespace": ns,
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": crate::store::now(),
        },
    });
    state.write(&sa, ns, "default", None, object);
}

/// Deletes a terminating namespace's contents, then the namespace itself.
fn finalize_namespace(state: &mut State, ns: &str) {
    let contents = state.namespace_contents(ns);
    for (rt, name, deleting) in &contents {
        if !deleting {
            let _ = state.delete(rt, ns, name, &DeleteOpts::default());
        }
    }
    if !state.namespace_contents(ns).is_empty() {
        return;
    }
    let Some(namespaces) = rt(state, "", "namespaces") else {
        return;
    };
    let Some(old) = state.get(&namespaces, "", ns).cloned() else {
        return;
    };
    let mut new = old.clone();
    new["spec"]["finalizers"] = json!([]);
    state.write(&namespaces, "", ns, Some(&old), new);
}

fn foreground(state: &mut State, group: &str, plural: &str, ns: &str, name: &str, object: &Value) {
    let has = object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == "foregroundDeletion"));
    let Some(uid) = object["metadata"]["uid"].as_str() else {
        return;
    };
    if !has {
        return;
    }
    if state.has_dependents(uid) {
        state.collect_garbage(uid);
    }
    if !state.has_dependents(uid) {
        remove_foreground_finalizer(state, group, plural, ns, name);
    }
}

fn release_foreground_owner(state: &mut State, owner_uid: &str) {
    let mut owner = None;
    for (res, objects) in &state.objects {
        for ((ns, name), object) in objects {
            if object["metadata"]["uid"].as_str() == Some(owner_uid) {
                owner = Some((res.clone(), ns.clone(), name.clone()));
            }
        }
    }
    if let Some(((group, plural), ns, name)) = owner
        && !state.has_dependents(owner_uid)
    {
        remove_foreground_finalizer(state, &group, &plural, &ns, &name);
    }
}

fn remove_foreground_finalizer(state: &mut State, group: &str, plural: &str, ns: &str, name: &str) {
    let Some(rt) = rt(state, group, plural) else {
        return;
    };
    let Some(old) = state.get(&rt, ns, name).cloned() else {
        return;
    };
    if !old["metadata"]["deletionTimestamp"].is_string() {
        return;
    }
    let mut new = old.clone();
    if let Some(list) = new["metadata"]["finalizers"].as_array_mut() {
        list.retain(|f| f != "foregroundDeletion");
    }
    state.write(&rt, ns, name, Some(&old), new);
}

/// Deployments, StatefulSets and ReplicaSets report the replicas they were
/// asked for as running, and the generation they observed.
fn follow_replicas(state: &mut State, plural: &str, ns: &str, name: &str) {
    let Some(rt) = rt(state, "apps", plural) else {
        return;
    };
    let Some(old) = state.get(&rt, ns, name).cloned() else {
        return;
    };
    let replicas = old["spec"]["replicas"].as_i64().unwrap_or(1);
    let mut status = Map::new();
    status.insert(
        "observedGeneration".to_owned(),
        old["metadata"]["generation"].clone(),
    );
    status.insert("replicas".to_owned(), json!(replicas));
    if replicas > 0 {
        status.insert("readyReplicas".to_owned(), json!(replicas));
        status.insert("availableReplicas".to_owned(), json!(replicas));
        status.insert("updatedReplicas".to_owned(), json!(replicas));
        if plural == "statefulsets" {
            status.insert("currentReplicas".to_owned(), json!(replicas));
        }
    }
    if plural == "deployments" {
        // What `kubectl rollout status` and Helm's --wait read. Times are
        // the object's creation, so the status is stable and written once.
        let at = old["metadata"]["creationTimestamp"].clone();
        let condition = |kind: &str, reason: &str, message: &str| {
            json!({"type": kind, "status": "True", "reason": reason, "message": message,
                "lastUpdateTime": at, "lastTransitionTime": at})
        };
        status.insert(
            "conditions".to_owned(),
            json!([
                condition(
                    "Available",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability."
                ),
                condition(
                    "Progressing",
                    "NewReplicaSetAvailable",
                    "The replica set has progressed."
                ),
            ]),
        );
    } else {
        let revision = format!(
            "{name}-{}",
            old["metadata"]["generation"].as_i64().unwrap_or(1)
        );
        status.insert("currentRevision".to_owned(), json!(revision));
        status.insert("updateRevision".to_owned(), json!(revision));
    }
    let status = Value::Object(status);
    if old["status"] == status {
        return;
    }
    let mut new = old.clone();
    new["status"] = status;
    state.write(&rt, ns, name, Some(&old), new);
}

/// Recomputes `status.used` of every ResourceQuota in `ns` for the
/// resources its `spec.hard` names.
fn update_quotas(state: &mut State, ns: &str) {
    let Some(quotas) = rt(state, "", "resourcequotas") else {
        return;
    };
    let names: Vec<String> = state
        .objects
        .get(&quotas.key())
        .into_iter()
        .flatten()
        .filter(|((object_ns, _), _)| object_ns == ns)
        .map(|((_, name), _)| name.clone())
        .collect();
    for name in names {
        let Some(old) = state.get(&quotas, ns, &name).cloned() else {
            continue;
        };
        let hard = old["spec"]["hard"].as_object().cloned().unwrap_or_default();
        let mut used = Map::new();
        for resource in hard.keys() {
            if let Some(value) = usage(state, ns, resource) {
                used.insert(resource.clone(), json!(value));
            }
        }
        let status = json!({"hard": hard, "used": used});
        if old["status"] == status {
            continue;
        }
        let mut new = old.clone();
        new["status"] = status;
        state.write(&quotas, ns, &name, Some(&old), new);
    }
}

fn count(state: &State, group: &str, plural: &str, ns: &str) -> usize {
    state
        .objects
        .get(&(group.to_owned(), plural.to_owned()))
        .into_iter()
        .flatten()
        .filter(|((object_ns, _), object)| {
            object_ns == ns && !object["metadata"]["deletionTimestamp"].is_string()
        })
        .count()
}

fn usage(state: &State, ns: &str, resource: &str) -> Option<String> {
    let counted = |plural: &str| Some(count(state, "", plural, ns).to_string());
    match resource {
        "pods" => counted("pods"),
        "services" => counted("services"),
        "configmaps" => counted("configmaps"),
        "secrets" => counted("secrets"),
        "persistentvolumeclaims" => counted("persistentvolumeclaims"),
        "resourcequotas" => counted("resourcequotas"),
        "replicationcontrollers" => Some("0".to_owned()),
        "cpu" | "requests.cpu" => Some(quantity::format_cpu(pod_sum(state, ns, "requests", "cpu"))),
        "memory" | "requests.memory" => Some(quantity::format_bytes(pod_sum(
            state, ns, "requests", "memory",
        ))),
        "limits.cpu" => Some(quantity::format_cpu(pod_sum(state, ns, "limits", "cpu"))),
        "limits.memory" => Some(quantity::format_bytes(pod_sum(
            state, ns, "limits", "memory",
        ))),
        "requests.storage" => {
            let total: i128 = state
                .objects
                .get(&(String::new(), "persistentvolumeclaims".to_owned()))
                .into_iter()
                .flatten()
                .filter(|((object_ns, _), _)| object_ns == ns)
                .filter_map(|(_, pvc)| {
                    pvc["spec"]["resources"]["requests"]["storage"]
                        .as_str()
                        .and_then(quantity::parse_millis)
                })
                .sum();
            Some(quantity::format_bytes(total))
        }
        other => {
            let target = other.strip_prefix("count/")?;
            let (plural, group) = target.split_once('.').unwrap_or((target, ""));
            Some(count(state, group, plural, ns).to_string())
        }
    }
}

fn pod_sum(state: &State, ns: &str, kind: &str, resource: &str) -> i128 {
    state
        .objects
        .get(&(String::new(), "pods".to_owned()))
        .into_iter()
        .flatten()
        .filter(|((object_ns, _), _)| object_ns == ns)
        .flat_map(|(_, pod)| {
            pod["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| {
            c["resources"][kind][resource]
                .as_str()
                .and_then(quantity::parse_millis)
        })
        .sum()
}

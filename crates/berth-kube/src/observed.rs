//! What the cluster holds of a space, typed for the crates above, so that
//! only this crate reads Kubernetes JSON: the space's namespace, its quota,
//! and each object it should have against what is there. Pure: no IO.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::plan::{SPACE_LABEL, contains};

/// A namespace as the cluster holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceState {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Its deletion was asked for (it has a `deletionTimestamp`); it goes
    /// once everything in it has.
    pub terminating: bool,
}

impl NamespaceState {
    /// Reads a Namespace object.
    pub fn of(object: &Value) -> NamespaceState {
        NamespaceState {
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            labels: strings(&object["metadata"]["labels"]),
            terminating: object["metadata"]["deletionTimestamp"].is_string(),
        }
    }

    /// Whether Berth made it: its `berth.dev/space` label names it. One
    /// that Berth did not make is never touched unless an admin adopts it.
    pub fn made_by_berth(&self) -> bool {
        self.labels.get(SPACE_LABEL) == Some(&self.name)
    }
}

/// What a space's ResourceQuota allows and what is in use, by resource;
/// empty while there is no quota.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaState {
    pub hard: BTreeMap<String, String>,
    pub used: BTreeMap<String, String>,
}

impl QuotaState {
    /// Reads a ResourceQuota object.
    pub fn of(object: &Value) -> QuotaState {
        QuotaState {
            hard: strings(&object["spec"]["hard"]),
            used: strings(&object["status"]["used"]),
        }
    }
}

/// What the watches have seen of one space.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Its namespace, when the cache holds it. A namespace Berth did not
    /// label is not watched, so it is not here: ask
    /// [`Cluster::namespace`](crate::Cluster::namespace).
    pub namespace: Option<NamespaceState>,
    /// Its quota, as the cluster counts it.
    pub quota: QuotaState,
    /// Every object, whole: what [`changes`](crate::changes) and
    /// [`compare`] read.
    pub objects: Vec<Value>,
}

impl Observation {
    pub fn of(objects: Vec<Value>) -> Observation {
        let find = |kind: &str| objects.iter().find(|o| o["kind"] == kind);
        Observation {
            namespace: find("Namespace").map(NamespaceState::of),
            quota: find("ResourceQuota")
                .map(QuotaState::of)
                .unwrap_or_default(),
            objects,
        }
    }
}

/// One object a space should have, and whether the cluster holds it so.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectState {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The cluster holds every field the plan sets, with the plan's value.
    pub in_sync: bool,
    /// The object as the cluster holds it; null when it is missing.
    pub object: Value,
}

/// Each of `desired` (the plan) beside its counterpart in `observed`.
pub fn compare(desired: &[Value], observed: &[Value]) -> Vec<ObjectState> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    desired
        .iter()
        .map(|want| {
            let have = observed.iter().find(|o| {
                o["kind"] == want["kind"] && o["metadata"]["name"] == want["metadata"]["name"]
            });
            ObjectState {
                api_version: text(&want["apiVersion"]),
                kind: text(&want["kind"]),
                name: text(&want["metadata"]["name"]),
                in_sync: have.is_some_and(|h| contains(h, want)),
                object: have.cloned().unwrap_or(Value::Null),
            }
        })
        .collect()
}

/// A map of strings (labels, quantities); other values read as empty.
fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_namespace_reads_as_berths_only_when_its_label_names_it() {
        for (object, made_by_berth, terminating) in [
            (
                json!({"metadata": {"name": "a", "labels": {"berth.dev/space": "a"}}}),
                true,
                false,
            ),
            (
                json!({"metadata": {"name": "a", "labels": {"berth.dev/space": "b"}}}),
                false,
                false,
            ),
            (json!({"metadata": {"name": "a"}}), false, false),
            (
                json!({"metadata": {"name": "a", "labels": {"berth.dev/space": "a"},
                    "deletionTimestamp": "2025-01-01T00:00:00Z"}}),
                true,
                true,
            ),
        ] {
            let ns = NamespaceState::of(&object);
            assert_eq!(ns.made_by_berth(), made_by_berth, "{object}");
            assert_eq!(ns.terminating, terminating, "{object}");
        }
    }

    #[test]
    fn an_observation_finds_the_namespace_and_the_quota() {
        let observed = Observation::of(vec![
            json!({"kind": "Namespace", "metadata": {"name": "a", "labels": {"berth.dev/space": "a"}}}),
            json!({"kind": "ResourceQuota", "metadata": {"name": "berth-quota", "namespace": "a"},
                "spec": {"hard": {"pods": "50"}}, "status": {"used": {"pods": "3"}}}),
        ]);
        assert_eq!(observed.namespace.map(|ns| ns.name), Some("a".to_owned()));
        assert_eq!(observed.quota.hard["pods"], "50");
        assert_eq!(observed.quota.used["pods"], "3");
        assert_eq!(Observation::of(Vec::new()).quota, QuotaState::default());
    }

    #[test]
    fn each_desired_object_is_compared_with_what_is_there() {
        let desired = [
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}, "automount": false}),
            json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "y"}}),
        ];
        let observed = [
            json!({"kind": "ServiceAccount", "metadata": {"name": "x", "uid": "1"}, "automount": true}),
        ];
        let states = compare(&desired, &observed);
        assert_eq!(
            states
                .iter()
                .map(|s| (
                    s.kind.as_str(),
                    s.name.as_str(),
                    s.in_sync,
                    s.object.is_null()
                ))
                .collect::<Vec<_>>(),
            [
                ("ServiceAccount", "x", false, false),
                ("LimitRange", "y", false, true)
            ]
        );
    }
}

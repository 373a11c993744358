//! The objects a space is made of, and the changes that would bring the
//! cluster to them. Pure: no IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The label on every object Berth makes for a space.
pub const SPACE_LABEL: &str = "berth.dev/space";
/// The label naming the space's owner, on its namespace.
pub const OWNER_LABEL: &str = "berth.dev/owner";

/// The Pod Security admission level enforced in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PodSecurity {
    Privileged,
    Baseline,
    Restricted,
}

impl PodSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurity::Privileged => "privileged",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Restricted => "restricted",
        }
    }
}

/// A named set of limits: the ResourceQuota's `hard` map and the
/// LimitRange's container defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaProfile {
    pub name: String,
    /// ResourceQuota `spec.hard`, such as `requests.cpu = "4"`.
    pub hard: BTreeMap<String, String>,
    /// Default container requests (`cpu`, `memory`).
    pub default_request: BTreeMap<String, String>,
    /// Default container limits.
    pub default_limit: BTreeMap<String, String>,
}

/// Cluster-wide settings that shape every space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterPolicy {
    /// Namespaces whose pods may reach every space (ingress controllers).
    pub ingress_namespaces: Vec<String>,
    pub pod_security: PodSecurity,
}

/// What a space should be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceSpec {
    /// The namespace name: a DNS-1123 label.
    pub name: String,
    pub owner: String,
    pub quota: QuotaProfile,
    /// Isolate the space's network from other spaces (on by default).
    pub isolated: bool,
    /// The space's own labels, put on its namespace beside Berth's.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The Berth user names of its owner and members: who reaches its
    /// Kubernetes API through berthd's proxy.
    #[serde(default)]
    pub developers: Vec<String>,
}

fn labels(space: &str) -> Value {
    json!({SPACE_LABEL: space, "app.kubernetes.io/managed-by": "berth"})
}

fn object(
    api_version: &str,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    space: &str,
) -> Value {
    let mut meta = json!({"name": name, "labels": labels(space)});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": meta})
}

/// The name of the ServiceAccount catalog installs run as.
pub const INSTALLER: &str = "berth-installer";
/// The RoleBinding that gives the space's owner and members, as berthd's
/// proxy impersonates them, the installer's Role.
pub const DEVELOPERS: &str = "berth-developers";

/// The objects of a space, namespace first. Nothing here is cluster-scoped
/// but the namespace itself.
pub fn space(spec: &SpaceSpec, cluster: &ClusterPolicy) -> Vec<Value> {
    let ns = spec.name.as_str();
    let level = cluster.pod_security.as_str();
    let mut namespace = object("v1", "Namespace", ns, None, ns);
    let labels = &mut namespace["metadata"]["labels"];
    for (key, value) in &spec.labels {
        labels[key] = json!(value);
    }
    labels[OWNER_LABEL] = json!(spec.owner);
    for mode in ["enforce", "warn", "audit"] {
        labels[format!("pod-security.kubernetes.io/{mode}")] = json!(level);
        labels[format!("pod-security.kubernetes.io/{mode}-version")] = json!("latest");
    }

    let mut quota = object("v1", "ResourceQuota", "berth-quota", Some(ns), ns);
    quota["spec"] = json!({"hard": spec.quota.hard});

    let mut limits = object("v1", "LimitRange", "berth-limits", Some(ns), ns);
    limits["spec"] = json!({"limits": [{
        "type": "Container",
        "defaultRequest": spec.quota.default_request,
        "default": spec.quota.default_limit,
    }]});

    let mut objects = vec![namespace, quota, limits];

    if spec.isolated {
        // Ingress from this namespace and from the ingress controllers only;
        // egress (DNS included) stays open.
        let mut from = vec![json!({"podSelector": {}})];
        if !cluster.ingress_namespaces.is_empty() {
            from.push(json!({"namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": cluster.ingress_namespaces,
            }]}}));
        }
        let mut policy = object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "berth-isolation",
            Some(ns),
            ns,
        );
        policy["spec"] =
            json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": from}]});
        objects.push(policy);
    }

    objects.push(object("v1", "ServiceAccount", INSTALLER, Some(ns), ns));
    let mut role = object(
        "rbac.authorization.k8s.io/v1",
        "Role",
        INSTALLER,
        Some(ns),
        ns,
    );
    // What a Helm chart installs into one namespace; not the space's quota,
    // limits or isolation policy, which are Berth's. The verbs are listed, not
    // "*": no `escalate` or `bind`, so a chart can only grant what the
    // installer itself holds.
    let verbs = json!([
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection"
    ]);
    role["rules"] = json!([
        {"apiGroups": [""], "resources": ["pods", "pods/log", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims", "events"], "verbs": verbs},
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"], "verbs": verbs},
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": verbs},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": verbs},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": verbs},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": verbs},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": verbs},
    ]);
    objects.push(role);
    let mut binding = object(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        INSTALLER,
        Some(ns),
        ns,
    );
    binding["roleRef"] =
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": INSTALLER});
    binding["subjects"] = json!([{"kind": "ServiceAccount", "name": INSTALLER, "namespace": ns}]);
    objects.push(binding);
    // The developers reach the namespace through berthd's proxy as
    // `berth:USER` and may do there what a catalog install may.
    let mut developers = object(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        DEVELOPERS,
        Some(ns),
        ns,
    );
    developers["roleRef"] =
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": INSTALLER});
    let mut users: Vec<&str> = spec.developers.iter().map(String::as_str).collect();
    users.sort_unstable();
    users.dedup();
    developers["subjects"] = users
        .iter()
        .map(|user| {
            json!({
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "User",
                "name": crate::proxy::user_name(user),
            })
        })
        .collect();
    objects.push(developers);
    objects
}

/// A write the cluster needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Server-side apply this object (it is missing or differs).
    Apply(Value),
}

/// Whether `observed` already holds every field of `desired` with the same
/// value. Maps are compared key by key (extra observed keys are fine: the
/// server adds defaults and status); lists must be equal.
pub fn contains(observed: &Value, desired: &Value) -> bool {
    match (observed, desired) {
        (Value::Object(o), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| o.get(k).is_some_and(|ov| contains(ov, dv))),
        (o, d) => o == d,
    }
}

/// A namespace of the space's name exists and Berth did not make it: it is
/// never taken over (an admin adopts it explicitly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace {0} exists and was not made by Berth; an admin must adopt it explicitly")]
pub struct ForeignNamespace(pub String);

/// The changes that bring `observed` (the objects the cluster holds, as
/// returned by its API) to `desired`: none when nothing differs, so a
/// converged space costs no writes.
pub fn changes(desired: &[Value], observed: &[Value]) -> Result<Vec<Change>, ForeignNamespace> {
    for have in observed.iter().filter(|o| o["kind"] == "Namespace") {
        let name = have["metadata"]["name"].as_str().unwrap_or("");
        if have["metadata"]["labels"][SPACE_LABEL].as_str() != Some(name) {
            return Err(ForeignNamespace(name.to_owned()));
        }
    }
    Ok(desired
        .iter()
        .filter(|want| {
            let found = observed.iter().find(|have| {
                have["kind"] == want["kind"]
                    && have["metadata"]["name"] == want["metadata"]["name"]
                    && have["metadata"]["namespace"] == want["metadata"]["namespace"]
            });
            !found.is_some_and(|have| contains(have, want))
        })
        .cloned()
        .map(Change::Apply)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> (SpaceSpec, ClusterPolicy) {
        (
            SpaceSpec {
                name: "alice".to_owned(),
                owner: "alice".to_owned(),
                quota: QuotaProfile {
                    name: "small".to_owned(),
                    hard: [
                        ("requests.cpu".to_owned(), "4".to_owned()),
                        ("pods".to_owned(), "20".to_owned()),
                    ]
                    .into(),
                    default_request: [("cpu".to_owned(), "100m".to_owned())].into(),
                    default_limit: [("cpu".to_owned(), "1".to_owned())].into(),
                },
                isolated: true,
                labels: BTreeMap::new(),
                developers: vec!["alice".to_owned(), "bob".to_owned()],
            },
            ClusterPolicy {
                ingress_namespaces: vec!["ingress-nginx".to_owned()],
                pod_security: PodSecurity::Baseline,
            },
        )
    }

    #[test]
    fn a_space_is_these_objects() {
        let (spec, cluster) = spec();
        let objects = space(&spec, &cluster);
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ResourceQuota",
                "LimitRange",
                "NetworkPolicy",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "RoleBinding"
            ]
        );
        assert_eq!(
            objects[7]["subjects"],
            json!([
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "berth:alice"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "berth:bob"},
            ]),
            "the space's developers, as the proxy impersonates them"
        );
        assert!(
            objects
                .iter()
                .all(|o| o["metadata"]["labels"][SPACE_LABEL] == "alice")
        );
        assert_eq!(
            objects[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "baseline"
        );
        assert!(
            objects[1..]
                .iter()
                .all(|o| o["metadata"]["namespace"] == "alice"),
            "only the namespace is cluster-scoped"
        );

        let open = SpaceSpec {
            isolated: false,
            ..spec
        };
        assert!(
            !space(&open, &cluster)
                .iter()
                .any(|o| o["kind"] == "NetworkPolicy")
        );
    }

    #[test]
    fn nothing_changes_when_the_cluster_holds_the_plan() {
        let (spec, cluster) = spec();
        let desired = space(&spec, &cluster);
        // The server adds fields (uid, status, defaults); that is no change.
        let observed: Vec<Value> = desired
            .iter()
            .map(|o| {
                let mut o = o.clone();
                o["metadata"]["uid"] = json!("x");
                o["status"] = json!({"phase": "Active"});
                o
            })
            .collect();
        assert!(changes(&desired, &observed).expect("ours").is_empty());

        let mut drifted = observed.clone();
        drifted[1]["spec"]["hard"]["pods"] = json!("999");
        drifted.remove(4);
        let needed = changes(&desired, &drifted).expect("ours");
        let names: Vec<String> = needed
            .iter()
            .map(|Change::Apply(o)| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                "ResourceQuota/berth-quota",
                "ServiceAccount/berth-installer"
            ]
        );
    }
}

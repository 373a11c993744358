//! The resource types the simulator serves: the built-in kinds Berth uses and
//! any CustomResourceDefinition created at run time.

use serde_json::{Value, json};

/// One served collection, such as `apps/v1 deployments`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    /// Served with a `/status` subresource: the main resource ignores status.
    pub status: bool,
    /// Served with a `/scale` subresource (`spec.replicas`).
    pub scale: bool,
    pub short_names: Vec<String>,
}

/// Identifies a collection independent of its version: `(group, plural)`.
pub type ResKey = (String, String);

impl ResourceType {
    fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            singular: kind.to_ascii_lowercase(),
            namespaced,
            status: false,
            scale: false,
            short_names: Vec::new(),
        }
    }

    fn with_status(mut self) -> Self {
        self.status = true;
        self
    }

    fn with_scale(mut self) -> Self {
        self.scale = true;
        self
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn key(&self) -> ResKey {
        (self.group.clone(), self.plural.clone())
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Deployment.apps`, as API error messages name a kind.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// `deployments.apps`, as NotFound messages name a resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Names of namespaces and services are DNS-1123 labels; others subdomains.
    pub fn name_is_label(&self) -> bool {
        self.group.is_empty() && matches!(self.plural.as_str(), "namespaces" | "services")
    }

    /// Entries of an `APIResourceList` for this type and its subresources.
    pub fn discovery(&self) -> Vec<Value> {
        let verbs = json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ]);
        let mut out = vec![json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
            "shortNames": self.short_names,
        })];
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.scale {
            out.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

/// The built-in kinds, as a current Kubernetes API server serves them.
pub fn builtins() -> Vec<ResourceType> {
    let core = |kind, plural, namespaced| ResourceType::new("", "v1", kind, plural, namespaced);
    let apps = |kind, plural| ResourceType::new("apps", "v1", kind, plural, true);
    let rbac = |kind, plural, namespaced| {
        ResourceType::new("rbac.authorization.k8s.io", "v1", kind, plural, namespaced)
    };
    vec![
        core("Namespace", "namespaces", false)
            .with_status()
            .short(&["ns"]),
        core("ResourceQuota", "resourcequotas", true)
            .with_status()
            .short(&["quota"]),
        core("LimitRange", "limitranges", true).short(&["limits"]),
        core("ServiceAccount", "serviceaccounts", true).short(&["sa"]),
        core("ConfigMap", "configmaps", true).short(&["cm"]),
        core("Secret", "secrets", true),
        core("Service", "services", true)
            .with_status()
            .short(&["svc"]),
        core("Pod", "pods", true).with_status().short(&["po"]),
        core("PersistentVolumeClaim", "persistentvolumeclaims", true)
            .with_status()
            .short(&["pvc"]),
        core("Event", "events", true).short(&["ev"]),
        apps("Deployment", "deployments")
            .with_status()
            .with_scale()
            .short(&["deploy"]),
        apps("StatefulSet", "statefulsets")
            .with_status()
            .with_scale()
            .short(&["sts"]),
        apps("ReplicaSet", "replicasets")
            .with_status()
            .with_scale()
            .short(&["rs"]),
        ResourceType::new("batch", "v1", "Job", "jobs", true).with_status(),
        ResourceType::new("batch", "v1", "CronJob", "cronjobs", true)
            .with_status()
            .short(&["cj"]),
        ResourceType::new(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
        .short(&["netpol"]),
        ResourceType::new("networking.k8s.io", "v1", "Ingress", "ingresses", true)
            .with_status()
            .short(&["ing"]),
        rbac("Role", "roles", true),
        rbac("RoleBinding", "rolebindings", true),
        rbac("ClusterRole", "clusterroles", false),
        rbac("ClusterRoleBinding", "clusterrolebindings", false),
        ResourceType::new("coordination.k8s.io", "v1", "Lease", "leases", true),
        ResourceType::new("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
        ResourceType::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .with_status()
        .short(&["crd", "crds"]),
    ]
}

/// The Kubernetes 1.x minor release from which a built-in kind is served at
/// the group/version [`builtins`] gives it (`batch/v1` CronJobs came with
/// 1.21; `apps/v1`, `rbac.authorization.k8s.io/v1` and the core kinds with
/// 1.9 or before).
pub fn served_since(rt: &ResourceType) -> u32 {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("batch", "cronjobs") => 21,
        ("networking.k8s.io", "ingresses") | ("events.k8s.io", _) => 19,
        ("apiextensions.k8s.io", _) => 16,
        ("coordination.k8s.io", _) => 14,
        _ => 9,
    }
}

/// The resource type a CustomResourceDefinition object defines, served at its
/// storage version (the simulator serves one version per resource).
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let names = spec.get("names")?;
    let versions = spec.get("versions")?.as_array()?;
    let version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .or_else(|| versions.first())?;
    let mut rt = ResourceType::new(
        group,
        version.get("name")?.as_str()?,
        names.get("kind")?.as_str()?,
        names.get("plural")?.as_str()?,
        spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
    );
    if let Some(singular) = names.get("singular").and_then(Value::as_str) {
        rt.singular = singular.to_owned();
    }
    if let Some(short) = names.get("shortNames").and_then(Value::as_array) {
        rt.short_names = short
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    let subresources = version.get("subresources");
    rt.status = subresources.and_then(|s| s.get("status")).is_some();
    rt.scale = subresources.and_then(|s| s.get("scale")).is_some();
    Some(rt)
}

//! Writing changes with server-side apply, as one field manager.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use crate::plan::Change;

/// The field manager of every object Berth applies.
pub const FIELD_MANAGER: &str = "berth";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("object has no apiVersion/kind/name: {0}")]
    Malformed(String),
    #[error("server-side apply of {kind} {name} failed")]
    Kube {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The plural of the kinds a space is made of.
fn plural(kind: &str) -> String {
    match kind {
        "NetworkPolicy" => "networkpolicies".to_owned(),
        "ResourceQuota" => "resourcequotas".to_owned(),
        other => format!("{}s", other.to_ascii_lowercase()),
    }
}

fn resource(object: &Value) -> Result<(ApiResource, String, Option<String>), ApplyError> {
    let malformed = || ApplyError::Malformed(object.to_string());
    let api_version = object["apiVersion"].as_str().ok_or_else(malformed)?;
    let kind = object["kind"].as_str().ok_or_else(malformed)?;
    let name = object["metadata"]["name"].as_str().ok_or_else(malformed)?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Ok((
        ApiResource::from_gvk_with_plural(&gvk, &plural(kind)),
        name.to_owned(),
        object["metadata"]["namespace"].as_str().map(str::to_owned),
    ))
}

/// Applies each change with force (Berth owns these fields); returns how
/// many writes it made.
pub async fn apply_changes(client: &kube::Client, changes: &[Change]) -> Result<usize, ApplyError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for Change::Apply(object) in changes {
        let (resource, name, namespace) = resource(object)?;
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        api.patch(&name, &params, &Patch::Apply(object))
            .await
            .map_err(|source| ApplyError::Kube {
                kind: resource.kind.clone(),
                name: name.clone(),
                source,
            })?;
    }
    Ok(changes.len())
}

/// The kinds a space is made of, with where they live.
const SPACE_KINDS: &[(&str, &str)] = &[
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
];

/// What the cluster holds of a space: its namespace and every object in it
/// labelled as the space's, as JSON.
pub async fn observe_space(client: &kube::Client, space: &str) -> Result<Vec<Value>, ApplyError> {
    let mut out = Vec::new();
    let ns_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "Namespace"),
        "namespaces",
    );
    let namespaces: Api<DynamicObject> = Api::all_with(client.clone(), &ns_resource);
    let kube_err = |kind: &str, source| ApplyError::Kube {
        kind: kind.to_owned(),
        name: space.to_owned(),
        source,
    };
    match namespaces
        .get_opt(space)
        .await
        .map_err(|e| kube_err("Namespace", e))?
    {
        Some(ns) => out.push(to_value(ns, &ns_resource)),
        None => return Ok(out),
    }
    let selector =
        kube::api::ListParams::default().labels(&format!("{}={space}", crate::plan::SPACE_LABEL));
    for (api_version, kind) in SPACE_KINDS {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, kind),
            &plural(kind),
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), space, &resource);
        for object in api
            .list(&selector)
            .await
            .map_err(|e| kube_err(kind, e))?
            .items
        {
            out.push(to_value(object, &resource));
        }
    }
    Ok(out)
}

/// A listed object as JSON with its apiVersion and kind (lists may leave
/// them out of items).
fn to_value(object: DynamicObject, resource: &ApiResource) -> Value {
    let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
    value["apiVersion"] = Value::String(resource.api_version.clone());
    value["kind"] = Value::String(resource.kind.clone());
    value
}

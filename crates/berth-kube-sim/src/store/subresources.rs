//! The `status` and `scale` subresources: what a write to each may change,
//! and the `autoscaling/v1` Scale view of a scalable object.

use serde_json::{Value, json};

use super::is_namespace;
use crate::error::ApiError;
use crate::resources::ResourceType;

/// The object after a PUT to its status: only `status` is taken from the
/// body (and a namespace's `spec`, for its finalizers).
pub(super) fn put_status(rt: &ResourceType, old: &Value, body: &Value) -> Value {
    let mut new = old.clone();
    match body.get("status") {
        Some(status) => new["status"] = status.clone(),
        None => {
            if let Some(map) = new.as_object_mut() {
                map.remove("status");
            }
        }
    }
    if is_namespace(rt)
        && let Some(spec) = body.get("spec")
    {
        // PUT namespaces/{name}/finalize goes through here too.
        new["spec"] = spec.clone();
    }
    new
}

/// The object after a PUT to its scale: only `spec.replicas` is taken
/// from the body.
pub(super) fn put_scale(
    rt: &ResourceType,
    name: &str,
    old: &Value,
    body: &Value,
) -> Result<Value, ApiError> {
    let replicas = body["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            rt,
            name,
            &[(
                "spec.replicas".to_owned(),
                "FieldValueRequired",
                "Required value".to_owned(),
            )],
        )
    })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            rt,
            name,
            &[(
                "spec.replicas".to_owned(),
                "FieldValueInvalid",
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(replicas);
    Ok(new)
}

/// The `autoscaling/v1` Scale view of a scalable object.
pub fn scale_view(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"]},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

//! JSON merge patch, JSON patch and strategic merge patch.

use serde_json::Value;

use crate::fields::merge_keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to `target`.
pub fn apply(kind: PatchType, target: &Value, patch: &Value) -> Result<Value, String> {
    let mut out = target.clone();
    match kind {
        PatchType::Merge => json_patch::merge(&mut out, patch),
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| format!("invalid JSON patch: {e}"))?;
            json_patch::patch(&mut out, &ops).map_err(|e| format!("JSON patch failed: {e}"))?;
        }
        PatchType::Strategic => strategic(&mut out, patch),
        PatchType::Apply => return Err("apply patches are handled by server-side apply".to_owned()),
    }
    Ok(out)
}

/// Strategic merge: like a merge patch, except that lists with a merge key
/// (containers, env, volumes, volumeMounts, ports, ...) merge item by item,
/// and an item `{"$patch": "delete", <key>}` removes the matching item.
fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch.clone();
        if let Some(map) = replacement.as_object_mut() {
            map.remove("$patch");
        }
        *target = replacement;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Array(items) => {
                let plain: Vec<Value> = items
                    .iter()
                    .filter(|i| i.get("$patch").is_none())
                    .cloned()
                    .collect();
                let keys = merge_keys(key, items).or_else(|| merge_keys(key, &plain));
                match (keys, target_map.get_mut(key)) {
                    (Some(keys), Some(Value::Array(existing))) => {
                        for item in items {
                            let same = |e: &Value| keys.iter().all(|k| e.get(*k) == item.get(*k));
                            if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                                existing.retain(|e| !same(e));
                            } else if let Some(found) = existing.iter_mut().find(|e| same(e)) {
                                strategic(found, item);
                            } else {
                                existing.push(item.clone());
                            }
                        }
                    }
                    _ => {
                        target_map.insert(key.clone(), Value::Array(plain));
                    }
                }
            }
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic(slot, value);
            }
            scalar => {
                target_map.insert(key.clone(), scalar.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let target = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "sidecar", "image": "s:1"}
        ]}});
        let patch = json!({"spec": {"containers": [
            {"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "sidecar", "$patch": "delete"}
        ]}});
        let out = apply(PatchType::Strategic, &target, &patch).expect("patch");
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
            ]}})
        );
    }

    #[test]
    fn merge_patch_replaces_lists_and_null_deletes() {
        let target = json!({"a": [1, 2], "b": {"c": 1, "d": 2}});
        let out = apply(
            PatchType::Merge,
            &target,
            &json!({"a": [3], "b": {"c": null}}),
        )
        .expect("patch");
        assert_eq!(out, json!({"a": [3], "b": {"d": 2}}));
    }
}

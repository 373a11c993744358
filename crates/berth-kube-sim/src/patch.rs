//! JSON merge patch, JSON patch and strategic merge patch (the last in
//! `strategic`).

use serde_json::Value;

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
        PatchType::Strategic => out = crate::strategic::apply(target, patch)?,
        PatchType::Apply => return Err("apply patches are handled by server-side apply".to_owned()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

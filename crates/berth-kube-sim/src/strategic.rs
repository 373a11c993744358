//! Strategic merge patch, as the API server applies it
//! (`k8s.io/apimachinery/pkg/util/strategicpatch`, `StrategicMergeMapPatch`):
//! maps merge key by key; lists with a merge strategy merge item by item,
//! and the merged list is ordered the way the server orders it; the
//! `$patch`, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>` directives.
//!
//! Order is what a test of this module is about. After a merge the server
//! splits the items into those the patch names and those only the live
//! object has, sorts the first by the patch's order and the second by the
//! live order, and interleaves them: a server-only item goes first only when
//! the live list had it before the patch item it is compared with; a patch
//! item the live list did not have goes before the server-only items still
//! waiting. So a new item lands at the front (`[A]` patched with `[B]` is
//! `[B, A]`), and `$setElementOrder` overrides the patch's order.
//!
//! A real server knows each list's strategy from the Go type's struct tags;
//! here it is known by the field's name and the field that holds it
//! ([`list_strategy`]), for the lists of the built-in kinds.

use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_LIST: &str = "$deleteFromPrimitiveList/";

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// Replaced by the patch's list.
    Atomic,
    /// A set of scalars (`metadata.finalizers`).
    Scalars,
    /// Objects merged by the value of this key.
    Maps(&'static str),
}

/// The strategy of list `field` in an object held by field `parent` (a
/// list item's parent is the list's field): the `patchStrategy:"merge"`
/// fields of the built-in kinds.
fn list_strategy(field: &str, parent: &str) -> ListStrategy {
    use ListStrategy::{Atomic, Maps, Scalars};
    match field {
        "finalizers" if parent == "metadata" => Scalars,
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => Maps("name"),
        "volumeMounts" => Maps("mountPath"),
        "volumeDevices" => Maps("devicePath"),
        "ownerReferences" => Maps("uid"),
        "conditions" => Maps("type"),
        "hostAliases" => Maps("ip"),
        "topologySpreadConstraints" => Maps("topologyKey"),
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            Maps("containerPort")
        }
        // ServiceSpec.ports merge by port alone.
        "ports" if parent == "spec" => Maps("port"),
        _ => Atomic,
    }
}

/// Applies a strategic merge patch to `target`, or says why the server
/// would refuse it (a 400).
pub fn apply(target: &Value, patch: &Value) -> Result<Value, String> {
    let Value::Object(patch) = patch else {
        return Err("a strategic merge patch must be a JSON object".to_owned());
    };
    let original = target.as_object().cloned().unwrap_or_default();
    merge_map(original, patch.clone(), "").map(Value::Object)
}

/// What a value becomes where the patch's value is taken as is: the typed
/// object the server decodes it into has no `$` fields.
fn plain(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k, plain(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        other => other,
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    parent: &str,
) -> Result<Map<String, Value>, String> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => match plain(Value::Object(patch)) {
                Value::Object(map) => Ok(map),
                _ => Ok(Map::new()),
            },
            Some("delete") => Ok(Map::new()),
            _ => Err(format!("unknown patch type: {directive} in map")),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    set_element_order(&mut original, &mut patch, parent)?;
    let mut deletions = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_LIST) {
            deletions.push((field.to_owned(), value));
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        let merged = match (original.remove(&key), value) {
            (None, value) => plain(value),
            (Some(Value::Object(current)), Value::Object(value)) => {
                Value::Object(merge_map(current, value, &key)?)
            }
            (Some(Value::Array(current)), Value::Array(value)) => {
                Value::Array(merge_list(current, value, &key, parent)?)
            }
            (Some(_), value) => plain(value),
        };
        original.insert(key, merged);
    }
    for (field, values) in deletions {
        let Value::Array(values) = values else {
            return Err(format!("{DELETE_FROM_LIST}{field} must be a list"));
        };
        if let Some(Value::Array(list)) = original.get_mut(&field) {
            list.retain(|v| !values.contains(v));
        }
    }
    Ok(original)
}

/// `$retainKeys`: the keys of `original` not listed go; every key the patch
/// sets must be listed.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), String> {
    let Some(keys) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(keys) = keys else {
        return Err("doesn't match the retainKeys format: $retainKeys must be a list".to_owned());
    };
    let listed = |k: &str| keys.iter().any(|v| v.as_str() == Some(k));
    for (key, value) in patch.iter() {
        if value.is_null() || key.starts_with(DELETE_FROM_LIST) || key.starts_with(SET_ORDER) {
            continue;
        }
        if !listed(key) {
            return Err(format!(
                "doesn't match the retainKeys format: {key} is patched but not in $retainKeys"
            ));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `$setElementOrder/<list>`: the list merged as usual, then ordered as the
/// directive says, server-only items kept where the live order puts them.
fn set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    parent: &str,
) -> Result<(), String> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let field = key[SET_ORDER.len()..].to_owned();
        let Some(Value::Array(order)) = patch.remove(&key) else {
            return Err(format!("invalid {key}: it must be a list"));
        };
        let live = match original.get(&field) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(_) => return Err(format!("{field} is not a list")),
        };
        let patched = match patch.get(&field) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(_) => return Err(format!("{field} in the patch is not a list")),
        };
        let key_field = match list_strategy(&field, parent) {
            ListStrategy::Maps(k) => Some(k),
            ListStrategy::Scalars => None,
            ListStrategy::Atomic => continue,
        };
        if let Some(items) = &patched {
            check_order(items, &order, key_field)?;
        }
        let merged = match (&live, patched) {
            (Some(live), None) => live.clone(),
            (None, Some(items)) => items.into_iter().map(plain).collect(),
            (Some(live), Some(items)) => merge_list(live.clone(), items, &field, parent)?,
            (None, None) => continue,
        };
        let (ordered, server_only): (Vec<Value>, Vec<Value>) = merged
            .into_iter()
            .partition(|item| position(&order, item, key_field).is_some());
        let live = live.unwrap_or_default();
        original.insert(
            field.clone(),
            Value::Array(normalize(ordered, server_only, &order, &live, key_field)),
        );
        patch.remove(&field);
    }
    Ok(())
}

/// The patch's items must appear in the `$setElementOrder` list, in its order.
fn check_order(items: &[Value], order: &[Value], key: Option<&str>) -> Result<(), String> {
    let items: Vec<&Value> = items
        .iter()
        .filter(|i| i.get(DIRECTIVE).is_none())
        .collect();
    let (mut i, mut o) = (0, 0);
    while i < items.len() && o < order.len() {
        if same(items[i], &order[o], key) {
            i += 1;
        }
        o += 1;
    }
    if i < items.len() {
        return Err(
            "the order in the patch list doesn't match the $setElementOrder list".to_owned(),
        );
    }
    Ok(())
}

/// Whether two items are the same item: by merge key, or by value.
fn same(a: &Value, b: &Value, key: Option<&str>) -> bool {
    match key {
        Some(k) => a.get(k) == b.get(k),
        None => a == b,
    }
}

fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    list.iter().position(|other| same(item, other, key))
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &str,
    parent: &str,
) -> Result<Vec<Value>, String> {
    match list_strategy(field, parent) {
        ListStrategy::Atomic => Ok(patch.into_iter().map(plain).collect()),
        ListStrategy::Scalars => {
            if original.is_empty() && patch.is_empty() {
                return Ok(original);
            }
            let mut both = original.clone();
            both.extend(patch.iter().cloned());
            let merged = dedup_scalars(both);
            let (in_patch, server_only): (Vec<Value>, Vec<Value>) =
                merged.into_iter().partition(|v| patch.contains(v));
            Ok(normalize(in_patch, server_only, &patch, &original, None))
        }
        ListStrategy::Maps(key) => merge_maps(original, patch, field, key),
    }
}

fn merge_maps(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    field: &str,
    key: &'static str,
) -> Result<Vec<Value>, String> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let no_key = |item: &Value| format!("map: {item} does not contain declared merge key: {key}");
    let mut plain_items = Vec::new();
    let mut replace = false;
    for item in patch {
        if !item.is_object() {
            return Err(format!("{field}: {item} is not an object"));
        }
        match item.get(DIRECTIVE).map(|d| d.as_str()) {
            None => plain_items.push(item),
            Some(Some("delete")) => {
                let value = item.get(key).ok_or_else(|| no_key(&item))?;
                original.retain(|o| o.get(key) != Some(value));
            }
            Some(Some("replace")) => replace = true,
            Some(Some("merge")) => {
                return Err("merging lists cannot yet be specified in the patch".to_owned());
            }
            Some(_) => return Err(format!("unknown patch type in {field}: {item}")),
        }
    }
    let (original, patch) = if replace {
        (plain_items, Vec::new())
    } else {
        (original, plain_items)
    };
    let mut merged = original.clone();
    for item in &patch {
        let value = item.get(key).ok_or_else(|| no_key(item))?;
        match merged.iter().position(|o| o.get(key) == Some(value)) {
            Some(at) => {
                let current = match std::mem::take(&mut merged[at]) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                let update = item.as_object().cloned().unwrap_or_default();
                merged[at] = Value::Object(merge_map(current, update, field)?);
            }
            None => merged.push(plain(item.clone())),
        }
    }
    if let Some(item) = merged.iter().find(|i| i.get(key).is_none()) {
        return Err(no_key(item));
    }
    let (in_patch, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(&patch, item, Some(key)).is_some());
    Ok(normalize(
        in_patch,
        server_only,
        &patch,
        &original,
        Some(key),
    ))
}

/// The server's `normalizeElementOrder`: patch items in the patch's order,
/// server-only items in the live order, then interleaved by the live order.
fn normalize(
    mut in_patch: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    live_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    in_patch.sort_by_key(|item| position(patch_order, item, key).unwrap_or(usize::MAX));
    server_only.sort_by_key(|item| position(live_order, item, key).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // A server-only item goes first only when the live list had
            // both and it came first there.
            (Some(l), Some(r)) => matches!(
                (position(live_order, l, key), position(live_order, r, key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// The server's `deduplicateScalars`, which moves the last item into a
/// duplicate's place (so the order it leaves is the server's too).
fn dedup_scalars(mut items: Vec<Value>) -> Vec<Value> {
    let mut i = 0;
    while i + 1 < items.len() {
        let mut j = i + 1;
        while j < items.len() {
            if items[i] == items[j] {
                let last = items.len() - 1;
                items.swap(j, last);
                items.truncate(last);
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(value: &Value, pointer: &str) -> Vec<String> {
        value
            .pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other["mountPath"]
                    .as_str()
                    .or(other["name"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect()
    }

    fn env(names: &[&str]) -> Value {
        json!(
            names
                .iter()
                .map(|n| json!({"name": n, "value": "1"}))
                .collect::<Vec<_>>()
        )
    }

    #[test]
    fn lists_merge_in_the_order_the_api_server_gives() {
        // (live env, patch to the container, expected env order)
        let cases: Vec<(&[&str], Value, &[&str])> = vec![
            (&["A"], json!({"env": env(&["B"])}), &["B", "A"]),
            (&["A", "B"], json!({"env": env(&["B"])}), &["A", "B"]),
            (
                &["A", "B"],
                json!({"env": env(&["B", "C"])}),
                &["A", "B", "C"],
            ),
            (
                &["A", "B"],
                json!({"env": env(&["C", "B"])}),
                &["C", "A", "B"],
            ),
            (
                &["A", "B", "C"],
                json!({"env": env(&["B", "D"])}),
                &["A", "B", "D", "C"],
            ),
            (
                &["A", "B", "C"],
                json!({"env": [{"name": "B", "$patch": "delete"}, {"name": "D", "value": "1"}]}),
                &["D", "A", "C"],
            ),
            (
                &["A", "B"],
                json!({"env": [{"$patch": "replace"}, {"name": "Z", "value": "1"}]}),
                &["Z"],
            ),
            (
                &["A", "B", "C"],
                json!({"$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "B"}],
                    "env": [{"name": "A", "value": "2"}]}),
                &["C", "A", "B"],
            ),
            (
                &["A", "B"],
                json!({"$setElementOrder/env": [{"name": "A"}, {"name": "D"}, {"name": "B"}],
                    "env": env(&["D"])}),
                &["A", "D", "B"],
            ),
            (
                &["A", "B", "X"],
                json!({"$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}),
                &["B", "A", "X"],
            ),
        ];
        for (live, patch, expected) in cases {
            let target = json!({"spec": {"containers": [{"name": "app", "env": env(live)}]}});
            let mut container = patch.clone();
            container["name"] = json!("app");
            let out = apply(&target, &json!({"spec": {"containers": [container]}}))
                .unwrap_or_else(|e| panic!("{patch}: {e}"));
            assert_eq!(names(&out, "/spec/containers/0/env"), expected, "{patch}");
        }
    }

    #[test]
    fn new_items_go_first_in_every_merged_list_and_scalars_too() {
        let target = json!({
            "metadata": {"finalizers": ["a.example/x"]},
            "spec": {
                "containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/a"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}],
            }
        });
        let patch = json!({
            "metadata": {"finalizers": ["b.example/y"]},
            "spec": {
                "containers": [{"name": "sidecar", "image": "s"},
                    {"name": "app", "volumeMounts": [{"name": "w", "mountPath": "/b"}]}],
                "volumes": [{"name": "w", "emptyDir": {}}],
            }
        });
        let out = apply(&target, &patch).expect("patch");
        assert_eq!(
            names(&out, "/metadata/finalizers"),
            ["b.example/y", "a.example/x"]
        );
        assert_eq!(names(&out, "/spec/containers"), ["sidecar", "app"]);
        assert_eq!(names(&out, "/spec/containers/1/volumeMounts"), ["/b", "/a"]);
        assert_eq!(names(&out, "/spec/volumes"), ["w", "v"]);
        let out = apply(
            &out,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example/x"]}}),
        )
        .expect("patch");
        assert_eq!(names(&out, "/metadata/finalizers"), ["b.example/y"]);
    }

    #[test]
    fn retain_keys_clears_what_it_does_not_list() {
        let target = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}}});
        let patch = json!({"spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "c"}}]}},
        }});
        let out = apply(&target, &patch).expect("patch");
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "v", "configMap": {"name": "c"}}])
        );
        let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
        assert!(
            apply(&target, &bad)
                .expect_err("refused")
                .contains("retainKeys")
        );
    }

    #[test]
    fn maps_merge_null_deletes_and_atomic_lists_are_replaced() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "app", "args": ["x", "y"], "command": ["run"]}]}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}},
            "spec": {"containers": [{"name": "app", "args": ["z"], "command": null}]}});
        let out = apply(&target, &patch).expect("patch");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "app", "args": ["z"]}])
        );
        let missing_key = json!({"spec": {"containers": [{"image": "x"}]}});
        assert!(
            apply(&target, &missing_key)
                .expect_err("no merge key")
                .contains("merge key")
        );
    }

    #[test]
    fn duplicates_are_removed_the_way_the_server_removes_them() {
        let items = |v: &[&str]| v.iter().map(|s| json!(s)).collect::<Vec<_>>();
        assert_eq!(
            dedup_scalars(items(&["a", "b", "a", "c"])),
            items(&["a", "b", "c"])
        );
        assert_eq!(
            dedup_scalars(items(&["a", "a", "b", "c"])),
            items(&["a", "c", "b"])
        );
    }
}

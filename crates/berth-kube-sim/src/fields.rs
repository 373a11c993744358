//! Field ownership for server-side apply: field sets in the `FieldsV1`
//! encoding, the merge of an applied configuration into a live object, and
//! the conflicts between field managers.
//!
//! A path is a list of `FieldsV1` keys: `f:name` for a map field and
//! `k:{"name":"app"}` for an item of an associative list. Lists whose items
//! carry a merge key (containers by `name`, volumeMounts by `mountPath`, ...)
//! are associative; every other list is atomic and owned as one leaf.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// The key fields of an associative list, by the list's field name.
pub fn merge_keys(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    let keys: &'static [&'static str] = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "ownerReferences" => &["uid"],
        "conditions" => &["type"],
        "ports" if items.iter().all(|i| i.get("containerPort").is_some()) => &["containerPort"],
        "ports" if items.iter().all(|i| i.get("port").is_some()) => &["port"],
        _ => return None,
    };
    items
        .iter()
        .all(|item| keys.iter().all(|k| item.get(*k).is_some()))
        .then_some(keys)
}

fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut map = Map::new();
    for key in keys {
        map.insert((*key).to_owned(), item[*key].clone());
    }
    format!("k:{}", Value::Object(map))
}

/// Top-level fields that are never owned by a manager.
fn is_system_field(path: &[String]) -> bool {
    match path {
        [first] => matches!(first.as_str(), "f:apiVersion" | "f:kind"),
        [first, second, ..] if first == "f:metadata" => matches!(
            second.as_str(),
            "f:name"
                | "f:namespace"
                | "f:uid"
                | "f:resourceVersion"
                | "f:generation"
                | "f:creationTimestamp"
                | "f:deletionTimestamp"
                | "f:deletionGracePeriodSeconds"
                | "f:managedFields"
                | "f:selfLink"
                | "f:generateName"
        ),
        _ => false,
    }
}

/// Every owned path in `value`. `status` is excluded when the resource has a
/// status subresource (it is owned through the subresource instead).
pub fn field_set(value: &Value, skip_status: bool) -> FieldSet {
    let mut set = FieldSet::new();
    collect(value, &mut Vec::new(), &mut set);
    set.retain(|p| {
        !(is_system_field(p) || skip_status && p.first().is_some_and(|f| f == "f:status"))
    });
    set
}

fn collect(value: &Value, prefix: &mut Path, out: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                prefix.push(format!("f:{key}"));
                match child {
                    Value::Object(m) if !m.is_empty() => collect(child, prefix, out),
                    Value::Array(items) => match merge_keys(key, items) {
                        Some(keys) if !items.is_empty() => {
                            for item in items {
                                prefix.push(item_key(item, keys));
                                out.insert(prefix.clone());
                                collect(item, prefix, out);
                                prefix.pop();
                            }
                        }
                        _ => {
                            out.insert(prefix.clone());
                        }
                    },
                    _ => {
                        out.insert(prefix.clone());
                    }
                }
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The value at `path`, if present.
pub fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = value;
    for seg in path {
        current = if let Some(field) = seg.strip_prefix("f:") {
            current.get(field)?
        } else if let Some(key) = seg.strip_prefix("k:") {
            let key: Value = serde_json::from_str(key).ok()?;
            let key = key.as_object()?;
            current
                .as_array()?
                .iter()
                .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))?
        } else {
            return None;
        };
    }
    Some(current)
}

/// Removes the field or list item at `path`, if present.
pub fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = value;
    for seg in parents {
        let next = if let Some(field) = seg.strip_prefix("f:") {
            current.get_mut(field)
        } else if let Some(key) = seg.strip_prefix("k:") {
            let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
                return;
            };
            current.as_array_mut().and_then(|items| {
                items
                    .iter_mut()
                    .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
            })
        } else {
            None
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = current.as_object_mut() {
            map.remove(field);
        }
    } else if let Some(key) = last.strip_prefix("k:")
        && let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key)
        && let Some(items) = current.as_array_mut()
    {
        items.retain(|item| !key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
}

/// Merges an applied configuration into a live object: maps field by field,
/// associative lists item by item, everything else replaced.
pub fn merge_applied(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(live), Value::Object(applied)) => {
            for (key, value) in applied {
                match live.get_mut(key) {
                    Some(existing) => match (existing, value) {
                        (existing @ Value::Object(_), Value::Object(_)) => {
                            merge_applied(existing, value)
                        }
                        (Value::Array(existing), Value::Array(items))
                            if merge_keys(key, items).is_some()
                                && merge_keys(key, existing).is_some() =>
                        {
                            let keys = merge_keys(key, items).unwrap_or(&[]);
                            for item in items {
                                let id = item_key(item, keys);
                                match existing.iter_mut().find(|e| item_key(e, keys) == id) {
                                    Some(found) => merge_applied(found, item),
                                    None => existing.push(item.clone()),
                                }
                            }
                        }
                        (existing, value) => *existing = value.clone(),
                    },
                    None => {
                        live.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

/// `.spec.replicas`, `.spec.containers[name="app"].image`: how conflict
/// messages name a path.
pub fn display(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if let Some(field) = seg.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = seg.strip_prefix("k:") {
            let key: Value = serde_json::from_str(key).unwrap_or(Value::Null);
            let parts: Vec<String> = key
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    out
}

/// Encodes a field set as `FieldsV1`.
pub fn encode(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for (i, seg) in path.iter().enumerate() {
            let entry = node
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(child) = entry else {
                break;
            };
            if i + 1 == path.len() && seg.starts_with("k:") {
                child.insert(".".to_owned(), json!({}));
            }
            node = child;
        }
    }
    Value::Object(root)
}

/// Decodes `FieldsV1` into a field set.
pub fn decode(fields: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    fn walk(node: &Value, prefix: &mut Path, out: &mut FieldSet) {
        let Some(map) = node.as_object() else {
            return;
        };
        if (map.is_empty() || map.contains_key(".")) && !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        for (key, child) in map {
            if key == "." {
                continue;
            }
            prefix.push(key.clone());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    walk(fields, &mut Vec::new(), &mut set);
    set
}

/// One `metadata.managedFields` entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: Option<String>,
    pub time: String,
    pub fields: FieldSet,
}

pub fn read_managers(object: &Value) -> Vec<Manager> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            Some(Manager {
                manager: entry["manager"].as_str()?.to_owned(),
                operation: entry["operation"].as_str().unwrap_or("Update").to_owned(),
                api_version: entry["apiVersion"].as_str().unwrap_or("").to_owned(),
                subresource: entry["subresource"].as_str().map(str::to_owned),
                time: entry["time"].as_str().unwrap_or("").to_owned(),
                fields: decode(&entry["fieldsV1"]),
            })
        })
        .collect()
}

pub fn write_managers(object: &mut Value, managers: &[Manager]) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut entry = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&m.fields),
            });
            if let Some(sub) = &m.subresource {
                entry["subresource"] = json!(sub);
            }
            entry
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_owned(), Value::Array(entries));
        }
    }
}

/// Who writes, and how, for ownership bookkeeping.
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub time: &'a str,
}

/// The part of an object a write addresses, for ownership bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole object (resources without a status subresource).
    All,
    /// The main resource of a type with a status subresource.
    NoStatus,
    /// The status subresource.
    Status,
    /// The scale subresource: `spec.replicas` only.
    Replicas,
}

impl Scope {
    pub fn for_main(has_status_subresource: bool) -> Scope {
        if has_status_subresource {
            Scope::NoStatus
        } else {
            Scope::All
        }
    }

    fn contains(self, path: &[String]) -> bool {
        let first = path.first().map(String::as_str);
        match self {
            Scope::All => true,
            Scope::NoStatus => first != Some("f:status"),
            Scope::Status => first == Some("f:status"),
            Scope::Replicas => path.len() >= 2 && path[0] == "f:spec" && path[1] == "f:replicas",
        }
    }
}

/// Records a non-apply write (create, update, patch): the writer takes
/// ownership of every field in scope it changed; nobody keeps a field that is
/// gone. Fields outside the scope keep their owners.
pub fn record_update(
    managers: &mut Vec<Manager>,
    old: Option<&Value>,
    new: &Value,
    scope: Scope,
    writer: &Writer<'_>,
) {
    let new_set: FieldSet = field_set(new, false)
        .into_iter()
        .filter(|p| scope.contains(p))
        .collect();
    let changed: FieldSet = match old {
        None => new_set.clone(),
        Some(old) => new_set
            .iter()
            .filter(|p| {
                !p.last().is_some_and(|s| s.starts_with("k:")) && get(old, p) != get(new, p)
            })
            .cloned()
            .collect(),
    };
    for manager in managers.iter_mut() {
        manager
            .fields
            .retain(|p| !scope.contains(p) || (new_set.contains(p) && !changed.contains(p)));
    }
    if !changed.is_empty() {
        let own = entry(managers, writer, "Update");
        own.fields.extend(changed.iter().cloned());
        // Owning a field inside a list item implies owning the item.
        let items: Vec<Path> = changed
            .iter()
            .flat_map(|p| (1..p.len()).map(move |n| p[..n].to_vec()))
            .filter(|p| p.last().is_some_and(|s| s.starts_with("k:")))
            .collect();
        own.fields.extend(items);
        own.time = writer.time.to_owned();
    }
    managers.retain(|m| !m.fields.is_empty());
}

fn entry<'m>(
    managers: &'m mut Vec<Manager>,
    writer: &Writer<'_>,
    operation: &str,
) -> &'m mut Manager {
    let position = managers.iter().position(|m| {
        m.manager == writer.manager
            && m.operation == operation
            && m.subresource.as_deref() == writer.subresource
    });
    match position {
        Some(i) => &mut managers[i],
        None => {
            managers.push(Manager {
                manager: writer.manager.to_owned(),
                operation: operation.to_owned(),
                api_version: writer.api_version.to_owned(),
                subresource: writer.subresource.map(str::to_owned),
                time: writer.time.to_owned(),
                fields: FieldSet::new(),
            });
            let last = managers.len() - 1;
            &mut managers[last]
        }
    }
}

/// Server-side apply of `applied` by `writer` onto `live` (an empty object
/// when creating). Returns the new object, or the conflicts as
/// `(manager, displayed path)` when another manager owns a field with a
/// different value and `force` is off.
pub fn apply(
    live: &Value,
    applied: &Value,
    managers: &mut Vec<Manager>,
    skip_status: bool,
    force: bool,
    writer: &Writer<'_>,
) -> Result<Value, Vec<(String, String)>> {
    let applied_set = field_set(applied, skip_status);
    let mut conflicts = Vec::new();
    for manager in managers.iter_mut() {
        let same = manager.manager == writer.manager
            && manager.subresource.as_deref() == writer.subresource;
        if same {
            continue;
        }
        let contested: Vec<Path> = manager
            .fields
            .iter()
            .filter(|p| applied_set.contains(*p) && !p.last().is_some_and(|s| s.starts_with("k:")))
            .filter(|p| get(live, p) != get(applied, p))
            .cloned()
            .collect();
        for path in contested {
            if force {
                manager.fields.remove(&path);
            } else {
                conflicts.push((manager.manager.clone(), display(&path)));
            }
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        return Err(conflicts);
    }
    let previous: FieldSet = managers
        .iter()
        .find(|m| {
            m.manager == writer.manager
                && m.operation == "Apply"
                && m.subresource.as_deref() == writer.subresource
        })
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut result = live.clone();
    if !result.is_object() {
        result = json!({});
    }
    merge_applied(&mut result, applied);
    // Fields this manager applied before and no longer applies go, unless
    // someone else also owns them.
    let others: FieldSet = managers
        .iter()
        .filter(|m| {
            !(m.manager == writer.manager
                && m.operation == "Apply"
                && m.subresource.as_deref() == writer.subresource)
        })
        .flat_map(|m| m.fields.iter().cloned())
        .collect();
    let mut dropped: Vec<&Path> = previous
        .iter()
        .filter(|p| !applied_set.contains(*p) && !others.contains(*p))
        .collect();
    // Remove deeper paths first so list items are found before their parents go.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        remove(&mut result, path);
    }
    let own = entry(managers, writer, "Apply");
    own.fields = applied_set;
    own.time = writer.time.to_owned();
    managers.retain(|m| !m.fields.is_empty());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "apps/v1",
            subresource: None,
            time: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn fields_v1_round_trips() {
        let object = json!({
            "metadata": {"name": "x", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
        });
        let set = field_set(&object, true);
        let encoded = encode(&set);
        assert_eq!(
            encoded,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}}
            })
        );
        assert_eq!(decode(&encoded), set);
    }

    #[test]
    fn apply_conflicts_unless_forced_and_prunes_what_it_stopped_applying() {
        let mut managers = Vec::new();
        let first = json!({"spec": {"replicas": 1, "paused": false}});
        let live = apply(&json!({}), &first, &mut managers, true, false, &writer("a"))
            .expect("first apply");
        let other = json!({"spec": {"replicas": 3}});
        let err =
            apply(&live, &other, &mut managers, true, false, &writer("b")).expect_err("conflict");
        assert_eq!(err, vec![("a".to_owned(), ".spec.replicas".to_owned())]);
        // Same value: shared ownership, no conflict.
        let same = json!({"spec": {"replicas": 1}});
        let live = apply(&live, &same, &mut managers, true, false, &writer("b")).expect("shared");
        let live = apply(&live, &other, &mut managers, true, true, &writer("c")).expect("forced");
        assert_eq!(live["spec"]["replicas"], 3);
        // `a` stops applying `paused`: it is removed.
        let fewer = json!({"spec": {}});
        let live = apply(&live, &fewer, &mut managers, true, false, &writer("a")).expect("prune");
        assert_eq!(live["spec"].get("paused"), None);
        assert_eq!(live["spec"]["replicas"], 3);
    }
}

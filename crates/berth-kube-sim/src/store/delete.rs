//! Deletion: preconditions, finalizers (an object marked for deletion
//! stays until they are gone), propagation policies, namespaces marked
//! `Terminating`, and what a namespace still holds while it terminates.

use serde_json::{Value, json};

use super::{Cluster, State, is_namespace, meta_mut, now, ns_of};
use crate::error::ApiError;
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

pub(super) fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

pub(super) fn namespace_finalizers(object: &Value) -> usize {
    object["spec"]["finalizers"].as_array().map_or(0, Vec::len)
}

impl State {
    /// Deletes with finalizers, propagation and namespace semantics.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let old = self
            .get(rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let uid = old["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        if let Some(expected) = &opts.precondition_uid
            && *expected != uid
        {
            return Err(ApiError {
                message: format!(
                    "Precondition failed: UID in precondition: {expected}, UID in object meta: {uid}"
                ),
                ..ApiError::conflict(rt, name)
            });
        }
        if let Some(expected) = &opts.precondition_rv
            && Some(expected.as_str()) != old["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError {
                message: format!(
                    "Precondition failed: ResourceVersion in precondition: {expected}, ResourceVersion in object meta: {}",
                    old["metadata"]["resourceVersion"].as_str().unwrap_or("")
                ),
                ..ApiError::conflict(rt, name)
            });
        }
        let mut new = old.clone();
        let policy = opts.propagation.as_deref().unwrap_or("Background");
        if policy == "Orphan" {
            self.orphan_dependents(&uid);
        }
        if policy == "Foreground" && self.has_dependents(&uid) {
            let finalizers = meta_mut(&mut new)
                .entry("finalizers")
                .or_insert_with(|| json!([]));
            if let Some(list) = finalizers.as_array_mut()
                && !list.iter().any(|f| f == "foregroundDeletion")
            {
                list.push(json!("foregroundDeletion"));
            }
        }
        if is_namespace(rt) {
            new["status"]["phase"] = json!("Terminating");
        }
        let blocked =
            !finalizers(&new).is_empty() || (is_namespace(rt) && namespace_finalizers(&new) > 0);
        if blocked {
            let meta = meta_mut(&mut new);
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".to_owned(), json!(now()));
                meta.insert("deletionGracePeriodSeconds".to_owned(), json!(0));
            }
            return Ok(self.write(rt, ns, name, Some(&old), new));
        }
        self.remove_now(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Objects of every namespaced type in `ns`.
    pub fn namespace_contents(&self, ns: &str) -> Vec<(ResourceType, String, bool)> {
        let mut out = Vec::new();
        for (res, objects) in &self.objects {
            let Some(rt) = self.types.get(res) else {
                continue;
            };
            if !rt.namespaced {
                continue;
            }
            for ((object_ns, name), object) in objects {
                if object_ns == ns {
                    out.push((
                        rt.clone(),
                        name.clone(),
                        object["metadata"]["deletionTimestamp"].is_string(),
                    ));
                }
            }
        }
        out
    }
}

impl Cluster {
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let ns = ns_of(rt, ns);
        self.lock().delete(rt, &ns, name, opts)
    }

    pub fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOpts,
    ) -> Result<Vec<Value>, ApiError> {
        let listed = self.list(rt, ns, labels, fields, None, None)?;
        let mut state = self.lock();
        let mut deleted = Vec::new();
        for object in listed.items {
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let object_ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if let Ok(gone) = state.delete(rt, &object_ns, &name, opts) {
                deleted.push(gone);
            }
        }
        Ok(deleted)
    }
}

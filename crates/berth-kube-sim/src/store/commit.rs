//! The one write path: every change bumps the resourceVersion (and
//! `metadata.generation` on spec changes), a no-op write changes nothing,
//! and CustomResourceDefinitions register and drop their types here.

use serde_json::{Value, json};

use super::delete::{finalizers, namespace_finalizers};
use super::watch::EventType;
use super::{State, is_namespace, key, meta_mut};
use crate::resources::{self, ResourceType};

/// Resources whose objects carry `metadata.generation`.
pub(super) fn tracks_generation(rt: &ResourceType) -> bool {
    rt.status && !(rt.group.is_empty() && rt.plural == "namespaces")
        || !resources::builtins().iter().any(|b| b.key() == rt.key())
}

/// Everything outside metadata and status: a change here bumps generation.
fn spec_part(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    out
}

/// An object without the bookkeeping that changes on every write.
fn comparable(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            for entry in entries {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    out
}

impl State {
    /// The one write path. A no-op write changes nothing and emits nothing.
    /// An object marked for deletion whose finalizers are all gone is removed.
    pub fn write(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Option<&Value>,
        mut new: Value,
    ) -> Value {
        if let Some(old) = old {
            if tracks_generation(rt) {
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let bumped = if spec_part(old) != spec_part(&new) {
                    generation + 1
                } else {
                    generation
                };
                meta_mut(&mut new).insert("generation".to_owned(), json!(bumped));
            }
            if comparable(old) == comparable(&new) {
                return old.clone();
            }
        }
        let deleting = new["metadata"]["deletionTimestamp"].is_string();
        let finalized =
            finalizers(&new).is_empty() && (!is_namespace(rt) || namespace_finalizers(&new) == 0);
        self.rv += 1;
        meta_mut(&mut new).insert("resourceVersion".to_owned(), json!(self.rv.to_string()));
        if deleting && finalized {
            self.objects
                .entry(rt.key())
                .or_default()
                .remove(&key(ns, name));
            self.emit(rt.key(), EventType::Deleted, new.clone(), None);
            return new;
        }
        self.objects
            .entry(rt.key())
            .or_default()
            .insert(key(ns, name), new.clone());
        match old {
            None => self.emit(rt.key(), EventType::Added, new.clone(), None),
            Some(old) => self.emit(
                rt.key(),
                EventType::Modified,
                new.clone(),
                Some(old.clone()),
            ),
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.register_crd(&new);
        }
        new
    }

    pub(crate) fn register_crd(&mut self, crd: &Value) {
        if let Some(defined) = resources::from_crd(crd) {
            self.types.insert(defined.key(), defined);
        }
    }

    /// Removes an object at once (no finalizers left to wait for).
    pub(super) fn remove_now(&mut self, rt: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        let mut object = self.objects.get_mut(&rt.key())?.remove(&key(ns, name))?;
        self.rv += 1;
        meta_mut(&mut object).insert("resourceVersion".to_owned(), json!(self.rv.to_string()));
        self.emit(rt.key(), EventType::Deleted, object.clone(), None);
        if rt.group == "apiextensions.k8s.io"
            && rt.plural == "customresourcedefinitions"
            && let Some(defined) = resources::from_crd(&object)
        {
            self.types.remove(&defined.key());
            self.objects.remove(&defined.key());
        }
        Some(object)
    }
}

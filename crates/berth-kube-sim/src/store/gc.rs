//! Garbage collection by ownerReferences: an owner's dependents found,
//! orphaned (`Orphan` propagation) or deleted in the background.

use super::delete::DeleteOpts;
use super::{State, meta_mut};
use crate::resources::ResourceType;

impl State {
    fn dependents(&self, uid: &str) -> Vec<(ResourceType, String, String)> {
        let mut out = Vec::new();
        for (res, objects) in &self.objects {
            let Some(rt) = self.types.get(res) else {
                continue;
            };
            for ((ns, name), object) in objects {
                let owned = object["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["uid"].as_str() == Some(uid));
                if owned {
                    out.push((rt.clone(), ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    pub fn has_dependents(&self, uid: &str) -> bool {
        !uid.is_empty() && !self.dependents(uid).is_empty()
    }

    /// Background deletion of everything `uid` owned.
    pub fn collect_garbage(&mut self, uid: &str) {
        for (rt, ns, name) in self.dependents(uid) {
            let already = self
                .get(&rt, &ns, &name)
                .is_some_and(|o| o["metadata"]["deletionTimestamp"].is_string());
            if !already {
                let _ = self.delete(&rt, &ns, &name, &DeleteOpts::default());
            }
        }
    }

    pub(super) fn orphan_dependents(&mut self, uid: &str) {
        for (rt, ns, name) in self.dependents(uid) {
            if let Some(old) = self.get(&rt, &ns, &name).cloned() {
                let mut new = old.clone();
                if let Some(refs) = new["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"].as_str() != Some(uid));
                }
                if new["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
                {
                    meta_mut(&mut new).remove("ownerReferences");
                }
                self.write(&rt, &ns, &name, Some(&old), new);
            }
        }
    }
}

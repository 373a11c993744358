//! Changing a workload that its controller writes too: read it, plan a
//! JSON Patch from what was read, and send the patch guarded by the
//! resourceVersion read, so that the server applies it only to the object
//! it was planned from. When the object moved in between (the deployment
//! controller writes a Deployment's status and its
//! `deployment.kubernetes.io/revision` annotation after every rollout), the
//! server answers 409 and the change is planned again from a fresh read.
//! A race is never the user's error; only a workload that keeps changing
//! for every attempt is.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::apply::ApplyError;
use crate::cluster::{Cluster, kube_error};

/// How many times a change is planned and sent before a workload that
/// keeps changing is reported.
pub const ATTEMPTS: u32 = 16;

/// What a change came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    /// There is no such workload.
    Missing,
    /// The plan asked for nothing.
    Unchanged(Value),
    /// Written; `attempts` is 1 unless another writer got in between.
    Written { object: Value, attempts: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    /// The plan refused the workload as it is.
    #[error("{0}")]
    Plan(E),
    #[error(transparent)]
    Kube(#[from] ApplyError),
    #[error("{kind} {name} changed under every one of {attempts} attempts to write it")]
    Contended {
        kind: String,
        name: String,
        attempts: u32,
    },
}

/// `ops` guarded by the resourceVersion of `object`: the server compares
/// the patched object's resourceVersion with the stored one and answers
/// 409 when they differ.
fn guarded(object: &Value, ops: Value) -> Value {
    let mut ops = match ops {
        Value::Array(ops) => ops,
        other => vec![other],
    };
    if let Some(version) = object.pointer("/metadata/resourceVersion") {
        ops.insert(
            0,
            json!({"op": "replace", "path": "/metadata/resourceVersion", "value": version}),
        );
    }
    Value::Array(ops)
}

impl Cluster {
    /// Changes a Deployment or StatefulSet (`kind` as `deployment`):
    /// `plan` gets the workload as it is and returns a JSON Patch (or none
    /// for no change); the patch is sent guarded, and on a 409 the workload
    /// is read and planned again, up to [`ATTEMPTS`] times.
    pub async fn change_workload<E>(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        mut plan: impl FnMut(&Value) -> Result<Option<Value>, E>,
    ) -> Result<Changed, ChangeError<E>> {
        let (kind, plural) = crate::cluster::dev_kind(kind)?;
        let api = self.workloads(namespace, kind, "apps/v1", plural);
        let mut delay = Duration::from_millis(5);
        for attempt in 1..=ATTEMPTS {
            let object = match api.get_opt(name).await {
                Ok(Some(found)) => serde_json::to_value(found)
                    .map_err(|e| ApplyError::Malformed(format!("{kind} {name}: {e}")))?,
                Ok(None) => return Ok(Changed::Missing),
                Err(source) => return Err(kube_error(kind, name)(source).into()),
            };
            let Some(ops) = plan(&object).map_err(ChangeError::Plan)? else {
                return Ok(Changed::Unchanged(object));
            };
            let patch: json_patch::Patch =
                serde_json::from_value(guarded(&object, ops)).map_err(|e| {
                    ApplyError::Malformed(format!("a JSON patch for {kind} {name}: {e}"))
                })?;
            match api
                .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
            {
                Ok(written) => {
                    let object = serde_json::to_value(written)
                        .map_err(|e| ApplyError::Malformed(format!("{kind} {name}: {e}")))?;
                    return Ok(Changed::Written {
                        object,
                        attempts: attempt,
                    });
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tracing::debug!(%namespace, %kind, %name, attempt, "the workload changed since it was read; planning again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
                Err(source) => return Err(kube_error(kind, name)(source).into()),
            }
        }
        Err(ChangeError::Contended {
            kind: kind.to_owned(),
            name: name.to_owned(),
            attempts: ATTEMPTS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_comes_first_and_names_the_version_read() {
        let object = json!({"metadata": {"name": "api", "resourceVersion": "42"}});
        let ops = json!([{"op": "replace", "path": "/spec", "value": {}}]);
        assert_eq!(
            guarded(&object, ops),
            json!([
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "replace", "path": "/spec", "value": {}},
            ])
        );
    }
}

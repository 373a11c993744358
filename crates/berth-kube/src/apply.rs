//! Writing changes with server-side apply, as one field manager.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
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

/// The plural of a kind a space is made of.
fn plural(kind: &str) -> String {
    crate::cluster::SPACE_KINDS
        .iter()
        .find(|(_, k, _, _)| *k == kind)
        .map(|(_, _, plural, _)| (*plural).to_owned())
        .unwrap_or_else(|| format!("{}s", kind.to_ascii_lowercase()))
}

fn resource(object: &Value) -> Result<(ApiResource, String, Option<String>), ApplyError> {
    let malformed = || ApplyError::Malformed(object.to_string());
    let api_version = object["apiVersion"].as_str().ok_or_else(malformed)?;
    let kind = object["kind"].as_str().ok_or_else(malformed)?;
    let name = object["metadata"]["name"].as_str().ok_or_else(malformed)?;
    Ok((
        crate::cluster::api_resource(api_version, kind, &plural(kind)),
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

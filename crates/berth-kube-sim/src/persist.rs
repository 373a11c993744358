//! Optional persistence: the whole state as one JSON snapshot, written
//! atomically shortly after each change, so an embedded cluster survives a
//! restart. Watches do not survive: a watch from a resourceVersion older than
//! the restart gets 410 Gone and relists, as after an etcd compaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::store::Cluster;

pub(crate) fn snapshot(cluster: &Cluster) -> Value {
    let state = cluster.lock();
    let objects: Vec<Value> = state
        .objects
        .iter()
        .flat_map(|((group, plural), objects)| {
            objects
                .values()
                .map(move |object| json!({"group": group, "plural": plural, "object": object}))
        })
        .collect();
    json!({"resourceVersion": state.rv, "objects": objects})
}

pub(crate) fn load(cluster: &Cluster, path: &Path) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let snapshot: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a simulator snapshot", path.display()))?;
    let mut state = cluster.lock();
    state.objects.clear();
    let entries = snapshot["objects"]
        .as_array()
        .context("snapshot has no objects list")?;
    // CRDs first, so their resources are known before their objects load.
    let crds = entries
        .iter()
        .filter(|e| e["plural"] == "customresourcedefinitions");
    for entry in crds {
        state.register_crd(&entry["object"]);
    }
    for entry in entries {
        let group = entry["group"]
            .as_str()
            .context("snapshot entry without group")?
            .to_owned();
        let plural = entry["plural"]
            .as_str()
            .context("snapshot entry without plural")?
            .to_owned();
        let object = entry["object"].clone();
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = object["metadata"]["name"]
            .as_str()
            .context("snapshot object without a name")?
            .to_owned();
        state
            .objects
            .entry((group, plural))
            .or_default()
            .insert((ns, name), object);
    }
    let rv = snapshot["resourceVersion"]
        .as_u64()
        .context("snapshot without resourceVersion")?;
    state.rv = rv;
    state.reset_history();
    Ok(())
}

/// Writes the snapshot whenever the state changed, at most every `interval`.
pub(crate) async fn run(cluster: Arc<Cluster>, path: PathBuf, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        if let Err(err) = flush(&cluster, &path) {
            tracing::warn!(path = %path.display(), error = format!("{err:#}"), "cannot persist the simulated cluster");
        }
    }
}

pub(crate) fn flush(cluster: &Cluster, path: &Path) -> anyhow::Result<()> {
    {
        let mut state = cluster.lock();
        if !state.dirty {
            return Ok(());
        }
        state.dirty = false;
    }
    let bytes = serde_json::to_vec(&snapshot(cluster))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

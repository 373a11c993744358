//! kube-runtime's watcher and Controller against the cluster.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{DEADLINE, TestCluster, create};

#[tokio::test]
async fn a_watcher_sees_create_update_and_delete_in_order() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("watcher").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let config = watcher::Config::default().labels("watched=yes");
    let mut events = watcher::watcher(api.clone(), config).boxed();
    // The initial list of an empty selection.
    loop {
        match tokio::time::timeout(DEADLINE, events.next())
            .await?
            .expect("stream open")?
        {
            Event::InitDone => break,
            _ => continue,
        }
    }
    create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "labels": {"watched": "yes"}}})).await;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await?;
    api.delete("w", &DeleteParams::default()).await?;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(DEADLINE, events.next())
            .await?
            .expect("stream open")?;
        match event {
            Event::Apply(cm) => seen.push(format!(
                "apply {}",
                cm.data
                    .and_then(|d| d.get("v").cloned())
                    .unwrap_or_default()
            )),
            Event::Delete(_) => seen.push("delete".to_owned()),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["apply ", "apply 2", "delete"]);
    cluster.cleanup().await
}

#[tokio::test]
async fn a_controller_reconciles_what_it_watches() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("controller").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let controller = tokio::spawn(
        Controller::new(
            api.clone(),
            watcher::Config::default().labels("reconcile=yes"),
        )
        .run(
            |cm: Arc<ConfigMap>, tx: Arc<mpsc::UnboundedSender<String>>| async move {
                let _ = tx.send(cm.metadata.name.clone().unwrap_or_default());
                Ok::<_, kube::Error>(Action::await_change())
            },
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(tx),
        )
        .for_each(|_| async {}),
    );
    create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r1", "labels": {"reconcile": "yes"}}})).await;
    let reconciled = tokio::time::timeout(DEADLINE, rx.recv())
        .await?
        .expect("controller running");
    assert_eq!(reconciled, "r1");
    controller.abort();
    cluster.cleanup().await
}

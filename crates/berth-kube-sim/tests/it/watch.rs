//! Watches: events in order, resuming from a resourceVersion, bookmarks and
//! 410 Gone.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::{TestCluster, create};

fn cm(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"w": "yes"}}})
}

fn describe(event: &WatchEvent<ConfigMap>) -> Option<String> {
    let (kind, object) = match event {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        _ => return None,
    };
    Some(format!(
        "{kind} {}",
        object.metadata.name.clone().unwrap_or_default()
    ))
}

#[tokio::test]
async fn a_watch_from_a_version_sees_changes_in_order() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("watch").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let start = api
        .list(&Default::default())
        .await?
        .metadata
        .resource_version
        .expect("list rv");

    create(&api, cm("a")).await;
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await?;
    create(&api, cm("b")).await;
    api.delete("a", &DeleteParams::default()).await?;

    // Everything after `start` is replayed, then the stream stays open.
    let params = WatchParams::default().labels("w=yes").timeout(10);
    let stream = api.watch(&params, &start).await?;
    let events: Vec<String> = stream
        .try_filter_map(|e| async move { Ok(describe(&e)) })
        .take(4)
        .try_collect()
        .await?;
    assert_eq!(
        events,
        vec!["ADDED a", "MODIFIED a", "ADDED b", "DELETED a"]
    );
    cluster.cleanup().await
}

#[tokio::test]
async fn a_label_change_is_seen_as_leaving_the_selection() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("leave").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let created = create(&api, cm("a")).await;
    let rv = created.metadata.resource_version.expect("rv");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"w": "no"}}})),
    )
    .await?;
    let stream = api
        .watch(&WatchParams::default().labels("w=yes").timeout(10), &rv)
        .await?;
    let events: Vec<String> = stream
        .try_filter_map(|e| async move { Ok(describe(&e)) })
        .take(1)
        .try_collect()
        .await?;
    assert_eq!(events, vec!["DELETED a"]);
    cluster.cleanup().await
}

/// Simulator only: a real server sends bookmarks about once a minute, and
/// compacts history on its own schedule.
#[tokio::test]
async fn bookmarks_arrive_and_a_too_old_version_is_gone() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    if !cluster.is_simulator() {
        return cluster.cleanup().await;
    }
    let ns = cluster.namespace("bookmark").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let created = create(&api, cm("a")).await;
    let rv = created.metadata.resource_version.expect("rv");
    let stream = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default().timeout(10)
            },
            &rv,
        )
        .await?;
    let bookmark = stream
        .try_filter(|e| futures::future::ready(matches!(e, WatchEvent::Bookmark(_))))
        .boxed()
        .try_next()
        .await?;
    assert!(matches!(bookmark, Some(WatchEvent::Bookmark(_))));

    let history = berth_kube_sim::SimOptions {
        event_history: 5,
        ..Default::default()
    };
    let small = berth_kube_sim::Simulator::start(history).await?;
    let api: Api<ConfigMap> = Api::namespaced(small.client()?, "default");
    let first = create(&api, cm("first"))
        .await
        .metadata
        .resource_version
        .expect("rv");
    for i in 0..10 {
        create(&api, cm(&format!("later-{i}"))).await;
    }
    let mut stream = api.watch(&WatchParams::default(), &first).await?.boxed();
    match stream.try_next().await? {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    cluster.cleanup().await
}

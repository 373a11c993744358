//! Label and field selectors, and paging with limit/continue.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::{TestCluster, create};

async fn names(api: &Api<ConfigMap>, params: &ListParams) -> Vec<String> {
    let mut names: Vec<String> = api
        .list(params)
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n.starts_with("cm-"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn selectors_with_every_operator() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("select").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    for (name, labels) in [
        ("cm-a", json!({"app": "web", "tier": "front"})),
        ("cm-b", json!({"app": "api", "tier": "back"})),
        ("cm-c", json!({"app": "db"})),
    ] {
        create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}})).await;
    }
    let cases = [
        ("app=web", vec!["cm-a"]),
        ("app==web", vec!["cm-a"]),
        ("app!=web", vec!["cm-b", "cm-c"]),
        ("app in (web,db)", vec!["cm-a", "cm-c"]),
        ("app notin (web,db)", vec!["cm-b"]),
        ("tier", vec!["cm-a", "cm-b"]),
        ("!tier", vec!["cm-c"]),
        ("app,tier=back", vec!["cm-b"]),
    ];
    for (selector, expected) in cases {
        assert_eq!(
            names(&api, &ListParams::default().labels(selector)).await,
            expected,
            "{selector}"
        );
    }
    assert_eq!(
        names(&api, &ListParams::default().fields("metadata.name=cm-b")).await,
        vec!["cm-b"]
    );
    assert_eq!(
        names(&api, &ListParams::default().fields("metadata.name!=cm-b")).await,
        vec!["cm-a", "cm-c"]
    );
    cluster.cleanup().await
}

#[tokio::test]
async fn limit_and_continue_page_through_everything_once() -> anyhow::Result<()> {
    let cluster = TestCluster::new().await?;
    let ns = cluster.namespace("page").await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    for i in 0..7 {
        create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "labels": {"page": "yes"}}})).await;
    }
    let mut seen = Vec::new();
    let mut params = ListParams::default().labels("page=yes").limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&params).await?;
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    assert_eq!(pages, 3);
    cluster.cleanup().await
}

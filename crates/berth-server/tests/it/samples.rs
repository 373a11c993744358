//! The built-in samples: served as a chart repository outside the API,
//! added to the catalog once per store by the system (audited), following
//! berthd to a new address, and gone for good once an admin removes them.

use berth_testkit::TestServer;
use serde_json::Value;
use sha2::Digest;

use crate::auth_local::call;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_samples_are_served_and_added_once_by_the_system() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);

    // A chart repository anyone may read, whose archives match its index.
    let index = http
        .get(url("/samples/charts/index.yaml"))
        .send()
        .await
        .expect("index");
    assert_eq!(index.status(), 200);
    let index: Value =
        serde_yaml_ng::from_slice(&index.bytes().await.expect("body")).expect("yaml");
    for chart in ["hello-web", "hello-api"] {
        let entry = &index["entries"][chart][0];
        let file = entry["urls"][0].as_str().expect("url");
        let archive = http
            .get(url(&format!("/samples/charts/{file}")))
            .send()
            .await
            .expect("archive");
        assert_eq!(archive.status(), 200);
        let digest = hex::encode(sha2::Sha256::digest(archive.bytes().await.expect("body")));
        assert_eq!(entry["digest"].as_str(), Some(digest.as_str()));
    }
    let missing = http
        .get(url("/samples/charts/nothing.tgz"))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);

    // Added by the system, with an event each.
    let catalog = server.app.catalog();
    let samples = berth_catalog::samples::url(server.addr);
    catalog.add_samples(&samples).await.expect("samples");
    let (status, repository) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories/berth-samples"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{repository}");
    assert_eq!(repository["added_by"], "berth");
    assert_eq!(repository["url"], samples.as_str());
    assert_eq!(repository["charts"], 2);
    let (_, items) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/items"),
        Some(&admin),
        None,
    )
    .await;
    let items = items.as_array().expect("items");
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["spec"]["name"].as_str())
        .collect();
    assert_eq!(names, ["hello-api", "hello-web"]);
    assert!(items.iter().all(|i| i["created_by"] == "berth"));
    let web = items
        .iter()
        .find(|i| i["spec"]["name"] == "hello-web")
        .expect("web");
    assert!(
        web["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["path"] == "port" && f["kind"] == "integer"),
        "{web}"
    );
    let events = |action: &'static str| {
        let http = http.clone();
        let admin = admin.clone();
        let to = url(&format!("/api/v1/audit/events?action={action}&actor=berth"));
        async move {
            let (_, events) = call(&http, "GET", &to, Some(&admin), None).await;
            events["events"].as_array().expect("events").clone()
        }
    };
    assert_eq!(events("catalog.repository.add").await.len(), 1);
    let created = events("catalog.item.create").await;
    assert_eq!(created.len(), 2);
    assert!(
        created.iter().all(|e| e["actor"]["kind"] == "system"),
        "{created:?}"
    );

    // A second start adds nothing.
    catalog.add_samples(&samples).await.expect("again");
    assert_eq!(events("catalog.repository.add").await.len(), 1);
    assert_eq!(events("catalog.item.create").await.len(), 2);

    // berthd at another address: the repository follows it.
    let moved = samples.replace("127.0.0.1", "localhost");
    catalog.add_samples(&moved).await.expect("moved");
    let (_, repository) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories/berth-samples"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(repository["url"], moved.as_str());
    let refreshed = events("catalog.repository.refresh").await;
    assert_eq!(refreshed.len(), 1, "{refreshed:?}");

    // Removed by an admin: they stay removed.
    for item in ["hello-web", "hello-api"] {
        let (status, _) = call(
            &http,
            "DELETE",
            &url(&format!("/api/v1/catalog/items/{item}")),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, _) = call(
        &http,
        "DELETE",
        &url("/api/v1/catalog/repositories/berth-samples"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    catalog.add_samples(&samples).await.expect("after removal");
    let (status, _) = call(
        &http,
        "GET",
        &url("/api/v1/catalog/repositories/berth-samples"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

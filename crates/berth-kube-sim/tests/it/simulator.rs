//! What only the simulator has: persistence across restarts, Job completion
//! driven by the embedder, and the raw protocol's answers to bad requests.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::json;

use berth_kube_sim::{SimOptions, Simulator};

use crate::create;

#[tokio::test]
async fn a_persisted_cluster_survives_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = SimOptions {
        persist_to: Some(dir.path().join("cluster.json")),
        ..Default::default()
    };
    let rv;
    {
        let sim = Simulator::start(options.clone()).await?;
        let api: Api<ConfigMap> = Api::namespaced(sim.client()?, "default");
        rv = create(&api, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}, "data": {"a": "1"}}))
            .await
            .metadata
            .resource_version
            .expect("rv");
    }
    let sim = Simulator::start(options).await?;
    let api: Api<ConfigMap> = Api::namespaced(sim.client()?, "default");
    let kept = api.get("kept").await?;
    assert_eq!(kept.data, Some([("a".to_owned(), "1".to_owned())].into()));
    assert_eq!(kept.metadata.resource_version, Some(rv.clone()));
    let next = create(
        &api,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}}),
    )
    .await;
    let next_rv: u64 = next.metadata.resource_version.expect("rv").parse()?;
    assert!(
        next_rv > rv.parse::<u64>()?,
        "resourceVersions keep increasing across restarts"
    );
    Ok(())
}

#[tokio::test]
async fn a_job_finishes_when_the_embedder_says_so() -> anyhow::Result<()> {
    let sim = Simulator::start(SimOptions::default()).await?;
    let jobs: Api<Job> = Api::namespaced(sim.client()?, "default");
    create(&jobs, json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "install"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "helm", "image": "alpine/helm"}]}}}
    }))
    .await;
    sim.finish_job("default", "install", false, "chart failed to render")?;
    let job = jobs.get("install").await?;
    let status = job.status.expect("status");
    assert_eq!(status.failed, Some(1));
    let condition = &status.conditions.expect("conditions")[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("Failed", "True")
    );
    assert_eq!(condition.message.as_deref(), Some("chart failed to render"));
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_the_status_a_real_server_gives() -> anyhow::Result<()> {
    let sim = Simulator::start(SimOptions::default()).await?;
    let http = reqwest::Client::new();
    let url = sim.url();
    let cases = [
        (
            "GET",
            "/api/v1/namespaces/default/widgets",
            "",
            "",
            404,
            "NotFound",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/none",
            "",
            "",
            404,
            "NotFound",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{not json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{"name":"UPPER"}}"#,
            422,
            "Invalid",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/serviceaccounts/default",
            "text/plain",
            "{}",
            415,
            "UnsupportedMediaType",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/serviceaccounts/default",
            "application/apply-patch+yaml",
            r#"{"apiVersion":"v1","kind":"ServiceAccount"}"#,
            422,
            "Invalid",
        ),
    ];
    // The default ServiceAccount is made by a controller; wait for it.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(sim.client()?, "default");
    berth_kube_sim::testing::eventually(crate::DEADLINE, "default SA", || async {
        Ok(accounts.get_opt("default").await?)
    })
    .await?;
    for (method, path, content_type, body, code, reason) in cases {
        let mut request = http
            .request(method.parse()?, format!("{url}{path}"))
            .body(body.to_owned());
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await?;
        assert_eq!(response.status().as_u16(), code, "{method} {path}");
        let status: serde_json::Value = response.json().await?;
        assert_eq!(status["kind"], "Status", "{method} {path}");
        assert_eq!(status["reason"], reason, "{method} {path}: {status}");
        assert_eq!(status["code"], code, "{method} {path}");
    }
    let discovery: serde_json::Value = http
        .get(format!("{url}/apis/apps/v1"))
        .send()
        .await?
        .json()
        .await?;
    let names: Vec<&str> = discovery["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        names.contains(&"deployments/scale") && names.contains(&"deployments/status"),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn injected_faults_refuse_delay_and_cut_watches() -> anyhow::Result<()> {
    use futures::StreamExt;
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher;

    let sim = Simulator::start(SimOptions::default()).await?;
    let api: Api<ConfigMap> = Api::namespaced(sim.client()?, "default");
    let cm = |name: &str| -> ConfigMap {
        crate::object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"f": "yes"}}}),
        )
    };

    sim.faults().fail_next(Some("POST"), "/configmaps", 500, 2);
    for _ in 0..2 {
        let refused = api.create(&Default::default(), &cm("a")).await;
        assert_eq!(crate::api_error(refused), (500, "InternalError".to_owned()));
    }
    api.create(&Default::default(), &cm("a")).await?;

    sim.faults()
        .fail_next(Some("PATCH"), "/configmaps/a", 409, 1);
    let patch = kube::api::Patch::Merge(json!({"data": {"k": "v"}}));
    let conflict = api.patch("a", &Default::default(), &patch).await;
    assert_eq!(crate::api_error(conflict), (409, "Conflict".to_owned()));
    api.patch("a", &Default::default(), &patch).await?;

    sim.faults().delay_next(
        Some("GET"),
        "/configmaps/a",
        std::time::Duration::from_millis(50),
        1,
    );
    assert!(
        api.get("a").await?.data.is_some(),
        "a slow answer is still an answer"
    );

    // A watcher with backoff survives its stream being cut.
    let mut events = watcher::watcher(api.clone(), watcher::Config::default().labels("f=yes"))
        .default_backoff()
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(crate::DEADLINE, events.next())
        .await?
        .expect("stream")?;
    assert_eq!(first.metadata.name.as_deref(), Some("a"));
    sim.faults().drop_watches();
    api.create(&Default::default(), &cm("b")).await?;
    loop {
        let next = tokio::time::timeout(crate::DEADLINE, events.next())
            .await?
            .expect("stream")?;
        if next.metadata.name.as_deref() == Some("b") {
            break;
        }
    }
    Ok(())
}

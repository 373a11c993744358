//! Dev mode with the embedded cluster, on the real daemon: `berthd` patches
//! the workload in its own Kubernetes API and runs the agent itself on a
//! folder under its data directory; `berth up`'s reports reach /metrics;
//! leaving dev mode restores the workload. A writer doing what the
//! deployment controller does races `up` and `down` throughout; neither
//! fails, and the controller's annotation is left as it wrote it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::daemon::start;

const REVISION: &str = "deployment.kubernetes.io/revision";

/// The first admin signed in (their API token), and the embedded
/// cluster's Deployments in their personal space, holding `api`.
pub(crate) async fn admin_with_a_deployment(
    daemon: &crate::daemon::Daemon,
) -> (String, Api<DynamicObject>, kube::Client) {
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", daemon.url);
    let setup = daemon.setup_url().expect("setup link");
    let secret = setup.rsplit("token=").next().expect("secret");
    let password = "correct horse battery staple";
    let answer = http
        .post(url("/api/v1/setup"))
        .json(&json!({"setup_token": secret, "username": "admin", "password": password}))
        .send()
        .await
        .expect("setup");
    assert_eq!(answer.status(), 201);
    let signed_in: Value = http
        .post(url("/api/v1/auth/cli/password"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    let token = signed_in["secret"].as_str().expect("token").to_owned();

    // The embedded cluster's kubeconfig, as an operator would use it.
    let kubeconfig = kube::config::Kubeconfig::read_from(daemon.data_dir.join("kubeconfig"))
        .expect("the embedded cluster's kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "admin",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    );
    let deployment: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1"}]}}}
    }))
    .expect("deployment");
    let deadline = Instant::now() + Duration::from_secs(20);
    // The admin's personal space appears with the first sign-in.
    while let Err(e) = deployments
        .create(&PostParams::default(), &deployment)
        .await
    {
        assert!(
            Instant::now() < deadline,
            "cannot create the deployment: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (token, deployments, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_cluster_runs_agents_in_the_daemon() {
    let daemon = start();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", daemon.url);
    let (token, deployments, _) = admin_with_a_deployment(&daemon).await;
    let original = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json");
    // What the deployment controller does, racing every write of `up` and
    // `down`: status through its subresource, and the revision annotation.
    let stop = Arc::new(AtomicBool::new(false));
    let controller = tokio::spawn({
        let (deployments, stop) = (deployments.clone(), stop.clone());
        async move {
            // Every 30 ms: a conflict on most of `up`'s writes, yet a
            // window its 16 attempts can find on a loaded machine (at 10 ms
            // a loaded 2-core machine saw all 16 conflict).
            let mut tick = tokio::time::interval(Duration::from_millis(30));
            let mut revision = 0_u64;
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                revision += 1;
                let status = json!({"status": {"observedGeneration": revision}});
                deployments
                    .patch_status("api", &PatchParams::default(), &Patch::Merge(status))
                    .await
                    .expect("status");
                let annotation =
                    json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
                deployments
                    .patch("api", &PatchParams::default(), &Patch::Merge(annotation))
                    .await
                    .expect("revision");
            }
            revision
        }
    });

    let dev: Value = http
        .post(url("/api/v1/spaces/admin/dev"))
        .bearer_auth(&token)
        .json(&json!({"target": "api", "workload": "deployment/api", "workdir": "/app"}))
        .send()
        .await
        .expect("up")
        .json()
        .await
        .expect("json");
    assert_eq!(dev["mode"], "local", "{dev}");
    let root = dev["local_root"].as_str().expect("local root");
    assert!(
        std::path::Path::new(root).starts_with(daemon.data_dir.join("dev")),
        "{root}"
    );
    let session = dev["session"]["id"].as_str().expect("session").to_owned();
    // The daemon's own agent connects to its relay.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view: Value = http
            .get(url(&format!("/api/v1/sessions/{session}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        if view["agent_connected"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the local agent did not connect: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json");
    assert_eq!(during["spec"]["replicas"], 1);

    // The same settings again: the same session. Other settings: a new
    // session, the old one ended, the saved spec untouched.
    let again: Value = http
        .post(url("/api/v1/spaces/admin/dev"))
        .bearer_auth(&token)
        .json(&json!({"target": "api", "workload": "deployment/api", "workdir": "/app"}))
        .send()
        .await
        .expect("up again")
        .json()
        .await
        .expect("json");
    assert_eq!(again["session"]["id"], session.as_str());
    let changed: Value = http
        .post(url("/api/v1/spaces/admin/dev"))
        .bearer_auth(&token)
        .json(&json!({"target": "api", "workload": "deployment/api", "workdir": "/srv"}))
        .send()
        .await
        .expect("up changed")
        .json()
        .await
        .expect("json");
    let session = changed["session"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no session in {changed}"))
        .to_owned();
    assert_ne!(session, again["session"]["id"].as_str().expect("old"));
    let old: Value = http
        .get(url(&format!(
            "/api/v1/sessions/{}",
            again["session"]["id"].as_str().expect("old")
        )))
        .bearer_auth(&token)
        .send()
        .await
        .expect("old session")
        .json()
        .await
        .expect("json");
    assert_eq!(old["state"], "ended", "{old}");

    // What `berth up` reports reaches the metrics; bad reports are refused.
    let report = |body: Value| {
        http.post(url(&format!("/api/v1/sessions/{session}/sync-report")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let answer = report(json!({"save_latencies_ms": [7.5, 12.0], "files_sent": 3}))
        .await
        .expect("report");
    assert_eq!(answer.status(), 204);
    let answer = report(json!({"save_latencies_ms": [-1.0]}))
        .await
        .expect("report");
    assert_eq!(answer.status(), 422);
    // kubectl's reads of the space through the proxy are counted, by verb.
    let kube: Value = http
        .post(url("/api/v1/tokens/kube"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("kube token")
        .json()
        .await
        .expect("json");
    let listed = http
        .get(url("/kube/api/v1/namespaces/admin/pods"))
        .bearer_auth(kube["secret"].as_str().expect("secret"))
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    let metrics = http
        .get(url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let count = metrics
        .lines()
        .find(|l| l.starts_with("berth_sync_save_latency_seconds_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(count, Some(2.0), "{metrics}");
    assert!(metrics.contains("berth_sync_files_total"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("berth_kube_requests_total{") && l.contains("verb=\"list\"")),
        "{metrics}"
    );

    let answer = http
        .delete(url("/api/v1/spaces/admin/dev/api"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("down");
    assert_eq!(answer.status(), 200);
    stop.store(true, Ordering::SeqCst);
    let revision = controller.await.expect("the controller's writes");
    let after = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json");
    assert_eq!(after["spec"], original["spec"]);
    // Dev mode's annotations are gone; the controller's is the controller's
    // last, neither saved nor restored.
    let annotations = after["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        annotations,
        serde_json::Map::from_iter([(REVISION.to_owned(), json!(revision.to_string()))]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_volume_outlives_the_pod_and_berth_down() {
    let daemon = start();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", daemon.url);
    let (token, deployments, client) = admin_with_a_deployment(&daemon).await;
    let claims: Api<DynamicObject> = Api::namespaced_with(
        client,
        "admin",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "PersistentVolumeClaim"),
            "persistentvolumeclaims",
        ),
    );
    let up = |body: Value| {
        http.post(url("/api/v1/spaces/admin/dev"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let request = json!({
        "target": "api", "workload": "deployment/api", "workdir": "/app",
        "volumes": ["/root/.cache", "node_modules"],
        "volume": {"size_gib": 20, "storage_class": "fast"},
    });

    // Refused before anything changes: too large, a path that climbs out.
    for (change, named) in [
        (json!({"volume": {"size_gib": 51}}), "volume.size_gib"),
        (json!({"volumes": ["../etc"]}), "volumes"),
    ] {
        let mut body = request.clone();
        for (key, value) in change.as_object().expect("object") {
            body[key] = value.clone();
        }
        let answer = up(body).await.expect("up");
        assert_eq!(answer.status(), 422);
        let text = answer.text().await.expect("body");
        assert!(text.contains(named), "{text}");
    }
    assert!(
        claims
            .get_opt("berth-dev-api-data")
            .await
            .expect("get")
            .is_none()
    );

    // Up: the claim, and each folder mounted from it.
    let answer = up(request.clone()).await.expect("up");
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let claim =
        serde_json::to_value(claims.get("berth-dev-api-data").await.expect("claim")).expect("json");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(claim["spec"]["storageClassName"], "fast");
    assert_eq!(claim["metadata"]["labels"]["berth.dev/space"], "admin");
    let pod = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json")
        ["spec"]["template"]["spec"]
        .clone();
    let mounts = &pod["containers"][0]["volumeMounts"];
    let mounted: Vec<(&str, &str)> = mounts
        .as_array()
        .expect("mounts")
        .iter()
        .filter(|m| m["name"] == "berth-dev-data")
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap_or_default(),
                m["subPath"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        mounted,
        [
            ("/root/.cache", "root/.cache"),
            ("/app/node_modules", "app/node_modules")
        ]
    );
    assert!(
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["persistentVolumeClaim"]["claimName"] == "berth-dev-api-data"),
        "{pod}"
    );

    // The volume cannot go while its pod uses it.
    let delete_volume = || async {
        http.delete(url("/api/v1/spaces/admin/dev/api/volume"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("delete the volume")
            .status()
    };
    assert_eq!(delete_volume().await, 409);

    // `berth down` keeps it; `--volumes` (the volume's own DELETE) takes it.
    let answer = http
        .delete(url("/api/v1/spaces/admin/dev/api"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("down");
    assert_eq!(answer.status(), 200);
    assert!(
        claims
            .get_opt("berth-dev-api-data")
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(delete_volume().await, 204);
    assert!(
        claims
            .get_opt("berth-dev-api-data")
            .await
            .expect("get")
            .is_none()
    );
    // A volume that is gone already is fine.
    assert_eq!(delete_volume().await, 204);

    // Each step is in the audit log.
    let events: Value = http
        .get(url("/api/v1/audit/events?action=dev."))
        .bearer_auth(&token)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let text = events.to_string();
    assert!(
        text.contains("volume berth-dev-api-data (20 GiB)"),
        "{text}"
    );
    assert!(text.contains("berth-dev-api-data deleted"), "{text}");
    assert!(text.contains("run `berth down api` first"), "{text}");
}

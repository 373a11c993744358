//! Catalog items and applications, end to end: a chart with a values
//! schema packaged by the real Helm and served over loopback; items made
//! by an admin; a developer installs, upgrades and uninstalls with the real
//! `helm` against the simulator, and the objects appear, change and go.
//! Then the Job a cluster install runs, asserted on the object.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use berth_testkit::{TestServer, eventually};
use serde_json::{Value, json};

use crate::auth_local::{Api, member};
use berth_testkit::charts::{publish_demo, serve_dir};

/// Waits until the app's operation is no longer running; answers it
/// (or none once it is gone).
async fn settled(api: &Api, token: &str, space: &str, name: &str) -> Option<Value> {
    let path = format!("/api/v1/spaces/{space}/apps/{name}");
    eventually(Duration::from_secs(120), "the operation ends", || async {
        let (status, app) = api.call("GET", &path, token, None).await;
        Ok(match status.as_u16() {
            404 => Some(None),
            200 if app["operation"]["state"] != "running" => Some(Some(app)),
            200 => None,
            other => panic!("GET {path} answered {other}: {app}"),
        })
    })
    .await
    .expect("settles")
}

async fn logs(api: &Api, token: &str, space: &str, name: &str) -> String {
    api.http
        .get(format!(
            "{}/api/v1/spaces/{space}/apps/{name}/logs",
            api.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("logs")
        .text()
        .await
        .expect("text")
}

fn message(answer: &Value) -> &str {
    answer["error"]["message"].as_str().unwrap_or_default()
}

/// A space made by `token`, once the reconciler has made its installer.
async fn space(api: &Api, server: &TestServer, token: &str, name: &str) {
    let (status, body) = api
        .call("POST", "/api/v1/spaces", token, Some(json!({"name": name})))
        .await;
    assert_eq!(status, 201, "{body}");
    server.installer_ready(name).await;
}

/// An admin's repository `stable` and item `demo` (version ~0.1; the
/// item's message; developers may set four values).
async fn catalog(api: &Api, admin: &str, work: &Path) {
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    let base = serve_dir(repo.clone()).await;
    publish_demo(work, &repo, &base, "0.1.0");
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/catalog/repositories",
            admin,
            Some(json!({"name": "stable", "url": base})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, item) = api
        .call("POST", "/api/v1/catalog/items", admin, Some(demo_item()))
        .await;
    assert_eq!(status, 201, "{item}");
}

fn demo_item() -> Value {
    json!({
        "name": "demo", "description": "The demo web app",
        "repository": "stable", "chart": "demo", "version": "~0.1",
        "values": {"message": "from the item"},
        "parameters": ["replicaCount", "message", "password", "fail"],
    })
}

async fn object(
    server: &TestServer,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    server
        .sim
        .get_object(api_version, kind, ns, name)
        .await
        .expect("read")
}

/// The Job an operation runs as.
fn runner(app: &Value) -> String {
    app["operation"]["runner"]
        .as_str()
        .expect("runner")
        .to_owned()
}

/// A Job, once it is there.
async fn job_of(server: &TestServer, ns: &str, name: &str) -> Value {
    eventually(Duration::from_secs(30), "the Job", || async {
        server.sim.get_object("batch/v1", "Job", ns, name).await
    })
    .await
    .expect("job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_installs_upgrades_and_uninstalls_a_catalog_item_with_helm() {
    let server = TestServer::start().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let developer = member(&server, &admin, "dev").await;
    let api = Api::new(&server, "");
    let work = tempfile::tempdir().expect("work");
    catalog(&api, &admin, work.path()).await;

    // A repository whose index lists an archive nobody serves: an item of
    // it is refused, saying which chart could not be fetched from where.
    let broken = work.path().join("broken");
    std::fs::create_dir_all(&broken).expect("broken");
    std::fs::write(
        broken.join("index.yaml"),
        "apiVersion: v1\nentries:\n  gone:\n    - version: 1.0.0\n      urls: [http://127.0.0.1:9/gone-1.0.0.tgz]\n",
    )
    .expect("index");
    let broken_url = serve_dir(broken).await;
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/catalog/repositories",
            &admin,
            Some(json!({"name": "broken", "url": broken_url})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, answer) = api
        .call(
            "POST",
            "/api/v1/catalog/items",
            &admin,
            Some(json!({"name": "gone", "repository": "broken", "chart": "gone"})),
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        message(&answer).contains("cannot fetch chart gone 1.0.0 from repository broken"),
        "{answer}"
    );
    let (status, _) = api
        .call("GET", "/api/v1/catalog/items/gone", &admin, None)
        .await;
    assert_eq!(status, 404, "nothing stored");
    // A repository that items use is not removed.
    let (status, answer) = api
        .call(
            "DELETE",
            "/api/v1/catalog/repositories/stable",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(message(&answer).contains("demo"), "{answer}");

    // Items: admins only; what is not in the repository is named.
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/catalog/items",
            &developer,
            Some(json!({"name": "mine", "repository": "stable", "chart": "demo"})),
        )
        .await;
    assert_eq!(status, 403);
    let mut bad = demo_item();
    bad["name"] = json!("nope");
    bad["chart"] = json!("nope");
    let (status, answer) = api
        .call("POST", "/api/v1/catalog/items", &admin, Some(bad))
        .await;
    // A chart the repository does not have is not there: 404.
    assert_eq!(status, 404, "{answer}");
    assert!(
        message(&answer).contains("repository stable has no chart nope (it has: demo)"),
        "{answer}"
    );
    let mut bad = demo_item();
    bad["name"] = json!("newer");
    bad["version"] = json!(">=2");
    let (status, answer) = api
        .call("POST", "/api/v1/catalog/items", &admin, Some(bad))
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        message(&answer).contains("no version matching \">=2\" (newest: 0.1.0)"),
        "{answer}"
    );
    let mut bad = demo_item();
    bad["name"] = json!("zero");
    bad["values"] = json!({"replicaCount": 0});
    let (status, answer) = api
        .call("POST", "/api/v1/catalog/items", &admin, Some(bad))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        message(&answer).starts_with("values.replicaCount:"),
        "{answer}"
    );
    let mut hidden = demo_item();
    hidden["name"] = json!("hidden-demo");
    hidden["hidden"] = json!(true);
    let (status, answer) = api
        .call("POST", "/api/v1/catalog/items", &admin, Some(hidden))
        .await;
    assert_eq!(status, 201, "{answer}");

    // What a developer sees: the fields of the form, hidden items not.
    let (status, items) = api
        .call("GET", "/api/v1/catalog/items", &developer, None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["spec"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["demo"]);
    let (status, _) = api
        .call("GET", "/api/v1/catalog/items/hidden-demo", &developer, None)
        .await;
    assert_eq!(status, 404);
    let (_, item) = api
        .call("GET", "/api/v1/catalog/items/demo", &developer, None)
        .await;
    assert_eq!(item["chart_version"], "0.1.0");
    assert_eq!(item["has_schema"], true);
    let field = |path: &str| {
        item["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["path"] == path)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(field("replicaCount")["kind"], "integer");
    assert_eq!(field("replicaCount")["required"], true);
    assert_eq!(field("replicaCount")["maximum"], 5.0);
    assert_eq!(field("message")["default"], "from the item");
    assert_eq!(field("password")["secret"], true);

    space(&api, &server, &developer, "shop").await;
    let apps = "/api/v1/spaces/shop/apps";
    // Values the schema or the item refuses: 422 naming the value, and
    // nothing recorded.
    for (values, expected) in [
        (json!({"replicaCount": 9}), "values.replicaCount:"),
        (json!({"replicaCount": "two"}), "values.replicaCount:"),
        (
            json!({"image": {"tag": "x"}}),
            "values.image.tag: cannot be set for this item",
        ),
    ] {
        let (status, answer) = api
            .call(
                "POST",
                apps,
                &developer,
                Some(json!({"item": "demo", "values": values})),
            )
            .await;
        assert_eq!(status, 422, "{answer}");
        assert!(message(&answer).starts_with(expected), "{answer}");
    }
    let (status, _) = api
        .call("POST", apps, &developer, Some(json!({"item": "nothing"})))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(
            "POST",
            apps,
            &developer,
            Some(json!({"item": "hidden-demo"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/spaces/admin/apps",
            &developer,
            Some(json!({"item": "demo"})),
        )
        .await;
    assert_eq!(status, 404, "not the developer's space");
    let (_, listed) = api.call("GET", apps, &developer, None).await;
    assert_eq!(listed, json!([]));

    // Install.
    let (status, app) = api
        .call(
            "POST",
            apps,
            &developer,
            Some(json!({"item": "demo", "values": {"replicaCount": 2, "password": "s3cret"}})),
        )
        .await;
    assert_eq!(status, 202, "{app}");
    assert_eq!(app["status"], "installing");
    assert_eq!(app["operation"]["runner"], "helm");
    // One operation on a release at a time.
    let (status, answer) = api
        .call(
            "POST",
            &format!("{apps}/demo/upgrade"),
            &developer,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = api
        .call("POST", apps, &developer, Some(json!({"item": "demo"})))
        .await;
    assert_eq!(status, 409, "{answer}");
    let app = settled(&api, &developer, "shop", "demo")
        .await
        .expect("installed");
    assert_eq!(app["status"], "deployed", "{app}");
    assert_eq!(app["operation"]["state"], "succeeded");
    assert_eq!(app["release"]["revision"], 1);
    assert_eq!(app["release"]["status"], "deployed");
    assert_eq!(app["chart_version"], "0.1.0");
    assert_eq!(app["release"]["notes"], "demo serves on port 80.\n");
    let web = object(&server, "apps/v1", "Deployment", "shop", "demo-web")
        .await
        .expect("deployment");
    assert_eq!(web["spec"]["replicas"], 2);
    let config = object(&server, "v1", "ConfigMap", "shop", "demo-config")
        .await
        .expect("configmap");
    assert_eq!(config["data"]["message"], "from the item");
    object(&server, "v1", "Secret", "shop", "demo-secret")
        .await
        .expect("secret");
    object(&server, "v1", "Service", "shop", "demo-web")
        .await
        .expect("service");
    // The chart's hook Job ran (Helm waited for it to complete).
    let hook = object(&server, "batch/v1", "Job", "shop", "demo-migrate")
        .await
        .expect("hook job");
    assert_eq!(hook["status"]["succeeded"], 1);
    assert!(
        logs(&api, &developer, "shop", "demo")
            .await
            .contains("NAME: demo")
    );

    // A new chart version in the repository; an upgrade takes it, with a
    // changed value and the earlier ones kept.
    let repo = work.path().join("repo");
    let (_, repository) = api
        .call("GET", "/api/v1/catalog/repositories/stable", &admin, None)
        .await;
    let base = repository["url"].as_str().expect("url").to_owned();
    publish_demo(work.path(), &repo, &base, "0.1.1");
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/catalog/repositories/stable/refresh",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = api
        .call(
            "POST",
            &format!("{apps}/demo/upgrade"),
            &developer,
            Some(json!({"values": {"message": "changed"}})),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let app = settled(&api, &developer, "shop", "demo")
        .await
        .expect("upgraded");
    assert_eq!(app["status"], "deployed", "{app}");
    assert_eq!(app["chart_version"], "0.1.1");
    assert_eq!(app["release"]["revision"], 2);
    assert_eq!(
        app["values"],
        json!({"replicaCount": 2, "password": "s3cret", "message": "changed"})
    );
    let config = object(&server, "v1", "ConfigMap", "shop", "demo-config")
        .await
        .expect("configmap");
    assert_eq!(config["data"]["message"], "changed");
    let web = object(&server, "apps/v1", "Deployment", "shop", "demo-web")
        .await
        .expect("deployment");
    assert_eq!(web["spec"]["replicas"], 2);

    // A chart whose templates fail: Helm's words, and the release as it was.
    let (status, _) = api
        .call(
            "POST",
            &format!("{apps}/demo/upgrade"),
            &developer,
            Some(json!({"values": {"fail": true}})),
        )
        .await;
    assert_eq!(status, 202);
    let app = settled(&api, &developer, "shop", "demo")
        .await
        .expect("failed");
    assert_eq!(app["status"], "failed", "{app}");
    assert_eq!(app["operation"]["state"], "failed");
    assert!(
        app["operation"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the chart refuses: fail is set"),
        "{app}"
    );
    assert_eq!(app["release"]["revision"], 2, "{app}");
    assert_eq!(app["release"]["status"], "deployed");
    assert!(
        logs(&api, &developer, "shop", "demo")
            .await
            .contains("the chart refuses: fail is set")
    );

    // Uninstall: the objects go, and so does the app.
    let (status, answer) = api
        .call("DELETE", &format!("{apps}/demo"), &developer, None)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "uninstalling");
    assert!(settled(&api, &developer, "shop", "demo").await.is_none());
    assert!(
        object(&server, "apps/v1", "Deployment", "shop", "demo-web")
            .await
            .is_none()
    );
    assert!(
        object(&server, "v1", "ConfigMap", "shop", "demo-config")
            .await
            .is_none()
    );
    let (_, listed) = api.call("GET", apps, &developer, None).await;
    assert_eq!(listed, json!([]));

    // Counted for the daemon's metrics.
    use berth_core::app::OperationKind::{Install, Uninstall, Upgrade};
    let counters = server.app.apps().counters();
    assert_eq!(
        [
            counters.ended(Install, true),
            counters.ended(Upgrade, true),
            counters.ended(Upgrade, false),
            counters.ended(Uninstall, true),
        ],
        [1, 1, 1, 1]
    );
    assert_eq!(server.app.apps().running(), 0);

    // Each step in the audit log, with who and how it went.
    let (_, events) = api
        .call(
            "GET",
            "/api/v1/audit/events?action=app.&space=shop&limit=100",
            &admin,
            None,
        )
        .await;
    let seen: Vec<(String, String, String)> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
                e["actor"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (action, outcome) in [
        ("app.install", "success"),
        ("app.install", "failure"),
        ("app.upgrade", "success"),
        ("app.upgrade", "failure"),
        ("app.uninstall", "success"),
    ] {
        assert!(
            seen.iter()
                .any(|(a, o, who)| a == action && o == outcome && who == "dev"),
            "{action} {outcome} by dev in {seen:?}"
        );
    }
    let (_, events) = api
        .call(
            "GET",
            "/api/v1/audit/events?action=catalog.item.",
            &admin,
            None,
        )
        .await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"catalog.item.create"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_helm_runs_as_a_job_under_the_spaces_installer() {
    let server = TestServer::start_with_helm_jobs().await.expect("server");
    let admin = server.admin_token().await.expect("admin");
    let api = Api::new(&server, "");
    let work = tempfile::tempdir().expect("work");
    catalog(&api, &admin, work.path()).await;
    space(&api, &server, &admin, "jobs").await;
    let apps = "/api/v1/spaces/jobs/apps";

    let (status, app) = api
        .call(
            "POST",
            apps,
            &admin,
            Some(json!({"item": "demo", "name": "web", "values": {"replicaCount": 3}})),
        )
        .await;
    assert_eq!(status, 202, "{app}");
    let first = runner(&app);
    assert!(first.starts_with("berth-app-web-1-"), "{app}");
    let job = job_of(&server, "jobs", &first).await;
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "berth-installer");
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["initContainers"][0];
    assert_eq!(container["image"], "docker.io/alpine/helm:3.17.3");
    assert_eq!(
        container["args"],
        json!([
            "upgrade",
            "--install",
            "web",
            "/berth/release/chart.tgz",
            "--values",
            "/berth/release/values.yaml",
            "--wait",
            "--namespace",
            "jobs",
            "--timeout",
            "60s"
        ])
    );
    // Then Helm's record of the release, read by Helm in the space.
    assert_eq!(
        pod["containers"][0]["args"],
        json!(["status", "web", "--namespace", "jobs", "--output", "json"])
    );
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert!(
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["secret"]["secretName"] == "berth-app-web")
    );
    assert_eq!(job["spec"]["backoffLimit"], 0);

    // The values Secret: the item's values with the developer's over them,
    // and the chart itself.
    let secret = object(&server, "v1", "Secret", "jobs", "berth-app-web")
        .await
        .expect("secret");
    let engine = base64::engine::general_purpose::STANDARD;
    let values = engine
        .decode(secret["data"]["values.yaml"].as_str().expect("values"))
        .expect("base64");
    let values: Value = serde_json::from_slice(&values).expect("values are JSON, which is YAML");
    assert_eq!(
        values,
        json!({"message": "from the item", "replicaCount": 3})
    );
    let chart = engine
        .decode(secret["data"]["chart.tgz"].as_str().expect("chart"))
        .expect("base64");
    assert_eq!(&chart[..2], &[0x1f, 0x8b], "a gzipped chart archive");

    // The Job's end is the operation's.
    server
        .sim
        .finish_job("jobs", &first, true, "")
        .expect("finish");
    let app = settled(&api, &admin, "jobs", "web")
        .await
        .expect("installed");
    assert_eq!(app["status"], "deployed", "{app}");

    // An uninstall whose Job fails is recorded as failed, with why; run
    // again, it succeeds and the Secret goes.
    let (status, app) = api
        .call("DELETE", &format!("{apps}/web"), &admin, None)
        .await;
    assert_eq!(status, 202);
    let second = runner(&app);
    assert!(second.starts_with("berth-app-web-2-"), "{app}");
    let job = job_of(&server, "jobs", &second).await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"],
        json!([
            "uninstall",
            "web",
            "--ignore-not-found",
            "--wait",
            "--namespace",
            "jobs",
            "--timeout",
            "60s"
        ])
    );
    server
        .sim
        .finish_job(
            "jobs",
            &second,
            false,
            "Job has reached the specified backoff limit",
        )
        .expect("finish");
    let app = settled(&api, &admin, "jobs", "web").await.expect("failed");
    assert_eq!(app["status"], "failed");
    assert!(
        app["operation"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("backoff limit"),
        "{app}"
    );
    let (status, app) = api
        .call("DELETE", &format!("{apps}/web"), &admin, None)
        .await;
    assert_eq!(status, 202);
    let third = runner(&app);
    job_of(&server, "jobs", &third).await;
    server
        .sim
        .finish_job("jobs", &third, true, "")
        .expect("finish");
    assert!(settled(&api, &admin, "jobs", "web").await.is_none());
    assert!(
        object(&server, "v1", "Secret", "jobs", "berth-app-web")
            .await
            .is_none()
    );

    // Installed again under the same name: new Jobs, clear of the old
    // ones (kept an hour). Then a deleted space takes its releases along,
    // and Berth forgets them.
    let (status, app) = api
        .call(
            "POST",
            apps,
            &admin,
            Some(json!({"item": "demo", "name": "web"})),
        )
        .await;
    assert_eq!(status, 202, "{app}");
    let again = runner(&app);
    assert!(
        again.starts_with("berth-app-web-1-") && again != first,
        "{again} {first}"
    );
    job_of(&server, "jobs", &again).await;
    server
        .sim
        .finish_job("jobs", &again, true, "")
        .expect("finish");
    settled(&api, &admin, "jobs", "web")
        .await
        .expect("installed");
    let (status, _) = api
        .call("DELETE", "/api/v1/spaces/jobs", &admin, None)
        .await;
    assert_eq!(status, 202);
    eventually(Duration::from_secs(30), "the space goes", || async {
        let (status, _) = api.call("GET", "/api/v1/spaces/jobs", &admin, None).await;
        Ok((status == 404).then_some(()))
    })
    .await
    .expect("space deleted");
    // A new space of the same name, made before the sweep came by, shows
    // none of the old one's apps; then there is nothing left to sweep.
    space(&api, &server, &admin, "jobs").await;
    let (status, listed) = api.call("GET", apps, &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed, json!([]));
    let (status, _) = api.call("GET", &format!("{apps}/web"), &admin, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        server
            .app
            .apps()
            .forget_deleted_spaces()
            .await
            .expect("forget"),
        0
    );
    let (_, events) = api
        .call(
            "GET",
            "/api/v1/audit/events?action=app.forget",
            &admin,
            None,
        )
        .await;
    assert_eq!(events["events"][0]["resource"]["name"], "web", "{events}");
}

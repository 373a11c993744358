//! Sleep and wake, driven by a test clock.

use std::time::Duration;

use berth_core::space::Phase;
use berth_kube_sim::testing::eventually;
use berth_spaces::SpacesConfig;
use serde_json::{Value, json};

use crate::{WAIT, deployment, harness};

fn replicas(object: &Option<Value>) -> Value {
    object
        .as_ref()
        .map(|o| o["spec"]["replicas"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_idle_space_sleeps_and_wakes_exactly_as_it_was() -> anyhow::Result<()> {
    let h = harness(SpacesConfig::default()).await?;
    let name = h.create("sleepy", false).await?;
    let kept = h.create("kept", true).await?;
    h.phase(&name, Phase::Active).await?;
    h.phase(&kept, Phase::Active).await?;

    let deployments = h.api("apps/v1", "Deployment", "deployments", Some(&name));
    h.create_object(&deployments, deployment("api", 3, json!({})))
        .await?;
    h.create_object(&deployments, deployment("idle", 0, json!({})))
        .await?;
    h.create_object(
        &deployments,
        deployment("always", 2, json!({"berth.dev/sleep": "never"})),
    )
    .await?;
    let sets = h.api("apps/v1", "StatefulSet", "statefulsets", Some(&name));
    let mut db = deployment("db", 1, json!({}));
    db["kind"] = json!("StatefulSet");
    db["spec"]["serviceName"] = json!("db");
    h.create_object(&sets, db).await?;
    let cronjobs = h.api("batch/v1", "CronJob", "cronjobs", Some(&name));
    for (job, suspend) in [("nightly", false), ("paused", true)] {
        h.create_object(
            &cronjobs,
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": job},
                "spec": {"schedule": "0 3 * * *", "suspend": suspend, "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": "registry.k8s.io/pause:3.9"}]
                }}}}}
            }),
        )
        .await?;
    }
    let persistent_deployments = h.api("apps/v1", "Deployment", "deployments", Some(&kept));
    h.create_object(&persistent_deployments, deployment("api", 2, json!({})))
        .await?;

    // Not yet idle long enough: nothing sleeps.
    h.clock.advance(Duration::from_secs(3 * 3600 - 60));
    assert_eq!(
        h.spaces
            .check_idle()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        0
    );
    let view = h.view(&name).await?;
    assert!(view.sleeps_at.is_some() && !view.wakefulness.asleep);
    assert!(
        h.view(&kept).await?.sleeps_at.is_none(),
        "persistent spaces never sleep"
    );

    h.clock.advance(Duration::from_secs(120));
    assert_eq!(
        h.spaces
            .check_idle()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        1
    );
    let view = h.phase(&name, Phase::Sleeping).await?;
    assert!(view.wakefulness.asleep);
    assert_eq!(view.wakefulness.by, "berth");
    assert!(
        view.wakefulness.reason.starts_with("idle since"),
        "{}",
        view.wakefulness.reason
    );

    let api = h.get(&deployments, "api").await?;
    assert_eq!(replicas(&api), json!(0));
    assert_eq!(
        api.as_ref()
            .map(|o| o["metadata"]["annotations"]["berth.dev/replicas-before-sleep"].clone()),
        Some(json!("3"))
    );
    assert_eq!(replicas(&h.get(&deployments, "idle").await?), json!(0));
    assert_eq!(replicas(&h.get(&deployments, "always").await?), json!(2));
    assert_eq!(replicas(&h.get(&sets, "db").await?), json!(0));
    assert_eq!(
        h.get(&cronjobs, "nightly")
            .await?
            .map(|c| c["spec"]["suspend"].clone()),
        Some(json!(true))
    );
    assert_eq!(
        replicas(&h.get(&persistent_deployments, "api").await?),
        json!(2)
    );
    assert_eq!(h.view(&kept).await?.status.phase, Phase::Active);

    // Wake: exactly what was there comes back.
    let woken = h
        .spaces
        .wake(&h.admin, &name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(woken.wakefulness.by, "admin");
    h.phase(&name, Phase::Active).await?;
    eventually(WAIT, "the workloads to be back", || async {
        Ok((replicas(&h.get(&deployments, "api").await?) == json!(3)).then_some(()))
    })
    .await?;
    let api = h.get(&deployments, "api").await?.expect("api");
    assert!(
        api["metadata"]["annotations"]
            .get("berth.dev/replicas-before-sleep")
            .is_none()
    );
    assert_eq!(replicas(&h.get(&deployments, "idle").await?), json!(0));
    assert_eq!(replicas(&h.get(&deployments, "always").await?), json!(2));
    assert_eq!(replicas(&h.get(&sets, "db").await?), json!(1));
    assert_eq!(
        h.get(&cronjobs, "nightly")
            .await?
            .map(|c| c["spec"]["suspend"].clone()),
        Some(json!(false))
    );
    assert_eq!(
        h.get(&cronjobs, "paused")
            .await?
            .map(|c| c["spec"]["suspend"].clone()),
        Some(json!(true))
    );
    let view = h.view(&name).await?;
    assert!(
        view.wakefulness.reason.starts_with("woken by admin"),
        "{}",
        view.wakefulness.reason
    );
    h.cleanup(&[&name, &kept]).await
}

#[tokio::test]
async fn a_space_idle_past_the_delete_limit_is_deleted() -> anyhow::Result<()> {
    let h = harness(SpacesConfig {
        idle_delete: Some(Duration::from_secs(24 * 3600)),
        ..SpacesConfig::default()
    })
    .await?;
    let name = h.create("forgotten", false).await?;
    let kept = h.create("kept", true).await?;
    h.phase(&name, Phase::Active).await?;
    h.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(
        h.spaces
            .check_idle()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        1
    );
    eventually(Duration::from_secs(60), "the idle space to go", || async {
        Ok(h.spaces.get(&h.admin, &name).await.is_err().then_some(()))
    })
    .await?;
    assert!(
        h.spaces.get(&h.admin, &kept).await.is_ok(),
        "persistent spaces stay"
    );
    h.cleanup(&[&kept]).await
}

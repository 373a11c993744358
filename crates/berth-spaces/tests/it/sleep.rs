//! Sleep and wake, driven by a test clock. Written to hold on a real
//! cluster too, where Deployment and StatefulSet controllers update the
//! objects meanwhile: the test waits for what the space's status says,
//! reads only `spec` and annotations, and writes with merge patches that
//! name no resourceVersion, retried on a 409.

use std::time::Duration;

use berth_core::space::Phase;
use berth_kube_sim::testing::eventually;
use berth_spaces::SpacesConfig;
use serde_json::{Value, json};

use crate::{Harness, WAIT, deployment, harness};

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
    // Asleep only once everything that should sleep does.
    let view = h.asleep(&name, "ScaledToZero", "idle since").await?;
    assert_eq!(view.status.phase, Phase::Sleeping);
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

    // Someone scales a sleeping workload up by hand; waking still brings
    // back what it had before the space slept.
    merge_retrying(&h, &deployments, "api", json!({"spec": {"replicas": 1}})).await?;

    // Wake: exactly what was there comes back, and the answer already
    // says the space is waking (or awake, should its pass have been
    // quicker than the answer).
    let woken = h.wake(&name).await?;
    assert_eq!(woken.wakefulness.by, "admin");
    assert!(
        matches!(woken.status.phase, Phase::Waking | Phase::Active),
        "{:?}",
        woken.status.phase
    );
    let view = h.asleep(&name, "Running", "woken by admin").await?;
    assert_eq!(view.status.phase, Phase::Active);
    assert_eq!(replicas(&h.get(&deployments, "api").await?), json!(3));
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

    // A workload an interrupted sleep left behind (at zero, its count
    // recorded) while the space says it is awake: waking again brings it
    // back, whatever the space remembers of its last sleep.
    let stranded = deployment(
        "stranded",
        0,
        json!({"berth.dev/replicas-before-sleep": "2"}),
    );
    h.create_object(&deployments, stranded).await?;
    h.wake(&name).await?;
    h.asleep(&name, "Running", "woken by admin").await?;
    eventually(WAIT, "the stranded workload to be back", || async {
        Ok((replicas(&h.get(&deployments, "stranded").await?) == json!(2)).then_some(()))
    })
    .await?;
    h.cleanup(&[&name, &kept]).await
}

/// A merge patch (it names no resourceVersion, so a controller's update
/// of the object meanwhile does not refuse it), retried should the API
/// server answer 409 all the same.
async fn merge_retrying(
    h: &Harness,
    api: &kube::Api<kube::api::DynamicObject>,
    name: &str,
    patch: Value,
) -> anyhow::Result<()> {
    eventually(WAIT, &format!("a merge patch of {name}"), || async {
        match h.merge(api, name, patch.clone()).await {
            Ok(()) => Ok(Some(())),
            Err(e) if is_conflict(&e) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

fn is_conflict(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code == 409)
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

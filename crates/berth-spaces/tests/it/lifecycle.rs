//! A space's objects: made, repaired after hand edits, deleted in order.

use std::sync::atomic::Ordering;
use std::time::Duration;

use berth_core::space::Phase;
use berth_kube_sim::testing::eventually;
use berth_spaces::SpacesConfig;
use serde_json::json;

use crate::{WAIT, harness};

#[tokio::test]
async fn a_space_is_made_repaired_and_deleted_namespace_first() -> anyhow::Result<()> {
    let h = harness(SpacesConfig::default()).await?;
    let name = h.create("life", false).await?;
    let view = h.phase(&name, Phase::Active).await?;
    assert!(
        view.status
            .conditions
            .iter()
            .any(|c| c.kind == "Ready" && c.status)
    );

    // Every object, with the spec the space asks for.
    let ns = h
        .get(&h.api("v1", "Namespace", "namespaces", None), &name)
        .await?
        .expect("namespace");
    let labels = &ns["metadata"]["labels"];
    assert_eq!(labels["berth.dev/space"], json!(name));
    assert_eq!(labels["berth.dev/owner"], "admin");
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    let quotas = h.api("v1", "ResourceQuota", "resourcequotas", Some(&name));
    let quota = h.get(&quotas, "berth-quota").await?.expect("quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "50");
    let limits = h
        .get(
            &h.api("v1", "LimitRange", "limitranges", Some(&name)),
            "berth-limits",
        )
        .await?
        .expect("limit range");
    assert_eq!(limits["spec"]["limits"][0]["defaultRequest"]["cpu"], "100m");
    let policy = h
        .get(
            &h.api(
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "networkpolicies",
                Some(&name),
            ),
            "berth-isolation",
        )
        .await?
        .expect("network policy");
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][1]["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["ingress-nginx"])
    );
    let bindings = h.api(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        Some(&name),
    );
    let binding = h
        .get(&bindings, "berth-installer")
        .await?
        .expect("role binding");
    assert_eq!(binding["subjects"][0]["name"], "berth-installer");
    for (api_version, kind, plural) in [
        ("v1", "ServiceAccount", "serviceaccounts"),
        ("rbac.authorization.k8s.io/v1", "Role", "roles"),
    ] {
        assert!(
            h.get(
                &h.api(api_version, kind, plural, Some(&name)),
                "berth-installer"
            )
            .await?
            .is_some(),
            "{kind}"
        );
    }

    // A converged space costs no writes when it is checked again.
    let writes = h.reconciler.counters().writes.load(Ordering::SeqCst);
    let passes = h.reconciler.counters().passes.load(Ordering::SeqCst);
    h.reconciler.resync();
    eventually(WAIT, "a resync pass", || async {
        Ok((h.reconciler.counters().passes.load(Ordering::SeqCst) > passes).then_some(()))
    })
    .await?;
    assert_eq!(
        h.reconciler.counters().writes.load(Ordering::SeqCst),
        writes
    );

    // Drift: an edited quota and a deleted binding come back.
    h.merge(
        &quotas,
        "berth-quota",
        json!({"spec": {"hard": {"pods": "999"}}}),
    )
    .await?;
    bindings
        .delete("berth-installer", &Default::default())
        .await?;
    eventually(WAIT, "the quota and the binding to be repaired", || async {
        let quota = h.get(&quotas, "berth-quota").await?;
        let binding = h.get(&bindings, "berth-installer").await?;
        Ok(
            (quota.is_some_and(|q| q["spec"]["hard"]["pods"] == "50") && binding.is_some())
                .then_some(()),
        )
    })
    .await?;

    // Deletion: the record stays, Terminating, while the namespace lives.
    let maps = h.api("v1", "ConfigMap", "configmaps", Some(&name));
    h.create_object(
        &maps,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["berth.dev/test-hold"]}}),
    )
    .await?;
    h.spaces
        .delete(&h.admin, &name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let namespaces = h.api("v1", "Namespace", "namespaces", None);
    eventually(WAIT, "the namespace to be terminating", || async {
        let ns = h.get(&namespaces, &name).await?;
        Ok(ns
            .is_some_and(|ns| ns["metadata"]["deletionTimestamp"].is_string())
            .then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view = h.view(&name).await?;
    assert_eq!(view.status.phase, Phase::Terminating);
    h.merge(&maps, "held", json!({"metadata": {"finalizers": null}}))
        .await?;
    eventually(
        Duration::from_secs(60),
        "the space record to go",
        || async { Ok(h.spaces.get(&h.admin, &name).await.is_err().then_some(())) },
    )
    .await?;
    assert!(
        h.get(&namespaces, &name).await?.is_none(),
        "the record went only after the namespace"
    );
    h.cleanup(&[]).await
}

#[tokio::test]
async fn a_namespace_berth_did_not_make_is_never_taken_over() -> anyhow::Result<()> {
    let h = harness(SpacesConfig::default()).await?;
    let foreign = h.cluster.namespace("theirs").await?;
    let err = h
        .spaces
        .create(
            &h.admin,
            berth_core::space::NewSpace {
                name: foreign.clone(),
                ..Default::default()
            },
        )
        .await
        .expect_err("taken");
    assert_eq!(err.code, berth_core::ErrorCode::Conflict);
    assert!(err.message.contains("adopt"), "{}", err.message);

    // An admin adopts it explicitly: it is labelled and filled.
    h.spaces
        .create(
            &h.admin,
            berth_core::space::NewSpace {
                name: foreign.clone(),
                adopt: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    h.phase(&foreign, Phase::Active).await?;
    let ns = h
        .get(&h.api("v1", "Namespace", "namespaces", None), &foreign)
        .await?
        .expect("namespace");
    assert_eq!(ns["metadata"]["labels"]["berth.dev/space"], json!(foreign));
    assert_eq!(
        ns["metadata"]["labels"]["berth.dev/test-run"],
        json!(h.cluster.prefix),
        "the labels it had are kept"
    );
    h.cleanup(&[&foreign]).await
}

#[tokio::test]
async fn the_reconciler_converges_through_api_faults_and_says_so() -> anyhow::Result<()> {
    let h = harness(SpacesConfig::default()).await?;
    let Some(sim) = h.cluster.simulator() else {
        // Faults are injected by the simulator only.
        return Ok(());
    };
    // The quota cannot be applied for a while: 500s, then conflicts, each
    // answered slowly.
    sim.faults()
        .fail_next(Some("PATCH"), "/resourcequotas/", 500, 3);
    sim.faults()
        .fail_next(Some("PATCH"), "/resourcequotas/", 409, 2);
    sim.faults().delay_next(
        Some("PATCH"),
        "/limitranges/",
        Duration::from_millis(200),
        3,
    );
    let name = h.create("faults", false).await?;
    let failing = eventually(WAIT, "the failure in the conditions", || async {
        let view = h.view(&name).await?;
        Ok(view
            .status
            .conditions
            .into_iter()
            .find(|c| c.kind == "Ready" && !c.status && c.reason == "KubernetesApiError"))
    })
    .await?;
    assert!(
        failing.message.contains("ResourceQuota"),
        "{}",
        failing.message
    );
    assert!(failing.message.contains("retrying"), "{}", failing.message);
    h.phase(&name, Phase::Active).await?;

    // Watches dropped, then drift while they reconnect: still repaired.
    sim.faults().drop_watches();
    let quotas = h.api("v1", "ResourceQuota", "resourcequotas", Some(&name));
    quotas.delete("berth-quota", &Default::default()).await?;
    eventually(WAIT, "the quota to be made again", || async {
        Ok(h.get(&quotas, "berth-quota").await?.map(|_| ()))
    })
    .await?;
    assert!(h.reconciler.counters().errors.load(Ordering::SeqCst) >= 5);
    h.cleanup(&[&name]).await
}

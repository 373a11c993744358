//! What a space's status tells every member: what failed, never the
//! internal detail that only the daemon's log may hold.

use berth_core::space::Phase;
use berth_kube_sim::testing::eventually;
use berth_spaces::SpacesConfig;

use crate::{WAIT, harness};

/// The simulator's text for an injected fault; it reaches the reconciler
/// only inside a Kubernetes error's chain, the internal detail.
const INTERNAL: &str = "injected fault";

#[tokio::test]
async fn a_kubernetes_failure_shows_without_its_internal_detail() -> anyhow::Result<()> {
    let h = harness(SpacesConfig::default()).await?;
    let Some(sim) = h.cluster.simulator() else {
        // Faults are injected by the simulator only.
        return Ok(());
    };
    sim.faults()
        .fail_next(Some("PATCH"), "/resourcequotas/", 500, 4);
    let name = h.create("leak", false).await?;
    let failing = eventually(WAIT, "the failure in the conditions", || async {
        let view = h.view(&name).await?;
        let failing = view
            .status
            .conditions
            .iter()
            .any(|c| c.kind == "Ready" && !c.status && c.reason == "KubernetesApiError");
        Ok(failing.then_some(view))
    })
    .await?;
    let listed = h
        .spaces
        .list(&h.admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|v| v.name.as_str() == name)
        .ok_or_else(|| anyhow::anyhow!("{name} is not listed"))?;
    for (what, view) in [("get", failing), ("list", listed)] {
        let status = serde_json::to_string(&view.status)?;
        assert!(status.contains("ResourceQuota"), "{what}: {status}");
        assert!(!status.contains(INTERNAL), "{what}: {status}");
        assert!(!status.contains("/resourcequotas/"), "{what}: {status}");
    }
    h.phase(&name, Phase::Active).await?;
    h.cleanup(&[&name]).await
}

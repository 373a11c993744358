//! The Helm Job of a catalog install against the cluster (the simulator, or
//! a real one with `BERTH_TEST_KUBECONFIG`, where the API server validates
//! and defaults it): the Secret and the Job are created as the daemon
//! creates them, and read back with what matters held.

use base64::Engine;
use berth_kube::Cluster;
use berth_kube::helm::{CHART_KEY, HelmCommand, HelmJob, VALUES_KEY, job_name, job_outcome};
use berth_kube_sim::testing::TestCluster;
use serde_json::json;

#[tokio::test]
async fn a_helm_job_and_its_secret_are_what_the_cluster_keeps() {
    let cluster = TestCluster::new().await.expect("cluster");
    let ns = cluster.namespace("helm-job").await.expect("namespace");
    let kube = Cluster::new(cluster.client.clone());
    let job = HelmJob {
        namespace: ns.clone(),
        release: "cache".into(),
        operation: 1,
        name: job_name("cache", 1, "t3st0"),
        command: HelmCommand::Deploy,
        image: "docker.io/alpine/helm:3.17.3".into(),
        timeout_secs: 300,
    };
    let chart = [0x1f_u8, 0x8b, 0x08, 0x00, 0xff, 0x00];
    kube.put_release_secret(&ns, "cache", "replicaCount: 2\n", &chart)
        .await
        .expect("secret");
    // Written again (an upgrade): replaced, not refused.
    kube.put_release_secret(&ns, "cache", "replicaCount: 3\n", &chart)
        .await
        .expect("secret again");
    kube.create_job(&job).await.expect("job");

    let kept = kube
        .job(&ns, &job.name)
        .await
        .expect("read")
        .expect("there");
    let pod = &kept["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "berth-installer");
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["initContainers"][0]["name"], "helm");
    assert_eq!(
        pod["initContainers"][0]["args"],
        json!(job.args("/berth/release"))
    );
    assert_eq!(
        pod["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(pod["containers"][0]["name"], "status");
    assert_eq!(pod["containers"][0]["args"], json!(job.status_args()));
    assert_eq!(kept["spec"]["backoffLimit"], 0);
    assert_eq!(kept["spec"]["activeDeadlineSeconds"], 360);
    assert_eq!(kept["metadata"]["labels"]["berth.dev/app"], "cache");
    // Not ended yet (a real cluster may not even have a Pod for it).
    assert_eq!(job_outcome(&kept), None);
    assert!(
        kube.job_log(&ns, &job.name, "status")
            .await
            .expect("log")
            .is_none_or(|log| !log.contains("deployed")),
        "no status before Helm ran"
    );

    let secrets: kube::Api<kube::core::DynamicObject> = kube::Api::namespaced_with(
        cluster.client.clone(),
        &ns,
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("", "v1", "Secret"),
            "secrets",
        ),
    );
    let secret = secrets.get("berth-app-cache").await.expect("secret");
    let engine = base64::engine::general_purpose::STANDARD;
    let data = &secret.data["data"];
    assert_eq!(
        engine
            .decode(data[VALUES_KEY].as_str().expect("values"))
            .expect("base64"),
        b"replicaCount: 3\n"
    );
    assert_eq!(
        engine
            .decode(data[CHART_KEY].as_str().expect("chart"))
            .expect("base64"),
        chart
    );
    kube.delete_secret(&ns, "berth-app-cache")
        .await
        .expect("delete");
    assert!(
        secrets
            .get_opt("berth-app-cache")
            .await
            .expect("read")
            .is_none()
    );
    // A Job of that name again is refused (the names a reinstall picks are
    // new ones).
    assert!(kube.create_job(&job).await.is_err());
    cluster.cleanup().await.expect("cleanup");
}

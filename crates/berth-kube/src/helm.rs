//! Helm runs in a space, as a Kubernetes Job: the Job's spec (pure), and
//! the few reads and writes the daemon does around it (the values Secret,
//! the Job and its Pod's log, Helm's own release records).

use base64::Engine;
use kube::api::{Api, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::apply::ApplyError;
use crate::cluster::{Cluster, kube_error};
use crate::plan::INSTALLER;

/// Where the values Secret is mounted in the Job's container.
pub const MOUNT: &str = "/berth/release";
/// The keys of the values Secret.
pub const VALUES_KEY: &str = "values.yaml";
pub const CHART_KEY: &str = "chart.tgz";
/// The container that runs the operation, and the one that reads Helm's
/// record of the release after a deploy.
pub const HELM_CONTAINER: &str = "helm";
pub const STATUS_CONTAINER: &str = "status";
/// Labels on what Berth makes for a release.
pub const APP_LABEL: &str = "berth.dev/app";
pub const OPERATION_LABEL: &str = "berth.dev/operation";

/// What a Helm Job does.
#[derive(Debug, Clone, PartialEq)]
pub enum HelmCommand {
    /// `helm upgrade --install` with the mounted chart and values.
    Deploy,
    Uninstall,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HelmJob {
    pub namespace: String,
    pub release: String,
    /// Counts up per release (a label of the Job).
    pub operation: u32,
    /// The Job's name ([`job_name`]).
    pub name: String,
    pub command: HelmCommand,
    pub image: String,
    /// Helm's `--timeout`; the Job is given a minute more.
    pub timeout_secs: u64,
}

impl HelmJob {
    pub fn secret_name(&self) -> String {
        secret_name(&self.release)
    }

    /// Helm's arguments (the image's entry point is `helm`), with the
    /// chart and values in the folder `files`.
    pub fn args(&self, files: &str) -> Vec<String> {
        let timeout = format!("{}s", self.timeout_secs);
        let mut args: Vec<String> = match self.command {
            HelmCommand::Deploy => vec![
                "upgrade".into(),
                "--install".into(),
                self.release.clone(),
                format!("{files}/{CHART_KEY}"),
                "--values".into(),
                format!("{files}/{VALUES_KEY}"),
                "--wait".into(),
            ],
            // A release Helm never wrote (a first install that failed
            // early) is uninstalled by doing nothing.
            HelmCommand::Uninstall => vec![
                "uninstall".into(),
                self.release.clone(),
                "--ignore-not-found".into(),
                "--wait".into(),
            ],
        };
        args.extend([
            "--namespace".into(),
            self.namespace.clone(),
            "--timeout".into(),
            timeout,
        ]);
        args
    }

    /// `helm status` of the release, as JSON: Helm's own record of it.
    pub fn status_args(&self) -> Vec<String> {
        vec![
            "status".into(),
            self.release.clone(),
            "--namespace".into(),
            self.namespace.clone(),
            "--output".into(),
            "json".into(),
        ]
    }

    /// The Job: under the space's installer ServiceAccount (which may act
    /// in this namespace only), the values Secret mounted read-only, as a
    /// non-root user with no privileges, run once, kept an hour for its
    /// log. A deploy runs Helm in the init container `helm`, then reads
    /// Helm's record of the release in the container `status` (berthd
    /// reads its log, and so needs no access to Helm's Secrets).
    pub fn object(&self) -> Value {
        let labels = json!({APP_LABEL: self.release, OPERATION_LABEL: self.operation.to_string()});
        let container = |name: &str, args: Vec<String>, release: bool| {
            let mut mounts = vec![json!({"name": "tmp", "mountPath": "/tmp"})];
            if release {
                mounts.push(json!({"name": "release", "mountPath": MOUNT, "readOnly": true}));
            }
            json!({
                "name": name,
                "image": self.image,
                "args": args,
                "env": [
                    {"name": "HELM_CACHE_HOME", "value": "/tmp/helm/cache"},
                    {"name": "HELM_CONFIG_HOME", "value": "/tmp/helm/config"},
                    {"name": "HELM_DATA_HOME", "value": "/tmp/helm/data"},
                ],
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "volumeMounts": mounts,
            })
        };
        let mut pod = json!({
            "serviceAccountName": INSTALLER,
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        });
        match self.command {
            HelmCommand::Deploy => {
                pod["initContainers"] = json!([container(HELM_CONTAINER, self.args(MOUNT), true)]);
                pod["containers"] = json!([container(STATUS_CONTAINER, self.status_args(), false)]);
                pod["volumes"]
                    .as_array_mut()
                    .expect("a list")
                    .push(json!({"name": "release", "secret": {"secretName": self.secret_name(), "defaultMode": 0o440}}));
            }
            HelmCommand::Uninstall => {
                pod["containers"] = json!([container(HELM_CONTAINER, self.args(MOUNT), false)]);
            }
        }
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": labels,
            },
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": self.timeout_secs + 60,
                "ttlSecondsAfterFinished": 3600,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        })
    }
}

/// A Job's name: the release, the operation and `suffix` (a few random
/// characters, so a release installed again after an uninstall does not
/// meet the old Jobs, kept an hour). At most 62 characters for a release
/// name of 40.
pub fn job_name(release: &str, operation: u32, suffix: &str) -> String {
    format!("berth-app-{release}-{operation}-{suffix}")
}

/// The Secret holding a release's values and chart for its Jobs.
pub fn secret_name(release: &str) -> String {
    format!("berth-app-{release}")
}

/// How a Job ended, from its status; none while it runs.
pub fn job_outcome(job: &Value) -> Option<Result<(), String>> {
    let conditions = job.pointer("/status/conditions")?.as_array()?;
    for condition in conditions {
        if condition["status"] != "True" {
            continue;
        }
        match condition["type"].as_str() {
            Some("Complete") => return Some(Ok(())),
            Some("Failed") => {
                return Some(Err(condition["message"]
                    .as_str()
                    .or(condition["reason"].as_str())
                    .unwrap_or("the Job failed")
                    .to_owned()));
            }
            _ => {}
        }
    }
    None
}

impl Cluster {
    /// Creates or replaces the Secret a release's Jobs mount.
    pub async fn put_release_secret(
        &self,
        namespace: &str,
        release: &str,
        values: &str,
        chart: &[u8],
    ) -> Result<(), ApplyError> {
        let engine = base64::engine::general_purpose::STANDARD;
        let name = secret_name(release);
        let object = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": {APP_LABEL: release}},
            "type": "Opaque",
            "data": {VALUES_KEY: engine.encode(values), CHART_KEY: engine.encode(chart)},
        });
        let object: DynamicObject =
            serde_json::from_value(object).map_err(|e| ApplyError::Malformed(e.to_string()))?;
        self.workloads(namespace, "Secret", "v1", "secrets")
            .patch(
                &name,
                &PatchParams::apply(crate::FIELD_MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map(|_| ())
            .map_err(kube_error("Secret", &name))
    }

    /// Creates a Helm Job.
    pub async fn create_job(&self, job: &HelmJob) -> Result<(), ApplyError> {
        let name = &job.name;
        let object: DynamicObject = serde_json::from_value(job.object())
            .map_err(|e| ApplyError::Malformed(e.to_string()))?;
        self.workloads(&job.namespace, "Job", "batch/v1", "jobs")
            .create(&PostParams::default(), &object)
            .await
            .map(|_| ())
            .map_err(kube_error("Job", name))
    }

    /// A Job, whole; none when it is gone.
    pub async fn job(&self, namespace: &str, name: &str) -> Result<Option<Value>, ApplyError> {
        let api = self.workloads(namespace, "Job", "batch/v1", "jobs");
        self.get_whole(&api, "Job", name).await
    }

    /// The log of a container of a Job's Pod (the newest, if it was
    /// retried); none while it has no Pod, the container has not started,
    /// or the cluster keeps no logs.
    pub async fn job_log(
        &self,
        namespace: &str,
        job: &str,
        container: &str,
    ) -> Result<Option<String>, ApplyError> {
        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.client().clone(), namespace);
        let list = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .map_err(kube_error("Pod", job))?;
        let Some(pod) = list
            .items
            .iter()
            .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
        else {
            return Ok(None);
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            container: Some(container.to_owned()),
            ..LogParams::default()
        };
        match pods.logs(&name, &params).await {
            Ok(log) => Ok(Some(log)),
            Err(kube::Error::Api(e)) if matches!(e.code, 400 | 404) => Ok(None),
            Err(source) => Err(kube_error("Pod", &name)(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_job_runs_helm_as_the_installer_with_the_values_mounted() {
        let job = HelmJob {
            namespace: "alice".into(),
            release: "cache".into(),
            operation: 3,
            name: job_name("cache", 3, "x7k2p"),
            command: HelmCommand::Deploy,
            image: "alpine/helm:3.17.3".into(),
            timeout_secs: 300,
        };
        let object = job.object();
        assert_eq!(object["metadata"]["name"], "berth-app-cache-3-x7k2p");
        let pod = &object["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "berth-installer");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let helm = &pod["initContainers"][0];
        assert_eq!(helm["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            helm["args"],
            json!([
                "upgrade",
                "--install",
                "cache",
                "/berth/release/chart.tgz",
                "--values",
                "/berth/release/values.yaml",
                "--wait",
                "--namespace",
                "alice",
                "--timeout",
                "300s"
            ])
        );
        assert_eq!(
            pod["containers"][0]["args"],
            json!([
                "status",
                "cache",
                "--namespace",
                "alice",
                "--output",
                "json"
            ])
        );
        assert_eq!(pod["volumes"][1]["secret"]["secretName"], "berth-app-cache");
        assert_eq!(object["spec"]["backoffLimit"], 0);
        let uninstall = HelmJob {
            command: HelmCommand::Uninstall,
            ..job
        }
        .object();
        let pod = &uninstall["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["args"][0], "uninstall");
        assert!(pod.get("initContainers").is_none());
        assert_eq!(pod["volumes"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn a_jobs_end_is_read_from_its_conditions() {
        assert_eq!(job_outcome(&json!({"status": {}})), None);
        assert_eq!(
            job_outcome(
                &json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
            ),
            Some(Ok(()))
        );
        assert_eq!(
            job_outcome(
                &json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}})
            ),
            Some(Err("Job has reached the specified backoff limit".to_owned()))
        );
    }
}

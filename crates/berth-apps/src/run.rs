//! Running an operation: Helm as a local process, or as a Job in the
//! space followed until it ends.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use berth_core::Error;
use berth_core::app::HelmReleaseView;
use berth_core::app::OperationKind;
use berth_core::audit::EventActor;
use berth_kube::helm::{HELM_CONTAINER, HelmCommand, HelmJob, STATUS_CONTAINER, job_outcome};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::Apps;
use crate::config::{LocalCluster, Runner};
use crate::logs::Live;
use crate::records::{AppRecord, release_view};

/// A Secret holds at most 1 MiB; the chart and values must fit with room.
const MAX_SECRET: usize = 900 << 10;

/// How often a Job is looked at while it runs.
const POLL: Duration = Duration::from_secs(2);

/// How long past Helm's own timeout an operation is waited for: the Job's
/// deadline is a minute past it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// How an operation ended: its outcome, Helm's output, and Helm's record
/// of the release when it was read (`Some(None)`: there is none now).
pub(crate) struct Ended {
    pub outcome: Result<(), String>,
    pub log: String,
    pub release: Option<Option<HelmReleaseView>>,
}

pub(crate) struct Operation {
    pub record: AppRecord,
    /// The chart and values (none for an uninstall, or a Job followed
    /// again after a restart).
    pub prepared: Option<berth_catalog::Prepared>,
    pub live: Arc<Live>,
    pub actor: EventActor,
    pub origin: berth_core::audit::Origin,
}

/// The `helm` to run: `configured`, else the first on `path` (the value
/// of `PATH`); missing, a 503 that says how to get one.
fn find_helm(
    configured: Option<&std::path::Path>,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, Error> {
    let missing = |what: String| {
        Error::unavailable(format!(
            "{what}: with the embedded cluster, berthd runs Helm itself to install catalog items. \
             Install Helm 3.14 or later (https://helm.sh/docs/intro/install/) on this machine's PATH, \
             or set [apps] helm = \"/path/to/helm\""
        ))
    };
    if let Some(configured) = configured {
        return if configured.is_file() {
            Ok(configured.to_owned())
        } else {
            Err(missing(format!(
                "[apps] helm names {}, which is not a file",
                configured.display()
            )))
        };
    }
    path.iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file())
        .ok_or_else(|| missing("no helm on PATH".to_owned()))
}

/// Helm's own words for why it failed: its last `Error:` line.
fn helm_error(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .map(str::to_owned)
}

impl Apps {
    /// The local `helm`: the configured one, or the first on `PATH`.
    pub(crate) fn helm_binary(&self) -> Result<PathBuf, Error> {
        find_helm(self.config.helm.as_deref(), std::env::var_os("PATH"))
    }

    pub(crate) async fn run(self: Arc<Self>, op: Operation) {
        let (outcome, release) = match self.runner.clone() {
            Runner::Local(cluster) => {
                let outcome = self.run_local(&op, &cluster).await;
                // Helm's record as it is now, whatever the outcome (a
                // failed upgrade may have left a failed revision).
                let release = match op.record.operation.kind {
                    OperationKind::Uninstall if outcome.is_ok() => Some(None),
                    _ => self.local_status(&op.record, &cluster).await,
                };
                (outcome, release)
            }
            Runner::Job => self.run_job(&op).await,
        };
        match &outcome {
            Ok(()) => tracing::info!("the Helm operation succeeded"),
            Err(error) => tracing::warn!(%error, "the Helm operation failed"),
        }
        let ended = Ended {
            outcome,
            log: op.live.text(),
            release,
        };
        self.finish(op.record, ended, op.actor, op.origin).await;
    }

    /// An operation found running at start.
    pub(crate) async fn resume(self: Arc<Self>, op: Operation) {
        let (outcome, release) = match self.runner {
            Runner::Local(_) => (
                Err("berthd stopped while Helm ran; run the operation again".to_owned()),
                None,
            ),
            Runner::Job => self.follow_job(&op, &self.job(&op.record)).await,
        };
        let log = if op.live.text().is_empty() {
            op.record.log.clone()
        } else {
            op.live.text()
        };
        let ended = Ended {
            outcome,
            log,
            release,
        };
        self.finish(op.record, ended, op.actor, op.origin).await;
    }

    /// `helm status` of the release: Helm's record of it, none when there
    /// is no release; unknown (none) when it cannot be read.
    async fn local_status(
        &self,
        record: &AppRecord,
        cluster: &LocalCluster,
    ) -> Option<Option<HelmReleaseView>> {
        let helm = self.helm_binary().ok()?;
        let out = self
            .helm_command(
                &helm,
                cluster,
                &record.space,
                self.job(record).status_args(),
            )
            .stdin(Stdio::null())
            .output()
            .await
            .ok()?;
        if out.status.success() {
            return release_view(&String::from_utf8_lossy(&out.stdout)).map(Some);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        stderr.contains("release: not found").then_some(None)
    }

    fn job(&self, record: &AppRecord) -> HelmJob {
        HelmJob {
            namespace: record.space.clone(),
            release: record.name.clone(),
            operation: record.operation.number,
            name: record.operation.runner.clone(),
            command: match record.operation.kind {
                OperationKind::Uninstall => HelmCommand::Uninstall,
                _ => HelmCommand::Deploy,
            },
            image: self.config.helm_image.clone(),
            timeout_secs: self.config.timeout.as_secs(),
        }
    }

    fn values_text(op: &Operation) -> Result<String, String> {
        let values = op.prepared.as_ref().map(|p| &p.helm_values);
        serde_json::to_string_pretty(&values).map_err(|e| e.to_string())
    }

    /// `helm ARGS` against the local cluster, with Helm's own files under
    /// the data directory.
    fn helm_command(
        &self,
        helm: &std::path::Path,
        cluster: &LocalCluster,
        namespace: &str,
        args: Vec<String>,
    ) -> tokio::process::Command {
        let home = self.home.join("helm");
        let mut command = tokio::process::Command::new(helm);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        if let Some(context) = &cluster.context {
            command.arg("--kube-context").arg(context);
        }
        if cluster.as_installer {
            // As the space's installer, as a Job would run: a chart (or a
            // value such as namespaceOverride) cannot reach past the space.
            command.arg("--kube-as-user").arg(format!(
                "system:serviceaccount:{namespace}:{}",
                berth_kube::plan::INSTALLER
            ));
        }
        command
    }

    async fn run_local(&self, op: &Operation, cluster: &LocalCluster) -> Result<(), String> {
        let helm = self.helm_binary().map_err(|e| e.message)?;
        let record = &op.record;
        let dir = self
            .home
            .join("runs")
            .join(&record.space)
            .join(&record.name);
        let files = dir.to_string_lossy().into_owned();
        let job = self.job(record);
        let prepare = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            if let Some(prepared) = &op.prepared {
                std::fs::write(dir.join(berth_kube::helm::CHART_KEY), &prepared.archive)?;
                let values = Self::values_text(op).map_err(std::io::Error::other)?;
                // Values may hold passwords: readable by berthd alone.
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                std::io::Write::write_all(
                    &mut options.open(dir.join(berth_kube::helm::VALUES_KEY))?,
                    values.as_bytes(),
                )?;
            }
            Ok(())
        };
        prepare().map_err(|e| format!("cannot write the chart and values under {files}: {e}"))?;
        let mut child = self
            .helm_command(&helm, cluster, &record.space, job.args(&files))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", helm.display()))?;
        op.live
            .push(&format!("$ helm {}", job.args(&files).join(" ")));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let ran = tokio::time::timeout(self.config.timeout + GIVE_UP_AFTER, async {
            tokio::join!(
                pump(stdout, op.live.clone()),
                pump(stderr, op.live.clone()),
                child.wait()
            )
            .2
        })
        .await;
        // The values may hold secrets: not kept once Helm has read them.
        let _ = std::fs::remove_dir_all(&dir);
        let status = match ran {
            Ok(status) => status.map_err(|e| format!("helm did not finish: {e}"))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(format!(
                    "helm did not end within {}s of its own timeout; it was stopped",
                    GIVE_UP_AFTER.as_secs()
                ));
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(helm_error(&op.live.text()).unwrap_or_else(|| format!("helm exited with {status}")))
        }
    }

    async fn run_job(
        &self,
        op: &Operation,
    ) -> (Result<(), String>, Option<Option<HelmReleaseView>>) {
        match self.start_job(op).await {
            Ok(job) => self.follow_job(op, &job).await,
            Err(error) => (Err(error), None),
        }
    }

    /// Puts the chart and values in the release's Secret and creates the
    /// Job.
    async fn start_job(&self, op: &Operation) -> Result<HelmJob, String> {
        let job = self.job(&op.record);
        let failed = |what: &str, e: berth_kube::apply::ApplyError| {
            format!("cannot {what}: {}", berth_core::error::chain(&e))
        };
        if let Some(prepared) = &op.prepared {
            let values = Self::values_text(op)?;
            if prepared.archive.len() + values.len() > MAX_SECRET {
                return Err(format!(
                    "the chart's archive ({} KiB) and values do not fit the {} KiB a Secret holds",
                    prepared.archive.len() >> 10,
                    MAX_SECRET >> 10
                ));
            }
            self.cluster
                .put_release_secret(&job.namespace, &job.release, &values, &prepared.archive)
                .await
                .map_err(|e| failed("store the chart and values in a Secret", e))?;
        }
        self.cluster
            .create_job(&job)
            .await
            .map_err(|e| failed("create the Helm Job", e))?;
        op.live.push(&format!(
            "Job {} runs helm {}",
            job.name.clone(),
            job.args(berth_kube::helm::MOUNT).join(" ")
        ));
        Ok(job)
    }

    /// Waits for a Job to end, keeping Helm's log as the output; after a
    /// deploy, reads Helm's record of the release from the `status`
    /// container.
    async fn follow_job(
        &self,
        op: &Operation,
        job: &HelmJob,
    ) -> (Result<(), String>, Option<Option<HelmReleaseView>>) {
        let name = &job.name;
        // The Job's own deadline, and a little more: past it, something
        // other than Helm is wrong.
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(job.timeout_secs) + GIVE_UP_AFTER;
        let mut unreadable: Option<String>;
        let object = loop {
            match self.cluster.job(&job.namespace, name).await {
                Ok(Some(object)) if job_outcome(&object).is_some() => break object,
                Ok(Some(_)) => unreadable = None,
                Ok(None) => {
                    return (
                        Err(format!("Job {name} was deleted before it finished")),
                        None,
                    );
                }
                // The API may be away for a while (an upgrade of the
                // control plane): the Job goes on meanwhile, and so does
                // the operation.
                Err(e) => unreadable = Some(berth_core::error::chain(&e)),
            }
            if let Ok(Some(log)) = self
                .cluster
                .job_log(&job.namespace, name, HELM_CONTAINER)
                .await
            {
                op.live.set(&log);
            }
            if tokio::time::Instant::now() > deadline {
                return (
                    Err(match unreadable {
                        Some(e) => format!("cannot read Job {name}: {e}"),
                        None => format!("Job {name} did not end in time"),
                    }),
                    None,
                );
            }
            tokio::time::sleep(POLL).await;
        };
        if let Ok(Some(log)) = self
            .cluster
            .job_log(&job.namespace, name, HELM_CONTAINER)
            .await
        {
            op.live.set(&log);
        }
        match job_outcome(&object) {
            Some(Err(job_error)) => {
                let error = helm_error(&op.live.text())
                    .unwrap_or(format!("Job {name} failed: {job_error}"));
                (Err(error), None)
            }
            _ => match job.command {
                // The chart and values go with the release.
                HelmCommand::Uninstall => match self
                    .cluster
                    .delete_secret(&job.namespace, &job.secret_name())
                    .await
                {
                    Ok(()) => (Ok(()), Some(None)),
                    Err(e) => (
                        Err(format!(
                            "cannot delete the release's Secret: {}",
                            berth_core::error::chain(&e)
                        )),
                        Some(None),
                    ),
                },
                HelmCommand::Deploy => {
                    let release = self
                        .cluster
                        .job_log(&job.namespace, name, STATUS_CONTAINER)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|log| release_view(&log))
                        .map(Some);
                    (Ok(()), release)
                }
            },
        }
    }
}

/// Each line a process writes, into the operation's output (bytes that
/// are not UTF-8 shown as such, so the pipe is always drained).
async fn pump<R: tokio::io::AsyncRead + Unpin>(reader: Option<R>, live: Arc<Live>) {
    let Some(reader) = reader else {
        return;
    };
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                live.push(text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_helm_says_how_to_get_one() {
        let dir = tempfile::tempdir().expect("dir");
        let err = find_helm(None, Some(dir.path().as_os_str().to_owned())).expect_err("none");
        assert_eq!(err.code, berth_core::ErrorCode::Unavailable);
        assert!(
            err.message.starts_with("no helm on PATH: "),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("Install Helm 3.14 or later"),
            "{}",
            err.message
        );
        let named = dir.path().join("helm");
        let err = find_helm(Some(&named), None).expect_err("not a file");
        assert!(
            err.message.contains("which is not a file"),
            "{}",
            err.message
        );
        std::fs::write(&named, "").expect("helm");
        assert_eq!(
            find_helm(None, Some(dir.path().as_os_str().to_owned())).expect("on PATH"),
            named
        );
        assert_eq!(find_helm(Some(&named), None).expect("configured"), named);
    }

    #[test]
    fn helms_error_line_is_the_reason() {
        let log = "Release \"x\" does not exist. Installing it now.\nError: INSTALLATION FAILED: template: x/templates/a.yaml:3: bad\n";
        assert_eq!(
            helm_error(log).as_deref(),
            Some("INSTALLATION FAILED: template: x/templates/a.yaml:3: bad")
        );
        assert_eq!(helm_error("all good\n"), None);
    }
}

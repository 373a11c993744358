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

use crate::{AppRecord, Apps, Live, LocalCluster, Runner, release_view};

/// A Secret holds at most 1 MiB; the chart and values must fit with room.
const MAX_SECRET: usize = 900 << 10;

/// How often a Job is looked at while it runs.
const POLL: Duration = Duration::from_secs(2);

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
        let missing = |what: String| {
            Error::unavailable(format!(
                "{what}: with the embedded cluster, berthd runs Helm itself to install catalog items. \
                 Install Helm 3.14 or later (https://helm.sh/docs/intro/install/) on this machine's PATH, \
                 or set [apps] helm = \"/path/to/helm\""
            ))
        };
        if let Some(path) = &self.config.helm {
            return if path.is_file() {
                Ok(path.clone())
            } else {
                Err(missing(format!(
                    "[apps] helm names {}, which is not a file",
                    path.display()
                )))
            };
        }
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join("helm"))
            .find(|p| p.is_file())
            .ok_or_else(|| missing("no helm on PATH".to_owned()))
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
            .helm_command(&helm, cluster, self.job(record).status_args())
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
            .helm_command(&helm, cluster, job.args(&files))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", helm.display()))?;
        op.live
            .push(&format!("$ helm {}", job.args(&files).join(" ")));
        let stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
        let stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
        let (_, _, status) = tokio::join!(
            pump(stdout, op.live.clone()),
            pump(stderr, op.live.clone()),
            child.wait()
        );
        // The values may hold secrets: not kept once Helm has read them.
        let _ = std::fs::remove_dir_all(&dir);
        let status = status.map_err(|e| format!("helm did not finish: {e}"))?;
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
            Ok(job) => {
                let (outcome, release) = self.follow_job(op, &job).await;
                if outcome.is_ok()
                    && job.command == HelmCommand::Uninstall
                    && let Err(e) = self
                        .cluster
                        .delete_secret(&job.namespace, &job.secret_name())
                        .await
                {
                    return (
                        Err(format!(
                            "cannot delete the release's Secret: {}",
                            berth_core::error::chain(&e)
                        )),
                        release,
                    );
                }
                (outcome, release)
            }
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
            job.job_name(),
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
        let name = job.job_name();
        loop {
            let found = match self.cluster.job(&job.namespace, &name).await {
                Ok(found) => found,
                Err(e) => {
                    return (
                        Err(format!(
                            "cannot read Job {name}: {}",
                            berth_core::error::chain(&e)
                        )),
                        None,
                    );
                }
            };
            let Some(object) = found else {
                return (
                    Err(format!("Job {name} was deleted before it finished")),
                    None,
                );
            };
            if let Ok(Some(log)) = self
                .cluster
                .job_log(&job.namespace, &name, HELM_CONTAINER)
                .await
            {
                op.live.set(&log);
            }
            match job_outcome(&object) {
                None => tokio::time::sleep(POLL).await,
                Some(Err(job_error)) => {
                    let error = helm_error(&op.live.text())
                        .unwrap_or(format!("Job {name} failed: {job_error}"));
                    return (Err(error), None);
                }
                Some(Ok(())) => {
                    let release = match job.command {
                        HelmCommand::Uninstall => Some(None),
                        HelmCommand::Deploy => self
                            .cluster
                            .job_log(&job.namespace, &name, STATUS_CONTAINER)
                            .await
                            .ok()
                            .flatten()
                            .and_then(|log| release_view(&log))
                            .map(Some),
                    };
                    return (Ok(()), release);
                }
            }
        }
    }
}

/// Each line a process writes, into the operation's output.
async fn pump<R: tokio::io::AsyncRead + Unpin>(
    lines: Option<tokio::io::Lines<BufReader<R>>>,
    live: Arc<Live>,
) {
    if let Some(mut lines) = lines {
        while let Ok(Some(line)) = lines.next_line().await {
            live.push(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

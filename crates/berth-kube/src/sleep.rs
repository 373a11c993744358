//! Sleep and wake of a space's workloads, as convergence rather than a
//! sequence: each Deployment, StatefulSet and CronJob of the namespace is
//! brought toward the wanted state on its own, so one that fails holds up
//! no other, and running it again changes only what is not there yet.
//! What an object was before it slept is kept on the object itself (in
//! annotations), so waking restores whatever carries them, whatever anyone
//! remembers about the last sleep. [`step`] decides for one object (pure);
//! [`Cluster::converge_workloads`] lists each kind and patches.

use std::time::Duration;

use kube::api::{ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cluster::Cluster;

/// Workloads annotated with this set to `never` are left running when their
/// space sleeps.
pub const SLEEP_ANNOTATION: &str = "berth.dev/sleep";
/// The replica count a workload had before its space slept.
pub const REPLICAS_ANNOTATION: &str = "berth.dev/replicas-before-sleep";
/// Marks a CronJob that Berth suspended when its space slept.
pub const SUSPENDED_ANNOTATION: &str = "berth.dev/suspended-by-sleep";

/// How long one request of a sleep or wake may take. The client retries a
/// 504 or a 503 for minutes on its own; a kind that does not answer must
/// not hold up the pass, which reports it and retries with backoff.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The kinds that sleep: workloads scale to zero, CronJobs are suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    CronJob,
}

impl WorkloadKind {
    /// Every kind, in the order a pass goes through them.
    pub const ALL: [WorkloadKind; 3] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::CronJob,
    ];

    /// The Kubernetes kind: `Deployment`.
    pub fn kind(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::CronJob => "CronJob",
        }
    }

    /// How people name several: `Deployments`.
    pub fn many(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployments",
            WorkloadKind::StatefulSet => "StatefulSets",
            WorkloadKind::CronJob => "CronJobs",
        }
    }

    /// The resource, as a path and RBAC name it: `deployments`.
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::CronJob => "cronjobs",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            WorkloadKind::Deployment | WorkloadKind::StatefulSet => "apps/v1",
            WorkloadKind::CronJob => "batch/v1",
        }
    }

    /// Its API group, as RBAC rules name it: `apps`.
    pub fn group(self) -> &'static str {
        self.api_version().split_once('/').map_or("", |(g, _)| g)
    }

    /// Whether it sleeps by scaling to zero (a workload) rather than by
    /// being suspended (a CronJob).
    pub fn scales(self) -> bool {
        self != WorkloadKind::CronJob
    }
}

/// What one object needs for its space to be asleep (or awake).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Annotated `berth.dev/sleep: never`: sleep leaves it running.
    LeftRunning,
    /// Not Berth's to change: at zero or suspended before the space slept,
    /// or, waking, never put to sleep by Berth.
    NotBerths,
    /// Asleep by Berth's hand already, carrying what it was before.
    AsWanted,
    /// This merge patch brings it there.
    Patch(Value),
}

/// What `object` (of `kind`) needs for its space to be `asleep` or awake.
/// Sleeping records what it was in the same patch that puts it to sleep,
/// and waking removes the record in the patch that restores it, so an
/// object is never half changed.
pub fn step(kind: WorkloadKind, object: &Value, asleep: bool) -> Step {
    let annotations = &object["metadata"]["annotations"];
    let note = |key: &str| annotations.get(key).and_then(Value::as_str);
    if asleep && note(SLEEP_ANNOTATION) == Some("never") {
        return Step::LeftRunning;
    }
    if kind.scales() {
        let replicas = object["spec"]["replicas"].as_u64().unwrap_or(1);
        match (asleep, note(REPLICAS_ANNOTATION)) {
            (true, Some(_)) if replicas == 0 => Step::AsWanted,
            // Scaled up by hand while asleep: down again, the record kept.
            (true, Some(_)) => Step::Patch(json!({"spec": {"replicas": 0}})),
            (true, None) if replicas == 0 => Step::NotBerths,
            (true, None) => Step::Patch(json!({
                "metadata": {"annotations": {REPLICAS_ANNOTATION: replicas.to_string()}},
                "spec": {"replicas": 0},
            })),
            (false, None) => Step::NotBerths,
            // A count that does not parse was not written by Berth; one
            // replica is the safe way back.
            (false, Some(before)) => Step::Patch(json!({
                "metadata": {"annotations": {REPLICAS_ANNOTATION: null}},
                "spec": {"replicas": before.parse::<u64>().unwrap_or(1)},
            })),
        }
    } else {
        let suspended = object["spec"]["suspend"].as_bool() == Some(true);
        match (asleep, note(SUSPENDED_ANNOTATION).is_some()) {
            (true, true) if suspended => Step::AsWanted,
            (true, true) => Step::Patch(json!({"spec": {"suspend": true}})),
            (true, false) if suspended => Step::NotBerths,
            (true, false) => Step::Patch(json!({
                "metadata": {"annotations": {SUSPENDED_ANNOTATION: "true"}},
                "spec": {"suspend": true},
            })),
            (false, false) => Step::NotBerths,
            (false, true) => Step::Patch(json!({
                "metadata": {"annotations": {SUSPENDED_ANNOTATION: null}},
                "spec": {"suspend": false},
            })),
        }
    }
}

/// A request about a workload that failed for now, in words a member may
/// read (the object and the API's status code); the API's own message,
/// which can name things members may not see, is only in the source.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct WorkloadError {
    pub what: String,
    /// None when the API did not answer in time.
    #[source]
    pub source: Option<kube::Error>,
}

/// Why some objects of a kind are not as wanted.
#[derive(Debug)]
pub enum KindProblem {
    /// The cluster does not serve the kind (404 on its resource): there is
    /// nothing of it Berth can see or change.
    Unserved,
    /// Berth may not `verb` (list or patch) the kind here (403). Retrying
    /// does not help; an admin must grant it.
    Forbidden { verb: &'static str },
    /// A request failed (a 500, a conflict, a timeout, a refused write);
    /// worth retrying.
    Failed(WorkloadError),
}

/// What one pass did with the objects of one kind.
#[derive(Debug)]
pub struct KindReport {
    pub kind: WorkloadKind,
    /// `deployment/api` and the like, changed toward the wanted state.
    pub changed: Vec<String>,
    /// Objects asleep by Berth's hand already (always 0 when waking: a
    /// woken object carries no mark).
    pub as_wanted: usize,
    /// Workloads annotated `berth.dev/sleep: never`.
    pub left_running: Vec<String>,
    /// Objects still to change, their change having failed.
    pub pending: Vec<String>,
    /// Why the kind is not all as wanted; none when it is.
    pub problem: Option<KindProblem>,
}

impl KindReport {
    /// Nothing of `kind` found, nothing to do: what a namespace made just
    /// now holds.
    pub fn none(kind: WorkloadKind) -> KindReport {
        KindReport {
            kind,
            changed: Vec::new(),
            as_wanted: 0,
            left_running: Vec::new(),
            pending: Vec::new(),
            problem: None,
        }
    }

    /// Whether the kind could not even be listed: how many of its objects
    /// are pending is unknown.
    pub fn unlisted(&self) -> bool {
        self.problem.is_some() && self.pending.is_empty()
    }

    /// Keeps the problem that matters most: one worth retrying over one
    /// that is not.
    fn note(&mut self, problem: KindProblem) {
        let keep = matches!(self.problem, Some(KindProblem::Failed(_)))
            || (self.problem.is_some() && !matches!(problem, KindProblem::Failed(_)));
        if !keep {
            self.problem = Some(problem);
        }
    }
}

/// What `source`, from a request about `kind` (`object` named, or the
/// listing), means for the pass; none is a request that did not answer in
/// time.
fn classify(
    kind: WorkloadKind,
    object: Option<&str>,
    asleep: bool,
    source: Option<kube::Error>,
) -> KindProblem {
    if let Some(kube::Error::Api(status)) = &source {
        match status.code {
            404 if object.is_none() => return KindProblem::Unserved,
            // A quota also answers 403; that one may pass once usage drops.
            403 if !status.message.contains("exceeded quota") => {
                return KindProblem::Forbidden {
                    verb: if object.is_some() { "patch" } else { "list" },
                };
            }
            _ => {}
        }
    }
    let doing = match (object, kind.scales(), asleep) {
        (None, _, _) => format!("listing {}", kind.many()),
        (Some(name), true, true) => format!("scaling {} {name} to zero", kind.kind()),
        (Some(name), true, false) => format!("restoring {} {name}", kind.kind()),
        (Some(name), false, true) => format!("suspending {} {name}", kind.kind()),
        (Some(name), false, false) => format!("resuming {} {name}", kind.kind()),
    };
    let answer = match &source {
        Some(kube::Error::Api(status)) if status.reason.is_empty() => {
            format!("the Kubernetes API answered {}", status.code)
        }
        Some(kube::Error::Api(status)) => {
            format!(
                "the Kubernetes API answered {} {}",
                status.code, status.reason
            )
        }
        Some(_) => "the Kubernetes API could not be reached".to_owned(),
        None => format!(
            "the Kubernetes API did not answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ),
    };
    KindProblem::Failed(WorkloadError {
        what: format!("{doing} failed: {answer}"),
        source,
    })
}

impl Cluster {
    /// Brings every Deployment, StatefulSet and CronJob of `namespace`
    /// toward `asleep` (or awake), each on its own: a kind or an object
    /// that fails is reported and the rest go on. Sleeping scales workloads
    /// to zero and suspends CronJobs, recording what they were; waking
    /// restores every object that carries such a record. One report per
    /// kind, in [`WorkloadKind::ALL`] order. The kinds go side by side, so
    /// one that does not answer delays the others' report by at most
    /// [`REQUEST_TIMEOUT`].
    pub async fn converge_workloads(&self, namespace: &str, asleep: bool) -> Vec<KindReport> {
        futures::future::join_all(
            WorkloadKind::ALL.map(|kind| self.converge_kind(namespace, kind, asleep)),
        )
        .await
    }

    async fn converge_kind(&self, namespace: &str, kind: WorkloadKind, asleep: bool) -> KindReport {
        let api = self.workloads(namespace, kind.kind(), kind.api_version(), kind.plural());
        let mut report = KindReport::none(kind);
        let listed = tokio::time::timeout(REQUEST_TIMEOUT, api.list(&ListParams::default())).await;
        let objects = match listed {
            Ok(Ok(list)) => list.items,
            Ok(Err(source)) => {
                report.problem = Some(classify(kind, None, asleep, Some(source)));
                return report;
            }
            Err(_elapsed) => {
                report.problem = Some(classify(kind, None, asleep, None));
                return report;
            }
        };
        for object in objects {
            let name = object.metadata.name.clone().unwrap_or_default();
            let label = format!("{}/{name}", kind.kind().to_ascii_lowercase());
            let value = serde_json::to_value(&object).unwrap_or(Value::Null);
            match step(kind, &value, asleep) {
                Step::LeftRunning => report.left_running.push(label),
                Step::NotBerths => {}
                Step::AsWanted => report.as_wanted += 1,
                Step::Patch(patch) => {
                    let patched = tokio::time::timeout(
                        REQUEST_TIMEOUT,
                        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)),
                    )
                    .await;
                    match patched {
                        Ok(Ok(_)) => report.changed.push(label),
                        // Deleted since the list: nothing is left to change.
                        Ok(Err(kube::Error::Api(status))) if status.code == 404 => {}
                        Ok(Err(source)) => {
                            report.pending.push(label);
                            report.note(classify(kind, Some(&name), asleep, Some(source)));
                        }
                        // It may land all the same: the next pass sees.
                        Err(_elapsed) => {
                            report.pending.push(label);
                            report.note(classify(kind, Some(&name), asleep, None));
                        }
                    }
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(replicas: u64, annotations: Value) -> Value {
        json!({"metadata": {"name": "api", "annotations": annotations}, "spec": {"replicas": replicas}})
    }

    fn cronjob(suspend: bool, annotations: Value) -> Value {
        json!({"metadata": {"name": "nightly", "annotations": annotations}, "spec": {"suspend": suspend}})
    }

    #[test]
    fn each_object_is_brought_toward_the_wanted_state_on_its_own() {
        use WorkloadKind::{CronJob, Deployment, StatefulSet};
        let never = json!({SLEEP_ANNOTATION: "never"});
        let recorded = json!({REPLICAS_ANNOTATION: "3"});
        let marked = json!({SUSPENDED_ANNOTATION: "true"});
        let cases: Vec<(&str, WorkloadKind, Value, bool, Step)> = vec![
            (
                "running: scaled to zero, its count recorded in the same patch",
                Deployment,
                workload(3, json!({})),
                true,
                Step::Patch(json!({
                    "metadata": {"annotations": {REPLICAS_ANNOTATION: "3"}},
                    "spec": {"replicas": 0},
                })),
            ),
            (
                "asleep by Berth already: nothing to do",
                StatefulSet,
                workload(0, recorded.clone()),
                true,
                Step::AsWanted,
            ),
            (
                "scaled up by hand while asleep: down again, its record kept",
                Deployment,
                workload(2, recorded.clone()),
                true,
                Step::Patch(json!({"spec": {"replicas": 0}})),
            ),
            (
                "at zero before the space slept: not Berth's",
                Deployment,
                workload(0, json!({})),
                true,
                Step::NotBerths,
            ),
            (
                "sleep: never",
                Deployment,
                workload(2, never.clone()),
                true,
                Step::LeftRunning,
            ),
            (
                "waking: the recorded count back, the record gone in the same patch",
                Deployment,
                workload(0, recorded.clone()),
                false,
                Step::Patch(json!({
                    "metadata": {"annotations": {REPLICAS_ANNOTATION: null}},
                    "spec": {"replicas": 3},
                })),
            ),
            (
                "waking one annotated never after it slept: restored all the same",
                StatefulSet,
                workload(
                    0,
                    json!({SLEEP_ANNOTATION: "never", REPLICAS_ANNOTATION: "1"}),
                ),
                false,
                Step::Patch(json!({
                    "metadata": {"annotations": {REPLICAS_ANNOTATION: null}},
                    "spec": {"replicas": 1},
                })),
            ),
            (
                "waking a count Berth did not write: one replica",
                Deployment,
                workload(0, json!({REPLICAS_ANNOTATION: "lots"})),
                false,
                Step::Patch(json!({
                    "metadata": {"annotations": {REPLICAS_ANNOTATION: null}},
                    "spec": {"replicas": 1},
                })),
            ),
            (
                "waking one Berth never put to sleep: left alone",
                Deployment,
                workload(0, json!({})),
                false,
                Step::NotBerths,
            ),
            (
                "a running CronJob: suspended and marked",
                CronJob,
                cronjob(false, json!({})),
                true,
                Step::Patch(json!({
                    "metadata": {"annotations": {SUSPENDED_ANNOTATION: "true"}},
                    "spec": {"suspend": true},
                })),
            ),
            (
                "a CronJob suspended before: not Berth's, then or after",
                CronJob,
                cronjob(true, json!({})),
                true,
                Step::NotBerths,
            ),
            (
                "a marked CronJob resumed by hand while asleep: suspended again",
                CronJob,
                cronjob(false, marked.clone()),
                true,
                Step::Patch(json!({"spec": {"suspend": true}})),
            ),
            (
                "a marked CronJob, asleep",
                CronJob,
                cronjob(true, marked.clone()),
                true,
                Step::AsWanted,
            ),
            (
                "waking a marked CronJob: resumed, the mark gone",
                CronJob,
                cronjob(true, marked),
                false,
                Step::Patch(json!({
                    "metadata": {"annotations": {SUSPENDED_ANNOTATION: null}},
                    "spec": {"suspend": false},
                })),
            ),
            (
                "waking a CronJob suspended before: it stays so",
                CronJob,
                cronjob(true, json!({})),
                false,
                Step::NotBerths,
            ),
            (
                "a CronJob annotated never",
                CronJob,
                cronjob(false, never),
                true,
                Step::LeftRunning,
            ),
        ];
        for (case, kind, object, asleep, expected) in cases {
            assert_eq!(step(kind, &object, asleep), expected, "{case}");
        }
    }

    #[test]
    fn a_problem_worth_retrying_outranks_one_that_is_not() {
        let failed = || {
            KindProblem::Failed(WorkloadError {
                what: "x".to_owned(),
                source: None,
            })
        };
        let mut report = KindReport::none(WorkloadKind::Deployment);
        report.note(KindProblem::Forbidden { verb: "patch" });
        report.note(failed());
        assert!(matches!(report.problem, Some(KindProblem::Failed(_))));
        report.note(KindProblem::Forbidden { verb: "patch" });
        assert!(matches!(report.problem, Some(KindProblem::Failed(_))));
    }

    #[test]
    fn failures_are_told_in_words_without_the_apis_message() {
        let status = |code: u16, reason: &str| {
            Some(kube::Error::Api(
                kube::core::Status {
                    code,
                    reason: reason.to_owned(),
                    message: "secret detail".to_owned(),
                    ..kube::core::Status::default()
                }
                .boxed(),
            ))
        };
        let words = |problem: KindProblem| match problem {
            KindProblem::Failed(e) => e.to_string(),
            other => format!("{other:?}"),
        };
        use WorkloadKind::{CronJob, Deployment};
        for (kind, object, asleep, error, expected) in [
            (CronJob, None, true, status(404, "NotFound"), "Unserved"),
            (
                Deployment,
                Some("api"),
                false,
                status(403, "Forbidden"),
                "Forbidden { verb: \"patch\" }",
            ),
            (
                Deployment,
                None,
                true,
                status(403, "Forbidden"),
                "Forbidden { verb: \"list\" }",
            ),
            (
                Deployment,
                Some("api"),
                true,
                status(500, "InternalError"),
                "scaling Deployment api to zero failed: the Kubernetes API answered 500 InternalError",
            ),
            (
                CronJob,
                Some("nightly"),
                false,
                status(409, "Conflict"),
                "resuming CronJob nightly failed: the Kubernetes API answered 409 Conflict",
            ),
            (
                Deployment,
                Some("gone"),
                true,
                status(404, ""),
                "scaling Deployment gone to zero failed: the Kubernetes API answered 404",
            ),
            (
                CronJob,
                None,
                false,
                Some(kube::Error::LinesCodecMaxLineLengthExceeded),
                "listing CronJobs failed: the Kubernetes API could not be reached",
            ),
        ] {
            let told = words(classify(kind, object, asleep, error));
            assert!(!told.contains("secret"), "{told}");
            assert_eq!(told, expected);
        }
        let told = words(classify(WorkloadKind::StatefulSet, Some("db"), true, None));
        assert_eq!(
            told,
            "scaling StatefulSet db to zero failed: the Kubernetes API did not answer within 10 s"
        );
    }
}

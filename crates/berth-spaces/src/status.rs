//! A space's next status as a pure function of its record, its status and
//! what a reconcile pass observed: the reconciler does the IO, this decides
//! what members read (phase, conditions, observed generation, quota, how
//! far its workloads are on their way to sleep or back).

use berth_core::space::{Phase, QuotaUsage};
use berth_core::{Error, Timestamp};
use berth_kube::QuotaState;

use crate::records::{SpaceRecord, StatusRecord};
use crate::workloads::{WorkloadsSeen, phase_of};

/// The condition that says whether the cluster holds the space as it
/// should.
pub const READY: &str = "Ready";
/// The condition that says whether everything in the space that should
/// sleep does: true only then; while a sleep or a wake is not complete it
/// is false, and its reason and message say how far it got.
pub const ASLEEP: &str = "Asleep";

/// What one reconcile pass observed of a space, and did to it.
#[derive(Debug)]
pub(crate) enum Observed {
    /// The space is being deleted; its namespace is going.
    Deleting,
    /// A namespace of the space's name exists that Berth did not make, and
    /// the record does not adopt it.
    ForeignNamespace,
    /// The namespace is being deleted by someone other than Berth.
    NamespaceTerminating,
    /// The pass brought the workloads toward the record's target, as far
    /// as `seen` says; `attempt` is the pass's, should something fail.
    Workloads { seen: WorkloadsSeen, attempt: u32 },
    /// The cluster holds the space's objects as its record asks: `objects`
    /// objects, `applied` of which this pass wrote.
    Converged {
        objects: usize,
        applied: usize,
        quota: QuotaState,
    },
    /// The pass failed, `attempt` times in a row now. Only the error's
    /// external message is shown; its internal detail is for the log.
    Failed { attempt: u32, error: Error },
}

/// The status a space has after a pass observed `observed` at `now`
/// (conditions keep the time their status last changed).
pub(crate) fn next_status(
    record: &SpaceRecord,
    status: &StatusRecord,
    observed: &Observed,
    now: Timestamp,
) -> StatusRecord {
    let mut next = status.clone();
    match observed {
        Observed::Deleting => {
            next.phase = Phase::Terminating;
            next.set_condition(
                READY,
                false,
                "Terminating",
                "the namespace is being deleted; the space goes once it is gone",
                now,
            );
        }
        Observed::ForeignNamespace => {
            next.phase = Phase::Failed;
            next.set_condition(
                READY,
                false,
                "ForeignNamespace",
                berth_kube::ForeignNamespace(record.name.clone()).to_string(),
                now,
            );
        }
        Observed::NamespaceTerminating => next.set_condition(
            READY,
            false,
            "NamespaceTerminating",
            "the namespace is being deleted outside Berth; it is made again once it is gone",
            now,
        ),
        Observed::Workloads { seen, attempt } => {
            next.workloads = seen.record();
            if matches!(next.phase, Phase::Active | Phase::Sleeping | Phase::Waking) {
                next.phase = phase_of(&next.workloads);
            }
            let (asleep, reason, message) = seen.condition(record, *attempt);
            next.set_condition(ASLEEP, asleep, reason, message, now);
        }
        Observed::Converged {
            objects,
            applied,
            quota,
        } => {
            next.phase = phase_of(&next.workloads);
            next.observed_generation = record.generation;
            let was_ready = status
                .conditions
                .iter()
                .any(|c| c.kind == READY && c.status);
            // Keep the message of a converged space stable, so a resync that
            // finds nothing to do writes nothing.
            if !was_ready || *applied > 0 {
                let message = if *applied == 0 {
                    format!("{objects} objects match the space's spec")
                } else {
                    format!(
                        "{objects} objects match the space's spec ({applied} applied at {})",
                        now.clock_time()
                    )
                };
                next.set_condition(READY, true, "Converged", message, now);
            }
            next.quota = QuotaUsage {
                profile: record.quota_profile.clone(),
                hard: quota.hard.clone(),
                used: quota.used.clone(),
            };
        }
        Observed::Failed { attempt, error } => next.set_condition(
            READY,
            false,
            "KubernetesApiError",
            format!(
                "attempt {attempt} failed, retrying with backoff: {}",
                error.message
            ),
            now,
        ),
    }
    next
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_core::space::{Condition, SpaceRole, Wakefulness};
    use berth_kube::WorkloadKind::{self, CronJob, Deployment, StatefulSet};

    use super::*;
    use crate::records::{Target, WorkloadsRecord};
    use crate::workloads::{KindSeen, KindState, phase_shown};

    const T0: Timestamp = Timestamp(1_700_000_000);
    const NOW: Timestamp = Timestamp(1_700_000_600);
    /// The round of the sleep or wake the test records ask for.
    const ROUND: u64 = 4;

    fn record(asleep: bool) -> SpaceRecord {
        SpaceRecord {
            name: "alice".to_owned(),
            members: [("u1".to_owned(), SpaceRole::Owner)].into(),
            persistent: false,
            personal: false,
            labels: BTreeMap::new(),
            quota_profile: "small".to_owned(),
            adopt: false,
            generation: 3,
            created_at: T0,
            last_activity: T0,
            last_activity_reason: "created by alice".to_owned(),
            wakefulness: Wakefulness {
                asleep,
                reason: if asleep {
                    "idle since 07:02"
                } else {
                    "woken by bob"
                }
                .to_owned(),
                by: "bob".to_owned(),
                since: T0,
            },
            wake_round: ROUND,
            deleting: None,
        }
    }

    /// Where the workloads were: toward asleep or awake in `round`.
    fn workloads(asleep: bool, round: u64, settled: bool, retrying: bool) -> WorkloadsRecord {
        WorkloadsRecord {
            target: Some(Target { asleep, round }),
            settled,
            retrying,
            done: BTreeMap::new(),
        }
    }

    /// A status that was `phase`, with a Ready condition when given.
    fn status(phase: Phase, ready: Option<(bool, &str, &str)>) -> StatusRecord {
        let mut status = StatusRecord::pending("small");
        status.phase = phase;
        status.observed_generation = 2;
        if let Some((ok, reason, message)) = ready {
            status.conditions.push(Condition {
                kind: READY.to_owned(),
                status: ok,
                reason: reason.to_owned(),
                message: message.to_owned(),
                last_transition: T0,
            });
        }
        status
    }

    /// `status` with its workloads where `w` says and an Asleep condition.
    fn with(
        mut status: StatusRecord,
        w: WorkloadsRecord,
        asleep: (bool, &str, &str),
    ) -> StatusRecord {
        status.workloads = w;
        status.conditions.push(Condition {
            kind: ASLEEP.to_owned(),
            status: asleep.0,
            reason: asleep.1.to_owned(),
            message: asleep.2.to_owned(),
            last_transition: T0,
        });
        status
    }

    fn converged(applied: usize) -> Observed {
        Observed::Converged {
            objects: 7,
            applied,
            quota: QuotaState {
                hard: [("pods".to_owned(), "50".to_owned())].into(),
                used: [("pods".to_owned(), "3".to_owned())].into(),
            },
        }
    }

    /// An error as the reconciler hands it over: `what` for members, the
    /// API's own answer only in the internal detail.
    fn error(what: &str) -> Error {
        Error {
            internal: Some(format!(
                "{what}: ApiError: injected fault: PATCH https://10.0.0.1/apis/apps/v1/namespaces/alice/x answered 500"
            )),
            ..Error::unavailable(what)
        }
    }

    fn failed(attempt: u32) -> Observed {
        Observed::Failed {
            attempt,
            error: error("server-side apply of ResourceQuota berth-quota failed"),
        }
    }

    fn failing(what: &str) -> KindState {
        KindState::Failing(error(what))
    }

    /// A pass over the workloads toward the test record's target: each
    /// kind with how many are done, how many pending (none: not listed).
    fn pass(
        asleep: bool,
        attempt: u32,
        kinds: Vec<(WorkloadKind, usize, Option<usize>, KindState)>,
    ) -> Observed {
        Observed::Workloads {
            seen: WorkloadsSeen {
                target: Target {
                    asleep,
                    round: ROUND,
                },
                kinds: kinds
                    .into_iter()
                    .map(|(kind, done, pending, state)| KindSeen {
                        kind,
                        done,
                        pending,
                        state,
                    })
                    .collect(),
            },
            attempt,
        }
    }

    /// The status as lines of text: what a table row expects.
    fn render(status: &StatusRecord) -> String {
        let when = |t: Timestamp| match t {
            T0 => "t0",
            NOW => "now",
            _ => "?",
        };
        let w = &status.workloads;
        let workloads = match w.target {
            None => "-".to_owned(),
            Some(t) => format!(
                "{}#{}{}{} done={:?}",
                if t.asleep { "asleep" } else { "awake" },
                t.round,
                if w.settled { " settled" } else { "" },
                if w.retrying { " retrying" } else { "" },
                w.done
            ),
        };
        let mut out = format!(
            "{:?} gen={} workloads={workloads} quota={}:{:?}/{:?}",
            status.phase,
            status.observed_generation,
            status.quota.profile,
            status.quota.hard,
            status.quota.used,
        );
        for c in &status.conditions {
            out.push_str(&format!(
                "\n{}={} {} since {}: {}",
                c.kind,
                c.status,
                c.reason,
                when(c.last_transition),
                c.message
            ));
        }
        out
    }

    #[test]
    fn the_next_status_follows_from_the_record_the_status_and_the_observation() {
        let ready = Some((true, "Converged", "7 objects match the space's spec"));
        let failing_ready = Some((false, "KubernetesApiError", "attempt 1 failed"));
        let going = (
            false,
            "GoingToSleep",
            "going to sleep: StatefulSets pending",
        );
        let cases: Vec<(&str, SpaceRecord, StatusRecord, Observed, &str)> = vec![
            (
                "made: converged for the first time",
                record(false),
                StatusRecord::pending("small"),
                converged(7),
                "Active gen=3 workloads=- quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since now: 7 objects match the space's spec (7 applied at 22:23)",
            ),
            (
                "converged, nothing to apply: the Ready message stays as it was",
                record(false),
                status(Phase::Active, Some((true, "Converged", "7 objects match the space's spec (2 applied at 09:00)"))),
                converged(0),
                "Active gen=3 workloads=- quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since t0: 7 objects match the space's spec (2 applied at 09:00)",
            ),
            (
                "drift repaired: what was applied, and when",
                record(false),
                status(Phase::Active, ready),
                converged(2),
                "Active gen=3 workloads=- quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since t0: 7 objects match the space's spec (2 applied at 22:23)",
            ),
            (
                "recovered after failures: ready again, nothing applied",
                record(false),
                status(Phase::Active, failing_ready),
                converged(0),
                "Active gen=3 workloads=- quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since now: 7 objects match the space's spec",
            ),
            (
                "failing: the attempt and the external message, never the internal detail",
                record(false),
                status(Phase::Active, ready),
                failed(3),
                "Active gen=2 workloads=- quota=small:{}/{}
Ready=false KubernetesApiError since now: attempt 3 failed, retrying with backoff: server-side apply of ResourceQuota berth-quota failed",
            ),
            (
                "failing again: the transition time stays",
                record(false),
                status(Phase::Pending, failing_ready),
                failed(4),
                "Pending gen=2 workloads=- quota=small:{}/{}
Ready=false KubernetesApiError since t0: attempt 4 failed, retrying with backoff: server-side apply of ResourceQuota berth-quota failed",
            ),
            (
                "the first look at a new space's workloads: the phase waits for its objects",
                record(false),
                StatusRecord::pending("small"),
                pass(false, 1, vec![(Deployment, 0, Some(0), KindState::Done), (StatefulSet, 0, Some(0), KindState::Done), (CronJob, 0, Some(0), KindState::Done)]),
                "Pending gen=0 workloads=awake#4 settled done={Deployment: 0, StatefulSet: 0, CronJob: 0} quota=small:{}/{}
Asleep=false Running since now: woken by bob",
            ),
            (
                "asleep: everything that should sleep does, with the record's reason",
                record(true),
                status(Phase::Active, ready),
                pass(true, 1, vec![(Deployment, 2, Some(0), KindState::Done), (StatefulSet, 1, Some(0), KindState::Done), (CronJob, 1, Some(0), KindState::Done)]),
                "Sleeping gen=2 workloads=asleep#4 settled done={Deployment: 2, StatefulSet: 1, CronJob: 1} quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=true ScaledToZero since now: idle since 07:02",
            ),
            (
                "going to sleep, half done: not asleep; what is down, what is pending and why",
                record(true),
                status(Phase::Active, ready),
                pass(true, 2, vec![
                    (Deployment, 1, Some(0), KindState::Done),
                    (StatefulSet, 0, Some(1), failing("scaling StatefulSet db to zero failed: the Kubernetes API answered 500 InternalError")),
                    (CronJob, 0, None, failing("listing CronJobs failed: the Kubernetes API answered 504 Timeout")),
                ]),
                "Sleeping gen=2 workloads=asleep#4 retrying done={Deployment: 1, StatefulSet: 0, CronJob: 0} quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=false GoingToSleep since now: going to sleep: 1 of 2 workloads scaled to zero, StatefulSets and CronJobs pending; attempt 2 failed, retrying with backoff: scaling StatefulSet db to zero failed: the Kubernetes API answered 500 InternalError",
            ),
            (
                "a sleep the cluster cannot hold CronJobs for: asleep, and it says what was skipped",
                record(true),
                status(Phase::Active, ready),
                pass(true, 1, vec![(Deployment, 1, Some(0), KindState::Done), (StatefulSet, 0, Some(0), KindState::Done), (CronJob, 0, Some(0), KindState::Unserved)]),
                "Sleeping gen=2 workloads=asleep#4 settled done={Deployment: 1, StatefulSet: 0, CronJob: 0} quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=true ScaledToZero since now: idle since 07:02; CronJobs skipped: this cluster does not serve batch/v1 CronJob (Kubernetes 1.21 and later do), so they keep running while the space sleeps",
            ),
            (
                "waking, half done: not asleep, not awake either; the phase says waking",
                record(false),
                with(status(Phase::Sleeping, ready), workloads(true, ROUND - 1, true, false), (true, "ScaledToZero", "idle since 07:02")),
                pass(false, 3, vec![
                    (Deployment, 1, Some(1), failing("restoring Deployment api failed: the Kubernetes API answered 409 Conflict")),
                    (StatefulSet, 0, Some(0), KindState::Done),
                    (CronJob, 0, None, failing("listing CronJobs failed: the Kubernetes API answered 500 InternalError")),
                ]),
                "Waking gen=2 workloads=awake#4 retrying done={Deployment: 1, StatefulSet: 0, CronJob: 0} quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=false Waking since now: waking: 1 of 2 workloads restored, Deployments and CronJobs pending; attempt 3 failed, retrying with backoff: restoring Deployment api failed: the Kubernetes API answered 409 Conflict",
            ),
            (
                "woken while the sleep was half done: awake once everything is back",
                record(false),
                with(status(Phase::Sleeping, ready), workloads(true, ROUND - 1, false, true), going),
                pass(false, 1, vec![(Deployment, 2, Some(0), KindState::Done), (StatefulSet, 0, Some(0), KindState::Done), (CronJob, 1, Some(0), KindState::Done)]),
                "Active gen=2 workloads=awake#4 settled done={Deployment: 2, StatefulSet: 0, CronJob: 1} quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=false Running since t0: woken by bob",
            ),
            (
                "a kind Berth may not touch: skipped, with what to do, and not retried",
                record(false),
                with(status(Phase::Sleeping, ready), workloads(true, ROUND - 1, true, false), (true, "ScaledToZero", "idle since 07:02")),
                pass(false, 1, vec![(Deployment, 2, Some(0), KindState::Done), (StatefulSet, 0, Some(0), KindState::Done), (CronJob, 0, None, KindState::Forbidden { verb: "list" })]),
                "Waking gen=2 workloads=awake#4 done={Deployment: 2, StatefulSet: 0, CronJob: 0} quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=false Waking since now: waking: 2 of 2 workloads restored; CronJobs skipped: Berth may not list CronJobs in this namespace; once an admin grants berthd get, list and patch on cronjobs.batch, `berth space wake alice` tries again",
            ),
            (
                "objects converged while a wake is pending: still waking",
                record(false),
                with(status(Phase::Waking, ready), workloads(false, ROUND, false, true), (false, "Waking", "waking: CronJobs pending")),
                converged(0),
                "Waking gen=3 workloads=awake#4 retrying done={} quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=false Waking since t0: waking: CronJobs pending",
            ),
            (
                "deleting: terminating until the namespace is gone",
                record(false),
                status(Phase::Active, ready),
                Observed::Deleting,
                "Terminating gen=2 workloads=- quota=small:{}/{}
Ready=false Terminating since now: the namespace is being deleted; the space goes once it is gone",
            ),
            (
                "a namespace Berth did not make: failed, never taken over",
                record(false),
                StatusRecord::pending("small"),
                Observed::ForeignNamespace,
                "Failed gen=0 workloads=- quota=small:{}/{}
Ready=false ForeignNamespace since now: namespace alice exists and was not made by Berth; an admin must adopt it explicitly",
            ),
            (
                "the namespace deleted by hand: the phase stays, the condition says why",
                record(false),
                status(Phase::Active, ready),
                Observed::NamespaceTerminating,
                "Active gen=2 workloads=- quota=small:{}/{}
Ready=false NamespaceTerminating since now: the namespace is being deleted outside Berth; it is made again once it is gone",
            ),
        ];
        for (case, record, before, observed, expected) in cases {
            let next = next_status(&record, &before, &observed, NOW);
            let shown = render(&next);
            assert_eq!(shown, expected, "{case}");
            assert!(!shown.contains("injected"), "{case}: {shown}");
        }
    }

    #[test]
    fn a_sleep_or_wake_asked_for_shows_at_once_before_its_pass() {
        let w = |asleep, round| workloads(asleep, round, true, false);
        for (case, record, phase, w, shown) in [
            (
                "put to sleep",
                record(true),
                Phase::Active,
                Some(w(false, ROUND - 1)),
                Phase::Sleeping,
            ),
            (
                "woken",
                record(false),
                Phase::Sleeping,
                Some(w(true, ROUND - 1)),
                Phase::Waking,
            ),
            (
                "woken while going to sleep",
                record(false),
                Phase::Sleeping,
                Some(w(true, ROUND - 1)),
                Phase::Waking,
            ),
            (
                "looked at already",
                record(false),
                Phase::Active,
                Some(w(false, ROUND)),
                Phase::Active,
            ),
            (
                "never looked at",
                record(true),
                Phase::Pending,
                None,
                Phase::Pending,
            ),
            (
                "failed stays failed",
                record(true),
                Phase::Failed,
                Some(w(false, 1)),
                Phase::Failed,
            ),
        ] {
            let mut status = status(phase, None);
            status.workloads = w.unwrap_or_default();
            assert_eq!(phase_shown(&record, &status), shown, "{case}");
        }
    }

    #[test]
    fn a_converged_space_that_is_checked_again_is_unchanged() {
        let record = record(false);
        let once = next_status(&record, &StatusRecord::pending("small"), &converged(7), T0);
        let twice = next_status(&record, &once, &converged(0), NOW);
        assert_eq!(once, twice);
    }
}

//! A space's next status as a pure function of its record, its status and
//! what a reconcile pass observed: the reconciler does the IO, this decides
//! what members read (phase, conditions, observed generation, quota).

use berth_core::space::{Phase, QuotaUsage};
use berth_core::{Error, Timestamp};
use berth_kube::QuotaState;

use crate::records::{SpaceRecord, StatusRecord};

/// The condition that says whether the cluster holds the space as it
/// should.
pub const READY: &str = "Ready";
/// The condition that says whether the space's workloads are scaled down.
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
    /// The workloads were asleep and are being woken.
    Waking,
    /// The cluster holds the space as its record asks: `objects` objects,
    /// `applied` of which this pass wrote, the workloads asleep or not.
    Converged {
        objects: usize,
        applied: usize,
        workloads_asleep: bool,
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
        Observed::Waking => next.phase = Phase::Waking,
        Observed::Converged {
            objects,
            applied,
            workloads_asleep,
            quota,
        } => {
            next.workloads_asleep = *workloads_asleep;
            next.phase = if *workloads_asleep {
                Phase::Sleeping
            } else {
                Phase::Active
            };
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
            next.set_condition(
                ASLEEP,
                *workloads_asleep,
                if *workloads_asleep {
                    "ScaledToZero"
                } else {
                    "Running"
                },
                record.wakefulness.reason.clone(),
                now,
            );
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

    use super::*;

    const T0: Timestamp = Timestamp(1_700_000_000);
    const NOW: Timestamp = Timestamp(1_700_000_600);

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
            deleting: None,
        }
    }

    /// A status that was `phase`, with a Ready condition when given.
    fn status(phase: Phase, ready: Option<(bool, &str, &str)>, asleep: bool) -> StatusRecord {
        let mut status = StatusRecord::pending("small");
        status.phase = phase;
        status.observed_generation = 2;
        status.workloads_asleep = asleep;
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

    fn converged(applied: usize, workloads_asleep: bool) -> Observed {
        Observed::Converged {
            objects: 7,
            applied,
            workloads_asleep,
            quota: QuotaState {
                hard: [("pods".to_owned(), "50".to_owned())].into(),
                used: [("pods".to_owned(), "3".to_owned())].into(),
            },
        }
    }

    fn failed(attempt: u32) -> Observed {
        Observed::Failed {
            attempt,
            error: Error {
                internal: Some(
                    "server-side apply of ResourceQuota berth-quota failed: ApiError: \
                     PATCH https://10.0.0.1/api/v1/namespaces/alice/resourcequotas answered 500"
                        .to_owned(),
                ),
                ..Error::unavailable("server-side apply of ResourceQuota berth-quota failed")
            },
        }
    }

    /// The status as lines of text: what a table row expects.
    fn render(status: &StatusRecord) -> String {
        let when = |t: Timestamp| match t {
            T0 => "t0",
            NOW => "now",
            _ => "?",
        };
        let mut out = format!(
            "{:?} gen={} workloads_asleep={} quota={}:{:?}/{:?}",
            status.phase,
            status.observed_generation,
            status.workloads_asleep,
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
        let failing = Some((false, "KubernetesApiError", "attempt 1 failed"));
        let cases: Vec<(&str, SpaceRecord, StatusRecord, Observed, &str)> = vec![
            (
                "made: converged for the first time",
                record(false),
                StatusRecord::pending("small"),
                converged(7, false),
                "Active gen=3 workloads_asleep=false quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since now: 7 objects match the space's spec (7 applied at 22:23)
Asleep=false Running since now: woken by bob",
            ),
            (
                "converged, nothing to apply: the Ready message stays as it was",
                record(false),
                status(Phase::Active, Some((true, "Converged", "7 objects match the space's spec (2 applied at 09:00)")), false),
                converged(0, false),
                "Active gen=3 workloads_asleep=false quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since t0: 7 objects match the space's spec (2 applied at 09:00)
Asleep=false Running since now: woken by bob",
            ),
            (
                "drift repaired: what was applied, and when",
                record(false),
                status(Phase::Active, ready, false),
                converged(2, false),
                "Active gen=3 workloads_asleep=false quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since t0: 7 objects match the space's spec (2 applied at 22:23)
Asleep=false Running since now: woken by bob",
            ),
            (
                "recovered after failures: ready again, nothing applied",
                record(false),
                status(Phase::Active, failing, false),
                converged(0, false),
                "Active gen=3 workloads_asleep=false quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since now: 7 objects match the space's spec
Asleep=false Running since now: woken by bob",
            ),
            (
                "failing: the attempt and the external message, never the internal detail",
                record(false),
                status(Phase::Active, ready, false),
                failed(3),
                "Active gen=2 workloads_asleep=false quota=small:{}/{}
Ready=false KubernetesApiError since now: attempt 3 failed, retrying with backoff: server-side apply of ResourceQuota berth-quota failed",
            ),
            (
                "failing again: the transition time stays",
                record(false),
                status(Phase::Pending, failing, false),
                failed(4),
                "Pending gen=2 workloads_asleep=false quota=small:{}/{}
Ready=false KubernetesApiError since t0: attempt 4 failed, retrying with backoff: server-side apply of ResourceQuota berth-quota failed",
            ),
            (
                "asleep: scaled to zero, with the record's reason",
                record(true),
                status(Phase::Active, ready, false),
                converged(0, true),
                "Sleeping gen=3 workloads_asleep=true quota=small:{\"pods\": \"50\"}/{\"pods\": \"3\"}
Ready=true Converged since t0: 7 objects match the space's spec
Asleep=true ScaledToZero since now: idle since 07:02",
            ),
            (
                "waking: only the phase, before the workloads come back",
                record(false),
                status(Phase::Sleeping, ready, true),
                Observed::Waking,
                "Waking gen=2 workloads_asleep=true quota=small:{}/{}
Ready=true Converged since t0: 7 objects match the space's spec",
            ),
            (
                "deleting: terminating until the namespace is gone",
                record(false),
                status(Phase::Active, ready, false),
                Observed::Deleting,
                "Terminating gen=2 workloads_asleep=false quota=small:{}/{}
Ready=false Terminating since now: the namespace is being deleted; the space goes once it is gone",
            ),
            (
                "a namespace Berth did not make: failed, never taken over",
                record(false),
                StatusRecord::pending("small"),
                Observed::ForeignNamespace,
                "Failed gen=0 workloads_asleep=false quota=small:{}/{}
Ready=false ForeignNamespace since now: namespace alice exists and was not made by Berth; an admin must adopt it explicitly",
            ),
            (
                "the namespace deleted by hand: the phase stays, the condition says why",
                record(false),
                status(Phase::Active, ready, false),
                Observed::NamespaceTerminating,
                "Active gen=2 workloads_asleep=false quota=small:{}/{}
Ready=false NamespaceTerminating since now: the namespace is being deleted outside Berth; it is made again once it is gone",
            ),
        ];
        for (case, record, before, observed, expected) in cases {
            let next = next_status(&record, &before, &observed, NOW);
            assert_eq!(render(&next), expected, "{case}");
        }
    }

    #[test]
    fn a_converged_space_that_is_checked_again_is_unchanged() {
        let record = record(false);
        let once = next_status(
            &record,
            &StatusRecord::pending("small"),
            &converged(7, false),
            T0,
        );
        let twice = next_status(&record, &once, &converged(0, false), NOW);
        assert_eq!(once, twice);
    }
}

//! A space's workloads on their way to sleep or back, as the status tells
//! it: what a pass saw of each kind, whether the target is reached, and the
//! words members read (the `Asleep` condition, what `berth up` reports).
//! Pure: the reconciler does the IO.

use berth_core::Error;
use berth_core::space::Phase;
use berth_kube::{KindProblem, KindReport, WorkloadKind};

use crate::records::{SpaceRecord, StatusRecord, Target, WorkloadsRecord};

/// The `Asleep` condition's reason once everything that should sleep does.
pub const SCALED_TO_ZERO: &str = "ScaledToZero";
/// The `Asleep` condition's reason once everything is awake again.
pub const RUNNING: &str = "Running";
/// The `Asleep` condition's reason while a sleep is not complete.
pub const GOING_TO_SLEEP: &str = "GoingToSleep";
/// The `Asleep` condition's reason while a wake is not complete.
pub const WAKING: &str = "Waking";

/// Where one kind's objects are after a pass.
#[derive(Debug)]
pub(crate) enum KindState {
    /// Every object is as the target asks.
    Done,
    /// The cluster does not serve the kind: nothing of it can sleep.
    Unserved,
    /// Berth may not `verb` the kind here: skipped until the next sleep or
    /// wake.
    Forbidden { verb: &'static str },
    /// A change failed; retried with backoff. Only the external message
    /// is shown, the internal detail goes to the log.
    Failing(Error),
}

/// What a pass saw of one kind.
#[derive(Debug)]
pub(crate) struct KindSeen {
    pub kind: WorkloadKind,
    /// Objects brought to the target so far.
    pub done: usize,
    /// Objects still to change; none when the kind could not be listed.
    pub pending: Option<usize>,
    pub state: KindState,
}

/// What a pass saw of the workloads, working toward `target`.
#[derive(Debug)]
pub(crate) struct WorkloadsSeen {
    pub target: Target,
    pub kinds: Vec<KindSeen>,
}

/// Whether a pass should look at the workloads: the target moved since
/// the last one did, or a change failed and waits for its retry. A space
/// whose workloads are where the record asks costs no API request.
pub(crate) fn due(record: &SpaceRecord, workloads: &WorkloadsRecord) -> bool {
    workloads.target != Some(Target::of(record)) || workloads.retrying
}

/// The phase the workloads give a made space: `Sleeping` once put to
/// sleep (the `Asleep` condition says whether everything is down yet),
/// `Waking` until everything is back, else `Active`.
pub(crate) fn phase_of(workloads: &WorkloadsRecord) -> Phase {
    match workloads.target {
        Some(t) if t.asleep => Phase::Sleeping,
        Some(_) if !workloads.settled => Phase::Waking,
        _ => Phase::Active,
    }
}

impl WorkloadsSeen {
    /// What one pass's reports come to, toward `target`; `before` is the
    /// last record, since waking counts up across passes (a restored
    /// object carries no mark to count it by later).
    pub(crate) fn of(
        target: Target,
        before: &WorkloadsRecord,
        reports: Vec<KindReport>,
    ) -> WorkloadsSeen {
        let carried = |kind: WorkloadKind| match before.target {
            Some(t) if t == target && !target.asleep => {
                before.done.get(&kind).copied().unwrap_or(0)
            }
            _ => 0,
        };
        let kinds = reports
            .into_iter()
            .map(|report| {
                let unlisted = report.unlisted();
                let done = carried(report.kind) + report.changed.len() + report.as_wanted;
                let pending = report.pending.len();
                let state = match report.problem {
                    None => KindState::Done,
                    Some(KindProblem::Unserved) => KindState::Unserved,
                    Some(KindProblem::Forbidden { verb }) => KindState::Forbidden { verb },
                    Some(KindProblem::Failed(e)) => KindState::Failing(Error {
                        internal: Some(berth_core::error::chain(&e)),
                        ..Error::unavailable(e.what.clone())
                    }),
                };
                let pending = match state {
                    KindState::Unserved => Some(0),
                    _ if unlisted => None,
                    _ => Some(pending),
                };
                KindSeen {
                    kind: report.kind,
                    done,
                    pending,
                    state,
                }
            })
            .collect();
        WorkloadsSeen { target, kinds }
    }

    /// Everything that should be as the target asks is (kinds the cluster
    /// does not serve have nothing that could be otherwise).
    pub(crate) fn settled(&self) -> bool {
        self.kinds
            .iter()
            .all(|k| matches!(k.state, KindState::Done | KindState::Unserved))
    }

    /// A change failed and is worth retrying.
    pub(crate) fn retrying(&self) -> bool {
        self.failures().next().is_some()
    }

    /// What failed, by kind, for the log (its internal detail) and the
    /// status (its message).
    pub(crate) fn failures(&self) -> impl Iterator<Item = (WorkloadKind, &Error)> {
        self.kinds.iter().filter_map(|k| match &k.state {
            KindState::Failing(e) => Some((k.kind, e)),
            _ => None,
        })
    }

    /// What the status keeps of this pass.
    pub(crate) fn record(&self) -> WorkloadsRecord {
        WorkloadsRecord {
            target: Some(self.target),
            settled: self.settled(),
            retrying: self.retrying(),
            done: self.kinds.iter().map(|k| (k.kind, k.done)).collect(),
        }
    }

    /// The `Asleep` condition: true only once everything that should sleep
    /// does; its reason and message say how far sleep or wake got, what is
    /// pending or skipped and why (`attempt` is this pass's, for a
    /// failure), in words for members.
    pub(crate) fn condition(
        &self,
        record: &SpaceRecord,
        attempt: u32,
    ) -> (bool, &'static str, String) {
        let asleep = self.target.asleep;
        let skipped = self.skipped(&record.name);
        if self.settled() {
            let message = std::iter::once(record.wakefulness.reason.clone())
                .chain(skipped)
                .collect::<Vec<_>>()
                .join("; ");
            let reason = if asleep { SCALED_TO_ZERO } else { RUNNING };
            return (asleep, reason, message);
        }
        let progress = self.progress();
        let mut message = if asleep { "going to sleep" } else { "waking" }.to_owned();
        if !progress.is_empty() {
            message = format!("{message}: {}", progress.join(", "));
        }
        for note in skipped {
            message = format!("{message}; {note}");
        }
        if let Some((_, error)) = self.failures().next() {
            message = format!(
                "{message}; attempt {attempt} failed, retrying with backoff: {}",
                error.message
            );
        }
        (false, if asleep { GOING_TO_SLEEP } else { WAKING }, message)
    }

    /// "1 of 2 workloads restored", "0 of 1 CronJob resumed", "CronJobs
    /// pending".
    fn progress(&self) -> Vec<String> {
        let asleep = self.target.asleep;
        let (mut done, mut total) = (0, 0);
        for k in self.kinds.iter().filter(|k| k.kind.scales()) {
            if let Some(pending) = k.pending {
                done += k.done;
                total += k.done + pending;
            }
        }
        let mut parts = Vec::new();
        if total > 0 {
            let verb = if asleep { "scaled to zero" } else { "restored" };
            parts.push(format!("{done} of {}", count(total, "workload", verb)));
        }
        for k in self.kinds.iter().filter(|k| !k.kind.scales()) {
            if let Some(pending) = k.pending.filter(|p| k.done + p > 0) {
                let verb = if asleep { "suspended" } else { "resumed" };
                parts.push(format!(
                    "{} of {}",
                    k.done,
                    count(k.done + pending, k.kind.kind(), verb)
                ));
            }
        }
        let pending: Vec<&str> = self
            .kinds
            .iter()
            .filter(|k| matches!(k.state, KindState::Failing(_)))
            .map(|k| k.kind.many())
            .collect();
        if !pending.is_empty() {
            parts.push(format!("{} pending", and(&pending)));
        }
        parts
    }

    /// A sentence for each kind that was skipped: which, why, what to do.
    fn skipped(&self, space: &str) -> Vec<String> {
        let asleep = self.target.asleep;
        self.kinds
            .iter()
            .filter_map(|k| match k.state {
                KindState::Unserved => Some(format!(
                    "{} skipped: this cluster does not serve {} {}{}{}",
                    k.kind.many(),
                    k.kind.api_version(),
                    k.kind.kind(),
                    if k.kind == WorkloadKind::CronJob {
                        " (Kubernetes 1.21 and later do)"
                    } else {
                        ""
                    },
                    if asleep {
                        ", so they keep running while the space sleeps"
                    } else {
                        ""
                    },
                )),
                KindState::Forbidden { verb } => Some(format!(
                    "{many} skipped: Berth may not {verb} {many} in this namespace; once an \
                     admin grants berthd get, list and patch on {plural}.{group}, `berth space \
                     {again} {space}` tries again",
                    many = k.kind.many(),
                    plural = k.kind.plural(),
                    group = k.kind.group(),
                    again = if asleep { "sleep" } else { "wake" },
                )),
                _ => None,
            })
            .collect()
    }
}

/// The shown phase of a space: a sleep or wake asked for and not yet
/// looked at shows at once as `Sleeping` or `Waking`, before its pass.
pub(crate) fn phase_shown(record: &SpaceRecord, status: &StatusRecord) -> Phase {
    let moved = status
        .workloads
        .target
        .is_some_and(|t| t != Target::of(record));
    match status.phase {
        Phase::Active | Phase::Sleeping | Phase::Waking if moved => {
            if record.wakefulness.asleep {
                Phase::Sleeping
            } else {
                Phase::Waking
            }
        }
        phase => phase,
    }
}

/// Whether a space is awake as its record asks with every workload back,
/// or was never looked at (nothing was put to sleep).
pub(crate) fn wholly_awake(record: &SpaceRecord, status: &StatusRecord) -> bool {
    let w = &status.workloads;
    !record.wakefulness.asleep
        && (w.target.is_none() || (w.target == Some(Target::of(record)) && w.settled))
}

/// Whether the last sleep or wake stopped short for good (a kind skipped,
/// not retried): asking for it again starts it over.
pub(crate) fn stopped_short(record: &SpaceRecord, status: &StatusRecord) -> bool {
    let w = &status.workloads;
    w.target == Some(Target::of(record)) && !w.settled && !w.retrying
}

/// What waking a space for `berth up` came to, once the pass toward the
/// record's target has looked (none while it has not, or is retrying).
pub(crate) fn woke(record: &SpaceRecord, status: &StatusRecord) -> Option<String> {
    let w = &status.workloads;
    if record.wakefulness.asleep || w.target != Some(Target::of(record)) {
        return None;
    }
    let name = &record.name;
    if w.settled {
        let count_of = |scales: bool| {
            w.done
                .iter()
                .filter(|(k, _)| k.scales() == scales)
                .map(|(_, n)| n)
                .sum::<usize>()
        };
        let mut came_back = Vec::new();
        if count_of(true) > 0 {
            came_back.push(count(count_of(true), "workload", "restored"));
        }
        if count_of(false) > 0 {
            came_back.push(count(count_of(false), "CronJob", "resumed"));
        }
        let what = if came_back.is_empty() {
            "nothing was asleep".to_owned()
        } else {
            and(&came_back)
        };
        return Some(format!("Woke space {name}: {what}."));
    }
    if w.retrying {
        return None;
    }
    Some(format!(
        "Space {name} is awake but not wholly: {}.",
        asleep_message(status).unwrap_or("see `berth space get`")
    ))
}

/// What `berth up` says when a wake did not finish in time.
pub(crate) fn still_waking(record: &SpaceRecord, status: &StatusRecord) -> String {
    format!(
        "Space {} is still waking: {}.",
        record.name,
        asleep_message(status).unwrap_or("its workloads are being restored")
    )
}

fn asleep_message(status: &StatusRecord) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.kind == crate::status::ASLEEP)
        .map(|c| c.message.as_str())
}

/// "1 workload restored", "2 CronJobs resumed".
fn count(n: usize, what: &str, verb: &str) -> String {
    format!("{n} {what}{} {verb}", if n == 1 { "" } else { "s" })
}

/// "a", "a and b", "a, b and c".
fn and<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => format!(
            "{} and {}",
            rest.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_core::Timestamp;
    use berth_core::space::{Condition, SpaceRole, Wakefulness};
    use berth_kube::{KindProblem, KindReport, WorkloadError, WorkloadKind};

    use super::*;

    fn record(asleep: bool, round: u64) -> SpaceRecord {
        SpaceRecord {
            name: "alice".to_owned(),
            members: [("u1".to_owned(), SpaceRole::Owner)].into(),
            persistent: false,
            personal: false,
            labels: BTreeMap::new(),
            quota_profile: "small".to_owned(),
            adopt: false,
            generation: 1,
            created_at: Timestamp(0),
            last_activity: Timestamp(0),
            last_activity_reason: String::new(),
            wakefulness: Wakefulness {
                asleep,
                reason: "woken by bob".to_owned(),
                by: "bob".to_owned(),
                since: Timestamp(0),
            },
            wake_round: round,
            deleting: None,
        }
    }

    fn report(
        kind: WorkloadKind,
        changed: usize,
        as_wanted: usize,
        pending: usize,
        problem: Option<KindProblem>,
    ) -> KindReport {
        KindReport {
            kind,
            changed: (0..changed).map(|i| format!("x/{i}")).collect(),
            as_wanted,
            left_running: Vec::new(),
            pending: (0..pending).map(|i| format!("y/{i}")).collect(),
            problem,
        }
    }

    fn failed() -> Option<KindProblem> {
        Some(KindProblem::Failed(WorkloadError {
            what: "restoring Deployment api failed: the Kubernetes API answered 500 InternalError"
                .to_owned(),
            source: Some(kube::Error::LinesCodecMaxLineLengthExceeded),
        }))
    }

    #[test]
    fn a_pass_counts_what_is_where_the_target_asks() {
        use WorkloadKind::{CronJob, Deployment, StatefulSet};
        let waking = Target {
            asleep: false,
            round: 3,
        };
        let sleeping = Target {
            asleep: true,
            round: 3,
        };
        let before = WorkloadsRecord {
            target: Some(waking),
            settled: false,
            retrying: true,
            done: [(Deployment, 2), (CronJob, 1)].into(),
        };
        // Waking counts on from the last pass toward the same target: a
        // restored object carries no mark to count it by again.
        let seen = WorkloadsSeen::of(
            waking,
            &before,
            vec![
                report(Deployment, 1, 0, 0, None),
                report(StatefulSet, 0, 0, 1, failed()),
                report(CronJob, 0, 0, 0, Some(KindProblem::Unserved)),
            ],
        );
        let summary: Vec<_> = seen
            .kinds
            .iter()
            .map(|k| (k.kind, k.done, k.pending))
            .collect();
        assert_eq!(
            summary,
            [
                (Deployment, 3, Some(0)),
                (StatefulSet, 0, Some(1)),
                (CronJob, 1, Some(0))
            ]
        );
        assert!(!seen.settled() && seen.retrying());
        let (error_kind, error) = seen.failures().next().expect("a failure");
        assert_eq!(error_kind, StatefulSet);
        assert!(error.detail().contains("newline"), "{}", error.detail());
        assert!(!error.message.contains("newline"), "{}", error.message);

        // A new target starts the count over; sleeping counts what is
        // asleep by Berth's hand already, and a kind that could not be
        // listed has an unknown number pending.
        let seen = WorkloadsSeen::of(
            sleeping,
            &before,
            vec![
                report(Deployment, 1, 2, 0, None),
                report(
                    StatefulSet,
                    0,
                    0,
                    0,
                    Some(KindProblem::Forbidden { verb: "list" }),
                ),
                report(CronJob, 0, 1, 0, None),
            ],
        );
        let record = seen.record();
        assert_eq!(
            record.done,
            [(Deployment, 3), (StatefulSet, 0), (CronJob, 1)].into()
        );
        assert_eq!((record.settled, record.retrying), (false, false));
        assert_eq!(seen.kinds[1].pending, None);
    }

    #[test]
    fn workloads_are_looked_at_only_when_the_target_moved_or_a_change_waits_for_its_retry() {
        let looked = |asleep, round, retrying: bool| WorkloadsRecord {
            target: Some(Target { asleep, round }),
            settled: !retrying,
            retrying,
            done: BTreeMap::new(),
        };
        let awake = record(false, 2);
        assert!(due(&awake, &WorkloadsRecord::default()), "never looked at");
        assert!(due(&awake, &looked(true, 1, false)), "woken since");
        assert!(due(&awake, &looked(false, 1, false)), "woken again");
        assert!(due(&awake, &looked(false, 2, true)), "a retry");
        assert!(!due(&awake, &looked(false, 2, false)), "there already");
        let skipped = WorkloadsRecord {
            settled: false,
            ..looked(false, 2, false)
        };
        assert!(
            !due(&awake, &skipped),
            "a skipped kind waits for the next wake"
        );
        let mut status = StatusRecord::pending("small");
        status.workloads = skipped;
        assert!(stopped_short(&awake, &status));
        assert!(!wholly_awake(&awake, &status));
    }

    #[test]
    fn berth_up_says_what_waking_did_or_what_is_pending() {
        let awake = record(false, 2);
        let mut status = StatusRecord::pending("small");
        status.workloads = WorkloadsRecord {
            target: Some(Target {
                asleep: true,
                round: 1,
            }),
            settled: true,
            retrying: false,
            done: BTreeMap::new(),
        };
        assert_eq!(woke(&awake, &status), None, "its pass has not looked yet");
        status.conditions.push(Condition {
            kind: crate::status::ASLEEP.to_owned(),
            status: false,
            reason: WAKING.to_owned(),
            message: "waking: 1 of 2 workloads restored, CronJobs pending".to_owned(),
            last_transition: Timestamp(0),
        });
        assert_eq!(
            still_waking(&awake, &status),
            "Space alice is still waking: waking: 1 of 2 workloads restored, CronJobs pending."
        );
        status.workloads = WorkloadsRecord {
            target: Some(Target {
                asleep: false,
                round: 2,
            }),
            settled: false,
            retrying: true,
            done: [(WorkloadKind::Deployment, 1)].into(),
        };
        assert_eq!(woke(&awake, &status), None, "retrying: wait on");
        status.workloads.retrying = false;
        assert_eq!(
            woke(&awake, &status).as_deref(),
            Some(
                "Space alice is awake but not wholly: waking: 1 of 2 workloads restored, CronJobs pending."
            )
        );
        status.workloads.settled = true;
        status.workloads.done = [
            (WorkloadKind::Deployment, 2),
            (WorkloadKind::StatefulSet, 1),
            (WorkloadKind::CronJob, 1),
        ]
        .into();
        assert_eq!(
            woke(&awake, &status).as_deref(),
            Some("Woke space alice: 3 workloads restored and 1 CronJob resumed.")
        );
        status.workloads.done = BTreeMap::new();
        assert_eq!(
            woke(&awake, &status).as_deref(),
            Some("Woke space alice: nothing was asleep.")
        );
        assert!(wholly_awake(&awake, &status));
    }
}

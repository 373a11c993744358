//! What the store holds about spaces.

use std::collections::BTreeMap;

use berth_core::Timestamp;
use berth_core::space::{Condition, Phase, QuotaUsage, SpaceRole, Wakefulness};
use berth_kube::WorkloadKind;
use berth_store::Table;
use serde::{Deserialize, Serialize};

/// What a space should be, by name. Written by the API.
pub const SPACES: Table<SpaceRecord> = Table::new("spaces.records");
/// What the reconciler last observed, by name. Written by the reconciler.
pub const STATUS: Table<StatusRecord> = Table::new("spaces.status");
/// The personal space made for a user, by user id: it is made once, so a
/// user who deletes theirs does not get it back at the next sign-in.
pub const PERSONAL: Table<String> = Table::new("spaces.personal");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceRecord {
    pub name: String,
    /// User id to role; exactly one owner.
    pub members: BTreeMap<String, SpaceRole>,
    pub persistent: bool,
    pub personal: bool,
    pub labels: BTreeMap<String, String>,
    pub quota_profile: String,
    /// Take over an existing namespace that Berth did not make.
    pub adopt: bool,
    pub generation: u64,
    pub created_at: Timestamp,
    pub last_activity: Timestamp,
    pub last_activity_reason: String,
    pub wakefulness: Wakefulness,
    /// Counts the sleeps and wakes asked for: each is a new target for the
    /// workloads, even one asked for again within the same second.
    #[serde(default)]
    pub wake_round: u64,
    /// Set when deletion was asked for; the record goes once the namespace
    /// has.
    pub deleting: Option<Timestamp>,
}

impl SpaceRecord {
    pub fn owner(&self) -> &str {
        self.members
            .iter()
            .find(|(_, role)| **role == SpaceRole::Owner)
            .map(|(id, _)| id.as_str())
            .unwrap_or("")
    }

    pub fn role_of(&self, user_id: &str) -> Option<SpaceRole> {
        self.members.get(user_id).copied()
    }

    /// Asks for the space to be asleep or awake from now: a new target
    /// for its workloads.
    pub fn set_wakefulness(&mut self, wakefulness: Wakefulness) {
        self.wakefulness = wakefulness;
        self.wake_round += 1;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub phase: Phase,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub quota: QuotaUsage,
    /// How far the workloads are toward what the record asks (what the
    /// reconciler saw, not what the record asks for).
    #[serde(default)]
    pub workloads: WorkloadsRecord,
}

/// What a space's record asks of its workloads: asleep or awake, and
/// which sleep or wake asked (a new one is a new target, even to the same
/// state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub asleep: bool,
    pub round: u64,
}

impl Target {
    pub fn of(record: &SpaceRecord) -> Target {
        Target {
            asleep: record.wakefulness.asleep,
            round: record.wake_round,
        }
    }
}

/// Where a space's workloads are on their way to its target, as the last
/// pass that looked at them saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadsRecord {
    /// What the last pass worked toward; none before the first.
    pub target: Option<Target>,
    /// Every object that sleep concerns is as the target asks (kinds the
    /// cluster does not serve aside).
    pub settled: bool,
    /// A change failed and is retried with backoff; a kind skipped (403)
    /// is not retried until the next sleep or wake.
    pub retrying: bool,
    /// Objects brought to the target so far, by kind. Waking counts up
    /// across passes, since a restored object carries no mark.
    pub done: BTreeMap<WorkloadKind, usize>,
}

impl StatusRecord {
    pub fn pending(profile: &str) -> StatusRecord {
        StatusRecord {
            phase: Phase::Pending,
            observed_generation: 0,
            conditions: Vec::new(),
            quota: QuotaUsage {
                profile: profile.to_owned(),
                ..QuotaUsage::default()
            },
            workloads: WorkloadsRecord::default(),
        }
    }

    /// Sets a condition; its transition time changes only when its status
    /// does.
    pub fn set_condition(
        &mut self,
        kind: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
        now: Timestamp,
    ) {
        let message = message.into();
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                if c.status != status {
                    c.last_transition = now;
                }
                c.status = status;
                c.reason = reason.to_owned();
                c.message = message;
            }
            None => self.conditions.push(Condition {
                kind: kind.to_owned(),
                status,
                reason: reason.to_owned(),
                message,
                last_transition: now,
            }),
        }
    }
}

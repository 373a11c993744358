//! What the store holds about spaces.

use std::collections::BTreeMap;

use berth_core::Timestamp;
use berth_core::space::{Condition, Phase, QuotaUsage, SpaceRole, Wakefulness};
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub phase: Phase,
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub quota: QuotaUsage,
    /// Whether the workloads are scaled down now (what the reconciler did,
    /// not what the record asks for).
    pub workloads_asleep: bool,
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
            workloads_asleep: false,
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

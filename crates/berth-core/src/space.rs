//! Spaces as the API shows them: a developer's isolated namespace, its
//! members, and the state the reconciler last saw it in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::Timestamp;
use crate::{DnsLabel, Error};

/// A space name: a DNS-1123 label (1 to 63 lowercase letters, digits and
/// `-`, starting and ending with a letter or digit), because it is also the
/// namespace's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct SpaceName(String);

impl TryFrom<String> for SpaceName {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if DnsLabel::is_valid(&value, DnsLabel::MAX) {
            Ok(SpaceName(value))
        } else {
            Err(Error::invalid(
                "name",
                format!(
                    "{value:?} must be {} (it becomes the namespace's name)",
                    DnsLabel::rule(DnsLabel::MAX)
                ),
            ))
        }
    }
}

impl From<SpaceName> for String {
    fn from(value: SpaceName) -> Self {
        value.0
    }
}

impl SpaceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SpaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do in one space. Admins may do everything in every space.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SpaceRole {
    /// Uses the space: reads it, deploys into it, sleeps and wakes it.
    Member,
    /// A member who may also share, transfer and delete it. Exactly one.
    Owner,
}

/// Where a space is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Phase {
    /// Recorded; the reconciler has not made it yet.
    Pending,
    /// Made, converged and awake.
    Active,
    /// Its workloads are scaled to zero.
    Sleeping,
    /// Its workloads are being restored.
    Waking,
    /// Its namespace is being deleted; the record goes once it is gone.
    Terminating,
    /// The reconciler cannot make it; the conditions say why.
    Failed,
}

/// One observation about a space, in the Kubernetes style: `type` holds
/// when `status` is true; `reason` is a CamelCase word, `message` a sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: bool,
    pub reason: String,
    pub message: String,
    pub last_transition: Timestamp,
}

/// A member of a space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpaceMember {
    pub user_id: String,
    /// Empty when the user is gone.
    pub username: String,
    pub role: SpaceRole,
}

/// Why a space is awake or asleep, and who or what made it so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Wakefulness {
    pub asleep: bool,
    /// "dev session of alice since 10:02", "idle since 07:02", "put to sleep by bob".
    pub reason: String,
    /// Who or what did it: a user name, or `berth` for the idle clock.
    pub by: String,
    pub since: Timestamp,
}

/// What the quota allows and what is in use, by resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaUsage {
    pub profile: String,
    pub hard: BTreeMap<String, String>,
    pub used: BTreeMap<String, String>,
}

/// The reconciler's view of a space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpaceStatus {
    pub phase: Phase,
    /// The generation the reconciler last converged.
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    pub quota: QuotaUsage,
}

/// A space as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpaceView {
    pub name: SpaceName,
    pub owner: SpaceMember,
    pub members: Vec<SpaceMember>,
    /// Persistent spaces never sleep and are never deleted for idleness.
    pub persistent: bool,
    /// The user's own space, made at their first sign-in.
    pub personal: bool,
    pub labels: BTreeMap<String, String>,
    pub quota_profile: String,
    /// Bumped by every change to what the space should be.
    pub generation: u64,
    pub created_at: Timestamp,
    pub last_activity: Timestamp,
    /// What last counted as activity ("api call by alice").
    pub last_activity_reason: String,
    pub wakefulness: Wakefulness,
    /// When the idle clock will put it to sleep, if it will.
    pub sleeps_at: Option<Timestamp>,
    /// When the idle clock will delete it, if it will.
    pub deleted_at: Option<Timestamp>,
    pub status: SpaceStatus,
    /// The caller's own role here; none for an admin who is not a member.
    pub your_role: Option<SpaceRole>,
}

/// A new space.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSpace {
    pub name: String,
    /// Defaults to false.
    #[serde(default)]
    pub persistent: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A quota profile from the daemon's configuration; the default profile
    /// when left out. Only admins may choose one.
    pub quota_profile: Option<String>,
    /// Take over an existing namespace of this name that Berth did not make
    /// (admins only).
    #[serde(default)]
    pub adopt: bool,
    /// Make the space for this user (admins only); the caller by default.
    pub owner: Option<String>,
}

/// Changes to a space; fields left out stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceUpdate {
    pub persistent: Option<bool>,
    pub labels: Option<BTreeMap<String, String>>,
    /// Admins only.
    pub quota_profile: Option<String>,
    /// Transfer ownership to this user (name, email or id); the old owner
    /// stays a member. Owners and admins only.
    pub owner: Option<String>,
}

/// Shares a space with a user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// A user name, an email address or a user id.
    pub user: String,
}

/// One object the reconciler keeps in a space, as the cluster holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpaceObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Whether the cluster holds what Berth wants of it.
    pub in_sync: bool,
    /// The object as the cluster holds it; null when it is missing.
    pub object: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_names_are_dns_labels() {
        for good in ["a", "alice", "team-1", &"x".repeat(63)] {
            assert!(SpaceName::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            let err = SpaceName::try_from(bad.to_owned()).expect_err(bad);
            assert!(err.message.contains("namespace"), "{}", err.message);
        }
    }
}

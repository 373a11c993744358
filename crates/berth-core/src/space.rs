//! Spaces as the API shows them: a developer's isolated namespace, its
//! members, and the state the reconciler last saw it in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::time::Timestamp;
use crate::{DnsLabel, Error};

/// A space name: a DNS-1123 label (1 to 63 lowercase letters, digits and
/// `-`, starting and ending with a letter or digit), because it is also the
/// namespace's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpaceName(String);

impl utoipa::PartialSchema for SpaceName {
    fn schema() -> RefOr<Schema> {
        DnsLabel::schema(
            DnsLabel::MAX,
            "A space's name, which is also its namespace's: a DNS label.",
        )
    }
}

impl ToSchema for SpaceName {}

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

/// The labels a space may carry: Kubernetes' rules for the namespace's
/// labels, less the prefixes Berth and the cluster keep for themselves. The
/// check and the schema the API document states are both here, from the
/// same rule.
pub struct SpaceLabels;

/// A label key's name part, or a label value: 1 to 63 letters, digits,
/// `-`, `_` or `.`, starting and ending with a letter or digit.
const LABEL_SEGMENT: &str = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
/// One dot-separated part of a key's DNS prefix.
const LABEL_PREFIX_PART: &str = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";
/// The prefixes Berth and Kubernetes keep, and their subdomains.
const KEPT_PREFIXES: [&str; 3] = ["berth.dev", "kubernetes.io", "k8s.io"];

impl SpaceLabels {
    fn segment(s: &str) -> bool {
        let b = s.as_bytes();
        matches!((b.first(), b.last()), (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric())
            && b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    }

    /// Whether `key` is a label key: an optional DNS prefix and `/`, then
    /// a segment.
    pub fn key_is_valid(key: &str) -> bool {
        match key.rsplit_once('/') {
            None => Self::segment(key),
            Some((prefix, name)) => DnsLabel::is_subdomain(prefix) && Self::segment(name),
        }
    }

    /// Whether `key`'s prefix is one Berth or Kubernetes keeps.
    pub fn key_is_kept(key: &str) -> bool {
        key.rsplit_once('/').is_some_and(|(prefix, _)| {
            KEPT_PREFIXES
                .iter()
                .any(|kept| prefix == *kept || prefix.ends_with(&format!(".{kept}")))
        })
    }

    pub fn value_is_valid(value: &str) -> bool {
        value.is_empty() || Self::segment(value)
    }

    /// Checks every label, naming the first bad one.
    pub fn check(labels: &BTreeMap<String, String>) -> Result<(), Error> {
        for (key, value) in labels {
            if !Self::key_is_valid(key) {
                return Err(Error::invalid(
                    "labels",
                    format!(
                        "{key:?} is not a valid label key (an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.')"
                    ),
                ));
            }
            if Self::key_is_kept(key) {
                return Err(Error::invalid(
                    "labels",
                    format!("{key:?} uses a prefix that Berth or Kubernetes keeps for itself"),
                ));
            }
            if !Self::value_is_valid(value) {
                return Err(Error::invalid(
                    "labels",
                    format!(
                        "the value of {key:?} must be empty or up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The patterns the schema states, in the order the check applies
    /// them: a key's form, its prefix's length, the kept prefixes, a value.
    fn patterns() -> [String; 4] {
        [
            format!("^({LABEL_PREFIX_PART}(\\.{LABEL_PREFIX_PART})*/)?{LABEL_SEGMENT}$"),
            format!("^([^/]{{1,{}}}/)?[^/]+$", DnsLabel::SUBDOMAIN_MAX),
            format!(
                "^(.*\\.)?({})/",
                KEPT_PREFIXES.map(|p| p.replace('.', "\\.")).join("|")
            ),
            format!("^({LABEL_SEGMENT})?$"),
        ]
    }
}

impl utoipa::PartialSchema for SpaceLabels {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let [key, prefix_length, kept, value] = Self::patterns();
        let pattern = |p: &str| serde_json::json!({ "pattern": p });
        // JSON Schema's `allOf` and `not` under `propertyNames`, which
        // utoipa has no builder for: a key must match the first two
        // patterns and not the third. One extension key only: extensions
        // are a hash map, and the document must come out the same each time.
        let mut names = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(key))
            .build();
        names.extensions = Some(
            [(
                "allOf",
                serde_json::json!([pattern(&prefix_length), { "not": pattern(&kept) }]),
            )]
            .into_iter()
            .collect(),
        );
        let mut labels = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Kubernetes labels for the namespace: keys are an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.'; the prefixes berth.dev, kubernetes.io and k8s.io (and their subdomains) are kept; values are empty or up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit.",
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(value))
                    .into(),
            )))
            .build();
        labels.property_names = Some(Box::new(Schema::Object(names)));
        RefOr::T(Schema::Object(labels))
    }
}

impl ToSchema for SpaceLabels {}

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
    /// Made, converged and awake, every workload back.
    Active,
    /// Put to sleep: its workloads are scaled to zero, or on their way
    /// (the `Asleep` condition is true only once everything that should
    /// sleep does, and says what is pending meanwhile).
    Sleeping,
    /// Woken, and not every workload is back yet (the `Asleep` condition
    /// says how far it got and what is pending or skipped).
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
    #[schema(value_type = SpaceName)]
    pub name: String,
    /// Defaults to false.
    #[serde(default)]
    pub persistent: bool,
    #[serde(default)]
    #[schema(value_type = SpaceLabels)]
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
    /// The whole set of labels, replacing the old.
    #[schema(value_type = Option<SpaceLabels>)]
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

/// Where kubectl reaches the proxy, as `berth kubeconfig` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KubeAccess {
    /// The kubeconfig cluster's `server`.
    pub server: String,
    /// The PEM certificate to trust for it, when berthd made its own (the
    /// kubeconfig's `certificate-authority-data`); none when the server
    /// is reached through HTTPS the system already trusts.
    pub certificate_authority: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_label_patterns_are_the_check() {
        let [key, prefix_length, kept, value] =
            SpaceLabels::patterns().map(|p| regex::Regex::new(&p).expect("a regular expression"));
        let long_prefix = format!("{}.io/x", vec!["a".repeat(63); 4].join("."));
        let too_long_prefix = format!("{}.io/x", vec!["a".repeat(63); 5].join("."));
        let keys = [
            "team",
            "app.kubernetes.io/name",
            "example.com/team",
            "a/b",
            "/a",
            "a/",
            "a/b/c",
            "A/b",
            "Team_1.x",
            "_a",
            "a_",
            "a..b/c",
            "-a.b/c",
            "a-.b/c",
            "berth.dev/x",
            "x.berth.dev/x",
            "xberth.dev/x",
            "k8s.io/x",
            "kubernetes.io/x",
            "my.k8s.io/y",
            "é",
            &"a".repeat(63),
            &"a".repeat(64),
            &long_prefix,
            &too_long_prefix,
            "",
        ];
        for k in keys {
            let by_schema = key.is_match(k) && prefix_length.is_match(k);
            assert_eq!(by_schema, SpaceLabels::key_is_valid(k), "key {k:?}");
            if by_schema {
                assert_eq!(kept.is_match(k), SpaceLabels::key_is_kept(k), "kept {k:?}");
            }
        }
        for v in [
            "",
            "a",
            "a.b_c-d",
            "-a",
            "a-",
            "é",
            &"v".repeat(63),
            &"v".repeat(64),
        ] {
            assert_eq!(
                value.is_match(v),
                SpaceLabels::value_is_valid(v),
                "value {v:?}"
            );
        }
    }

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

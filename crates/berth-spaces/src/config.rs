//! The `[spaces]` section of `berthd.toml`.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_kube::{ClusterPolicy, PodSecurity, QuotaProfile};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpacesConfig {
    /// Make each user a personal space, named after them, at their first
    /// sign-in.
    pub personal_spaces: bool,
    /// The most spaces one user may own (admins are not limited).
    pub max_per_user: u32,
    /// A space with no activity for this long goes to sleep (unless it is
    /// persistent).
    #[serde(with = "humantime_serde")]
    pub idle_sleep: Duration,
    /// A space with no activity for this long is deleted (unless it is
    /// persistent). Off when absent.
    #[serde(
        with = "humantime_serde",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_delete: Option<Duration>,
    /// How often the idle clock is checked.
    #[serde(with = "humantime_serde")]
    pub idle_check_interval: Duration,
    /// Every space is reconciled at least this often, from the watch cache
    /// (no API request unless something drifted).
    #[serde(with = "humantime_serde")]
    pub resync_interval: Duration,
    /// Spaces reconciled at once.
    pub workers: usize,
    /// The quota profile a space gets unless an admin picks another.
    pub default_quota_profile: String,
    pub quota_profiles: BTreeMap<String, QuotaProfileConfig>,
    /// The Pod Security admission level enforced in every space.
    pub pod_security: PodSecurity,
    /// Fence each space's pods off from other namespaces' (NetworkPolicy).
    pub network_isolation: bool,
    /// Namespaces whose pods may reach every space: the ingress controllers.
    pub ingress_namespaces: Vec<String>,
}

/// A quota profile: ResourceQuota limits and container defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaProfileConfig {
    /// ResourceQuota `spec.hard`, such as `"requests.cpu" = "4"`.
    pub hard: BTreeMap<String, String>,
    #[serde(default)]
    pub default_request: BTreeMap<String, String>,
    #[serde(default)]
    pub default_limit: BTreeMap<String, String>,
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Default for SpacesConfig {
    fn default() -> Self {
        SpacesConfig {
            personal_spaces: true,
            max_per_user: 5,
            idle_sleep: Duration::from_secs(3 * 3600),
            idle_delete: None,
            idle_check_interval: Duration::from_secs(30),
            resync_interval: Duration::from_secs(600),
            workers: 8,
            default_quota_profile: "default".to_owned(),
            quota_profiles: [(
                "default".to_owned(),
                QuotaProfileConfig {
                    hard: map(&[
                        ("requests.cpu", "4"),
                        ("requests.memory", "8Gi"),
                        ("limits.cpu", "8"),
                        ("limits.memory", "16Gi"),
                        ("pods", "50"),
                        ("persistentvolumeclaims", "10"),
                    ]),
                    default_request: map(&[("cpu", "100m"), ("memory", "128Mi")]),
                    default_limit: map(&[("cpu", "1"), ("memory", "1Gi")]),
                },
            )]
            .into(),
            pod_security: PodSecurity::Baseline,
            network_isolation: true,
            ingress_namespaces: vec!["ingress-nginx".to_owned()],
        }
    }
}

impl SpacesConfig {
    /// Checks what serde cannot: that named profiles exist and numbers are
    /// sensible.
    pub fn validate(&self) -> Result<(), String> {
        if !self
            .quota_profiles
            .contains_key(&self.default_quota_profile)
        {
            return Err(format!(
                "default_quota_profile {:?} is not among quota_profiles ({})",
                self.default_quota_profile,
                self.quota_profiles
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.workers == 0 {
            return Err("workers must be at least 1".to_owned());
        }
        for (key, value) in [
            ("idle_sleep", self.idle_sleep),
            ("idle_check_interval", self.idle_check_interval),
            ("resync_interval", self.resync_interval),
        ] {
            if value < Duration::from_secs(1) {
                return Err(format!("{key} must be at least 1s"));
            }
        }
        if let Some(delete) = self.idle_delete
            && delete <= self.idle_sleep
        {
            return Err(format!(
                "idle_delete ({}) must be longer than idle_sleep ({})",
                humantime::format_duration(delete),
                humantime::format_duration(self.idle_sleep)
            ));
        }
        for (name, profile) in &self.quota_profiles {
            if profile.hard.is_empty() {
                return Err(format!("quota profile {name:?} has no limits in `hard`"));
            }
        }
        Ok(())
    }

    pub fn profile(&self, name: &str) -> Option<QuotaProfile> {
        self.quota_profiles.get(name).map(|p| QuotaProfile {
            name: name.to_owned(),
            hard: p.hard.clone(),
            default_request: p.default_request.clone(),
            default_limit: p.default_limit.clone(),
        })
    }

    pub fn cluster_policy(&self) -> ClusterPolicy {
        ClusterPolicy {
            ingress_namespaces: self.ingress_namespaces.clone(),
            pod_security: self.pod_security,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_named() {
        assert_eq!(SpacesConfig::default().validate(), Ok(()));
        let missing = SpacesConfig {
            default_quota_profile: "large".to_owned(),
            ..SpacesConfig::default()
        };
        assert!(
            missing
                .validate()
                .expect_err("missing profile")
                .contains("\"large\"")
        );
        let backwards = SpacesConfig {
            idle_delete: Some(Duration::from_secs(60)),
            ..SpacesConfig::default()
        };
        assert!(
            backwards
                .validate()
                .expect_err("backwards")
                .contains("idle_delete")
        );
    }
}

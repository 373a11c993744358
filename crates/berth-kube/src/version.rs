//! Which Kubernetes releases Berth supports, and the check of a server
//! against that: its `/version`, and the APIs discovery says it serves.
//!
//! The minimum is 1.28. What Berth and the Helm it runs need is all served
//! by 1.27: `batch/v1` CronJobs (1.21), server-side apply (GA 1.22), the
//! Pod Security admission labels on a space's namespace (GA 1.25), and the
//! OpenAPI v3 documents and server-side field validation that Helm 4's
//! server-side apply relies on (GA 1.27). Berth declares the release after
//! that, the oldest teams still run, and refuses anything older rather
//! than half-work on it (on 1.20 a space's CronJobs are 404 and Helm's
//! apply fails obscurely). The clients Berth links name newer releases
//! still as the oldest they test (kube-rs 5 and Helm 4.1: 1.32).
//! The chart's `kubeVersion` and docs/operations.md say the same; a test
//! below keeps them so.

use std::collections::BTreeSet;

use crate::cluster::Cluster;

/// A Kubernetes release, major and minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest Kubernetes Berth supports.
pub const MINIMUM: KubeVersion = KubeVersion {
    major: 1,
    minor: 28,
};

/// The APIs Berth calls (spaces, sleep and wake, dev mode, Helm Jobs and
/// their logs), as group/version and resource.
pub const REQUIRED_APIS: &[(&str, &str)] = &[
    ("v1", "namespaces"),
    ("v1", "resourcequotas"),
    ("v1", "limitranges"),
    ("v1", "serviceaccounts"),
    ("v1", "secrets"),
    ("v1", "pods"),
    ("apps/v1", "deployments"),
    ("apps/v1", "statefulsets"),
    ("batch/v1", "jobs"),
    ("batch/v1", "cronjobs"),
    ("networking.k8s.io/v1", "networkpolicies"),
    ("rbac.authorization.k8s.io/v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "rolebindings"),
];

impl KubeVersion {
    /// The release `/version` names: its `major` and `minor` (which some
    /// providers suffix, as in `28+`), or failing those its `gitVersion`
    /// (`v1.28.3-eks-...`).
    pub fn parse(major: &str, minor: &str, git_version: &str) -> Option<KubeVersion> {
        let number = |s: &str| -> Option<u32> {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        if let (Some(major), Some(minor)) = (number(major), number(minor)) {
            return Some(KubeVersion { major, minor });
        }
        let mut parts = git_version.trim_start_matches('v').split('.');
        Some(KubeVersion {
            major: number(parts.next()?)?,
            minor: number(parts.next()?)?,
        })
    }
}

/// What a server is, against what Berth needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// The server's `gitVersion`, as it says it (`v1.33.1`).
    pub git_version: String,
    /// The release, when the server's answer could be read.
    pub version: Option<KubeVersion>,
    /// Required APIs the server does not serve, as `batch/v1 cronjobs`.
    pub missing: Vec<String>,
}

impl ServerReport {
    /// Judges a server by its `/version` and the `(group/version, resource)`
    /// pairs it serves.
    pub fn assess(
        major: &str,
        minor: &str,
        git_version: &str,
        served: &BTreeSet<(String, String)>,
    ) -> ServerReport {
        let missing = REQUIRED_APIS
            .iter()
            .filter(|(gv, plural)| !served.contains(&((*gv).to_owned(), (*plural).to_owned())))
            .map(|(gv, plural)| format!("{gv} {plural}"))
            .collect();
        ServerReport {
            git_version: git_version.to_owned(),
            version: KubeVersion::parse(major, minor, git_version),
            missing,
        }
    }

    /// Whether the release is older than [`MINIMUM`] (an unreadable one is
    /// not taken as old: the APIs decide).
    pub fn too_old(&self) -> bool {
        self.version.is_some_and(|v| v < MINIMUM)
    }

    pub fn supported(&self) -> bool {
        !self.too_old() && self.missing.is_empty()
    }

    /// Why Berth refuses this server, naming its version and what is
    /// missing; none when it is supported.
    pub fn refusal(&self) -> Option<String> {
        if self.supported() {
            return None;
        }
        let mut reason = format!(
            "the Kubernetes API is {}; Berth supports Kubernetes {MINIMUM} and later",
            self.git_version
        );
        if !self.missing.is_empty() {
            reason.push_str(&format!(
                ", and needs APIs this server does not serve: {}",
                self.missing.join(", ")
            ));
        }
        Some(reason)
    }
}

/// The server could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("cannot read the Kubernetes API's /version")]
    Version(#[source] kube::Error),
    #[error("cannot read which resources the Kubernetes API serves in {0}")]
    Discovery(String, #[source] kube::Error),
}

impl Cluster {
    /// Asks the server its version and, for each group/version Berth uses,
    /// which resources it serves (a group/version it does not serve at all
    /// answers 404, and all its resources are missing).
    pub async fn server_report(&self) -> Result<ServerReport, VersionError> {
        let report = self.ask_server().await;
        match &report {
            Ok(_) => self.reach().answered(),
            Err(VersionError::Version(e) | VersionError::Discovery(_, e)) => {
                self.reach().failed("the version check", e)
            }
        }
        report
    }

    async fn ask_server(&self) -> Result<ServerReport, VersionError> {
        let client = self.client();
        let info = client
            .apiserver_version()
            .await
            .map_err(VersionError::Version)?;
        let groups: BTreeSet<&str> = REQUIRED_APIS.iter().map(|(gv, _)| *gv).collect();
        let mut served = BTreeSet::new();
        for gv in groups {
            let list = if gv.contains('/') {
                client.list_api_group_resources(gv).await
            } else {
                client.list_core_api_resources(gv).await
            };
            match list {
                Ok(list) => {
                    served.extend(list.resources.into_iter().map(|r| (gv.to_owned(), r.name)))
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(VersionError::Discovery(gv.to_owned(), e)),
            }
        }
        Ok(ServerReport::assess(
            &info.major,
            &info.minor,
            &info.git_version,
            &served,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_served() -> BTreeSet<(String, String)> {
        REQUIRED_APIS
            .iter()
            .map(|(gv, p)| ((*gv).to_owned(), (*p).to_owned()))
            .collect()
    }

    #[test]
    fn versions_are_read_as_providers_write_them() {
        let cases = [
            (("1", "33", "v1.33.1"), Some((1, 33))),
            (("1", "28+", "v1.28.3-eks-4f4795d"), Some((1, 28))),
            (("", "", "v1.30.2-gke.1587003"), Some((1, 30))),
            (("1", "20", "v1.20.2"), Some((1, 20))),
            (("", "", "unknown"), None),
        ];
        for ((major, minor, git), expected) in cases {
            assert_eq!(
                KubeVersion::parse(major, minor, git).map(|v| (v.major, v.minor)),
                expected,
                "{major} {minor} {git}"
            );
        }
    }

    #[test]
    fn a_server_is_judged_by_its_release_and_the_apis_it_serves() {
        let supported = ServerReport::assess("1", "28", "v1.28.0", &all_served());
        assert!(supported.supported());
        assert_eq!(supported.refusal(), None);

        let mut old_apis = all_served();
        old_apis.remove(&("batch/v1".to_owned(), "cronjobs".to_owned()));
        let old = ServerReport::assess("1", "20", "v1.20.2", &old_apis);
        assert!(old.too_old());
        let reason = old.refusal().expect("refused");
        assert!(reason.contains("v1.20.2"), "{reason}");
        assert!(reason.contains("1.28 and later"), "{reason}");
        assert!(reason.contains("batch/v1 cronjobs"), "{reason}");

        let new_but_lacking = ServerReport::assess("1", "33", "v1.33.0", &old_apis);
        assert!(!new_but_lacking.too_old());
        assert!(!new_but_lacking.supported());

        let unreadable = ServerReport::assess("", "", "weird", &all_served());
        assert!(unreadable.supported(), "the APIs decide");
    }

    #[test]
    fn the_chart_and_the_docs_declare_the_same_minimum() {
        let chart = include_str!("../../../deploy/helm/berth/Chart.yaml");
        let declared = format!("kubeVersion: \">={MINIMUM}.0-0\"");
        assert!(
            chart.lines().any(|l| l.trim() == declared),
            "deploy/helm/berth/Chart.yaml must say {declared}"
        );
        let operations = include_str!("../../../docs/operations.md");
        let said = format!("Kubernetes {MINIMUM} or later");
        assert!(
            operations.contains(&said),
            "docs/operations.md must say {said:?}"
        );
    }
}

//! The catalog as the API shows it: the chart repositories admins add, and
//! the charts their indexes list.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::Timestamp;

/// A chart repository to add (admins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepository {
    /// A DNS label naming the repository in the catalog.
    pub name: String,
    /// Where its `index.yaml` is: `https://charts.example.com` or
    /// `http://...`.
    pub url: String,
    /// Files on the daemon's machine (a mounted Secret) holding the user
    /// name and password for basic authentication; both or neither.
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
    /// A PEM file of certificate authorities to trust for this repository.
    #[serde(default)]
    pub ca_file: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RepositoryView {
    pub name: String,
    pub url: String,
    /// Whether basic authentication is configured (the files, never their
    /// content).
    pub username_file: Option<String>,
    pub password_file: Option<String>,
    pub ca_file: Option<String>,
    pub added_by: String,
    pub added_at: Timestamp,
    /// The last time the index was fetched and read.
    pub fetched_at: Option<Timestamp>,
    /// Why the last fetch failed, if it did (the charts listed are from
    /// the last good one).
    pub last_error: Option<String>,
    pub failed_at: Option<Timestamp>,
    /// Charts and chart versions in the cached index.
    pub charts: usize,
    pub versions: usize,
}

/// A chart of a repository, with its versions newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChartView {
    pub name: String,
    pub versions: Vec<ChartVersionView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChartVersionView {
    pub version: String,
    pub app_version: Option<String>,
    pub description: Option<String>,
    pub icon: Option<String>,
    pub created: Option<String>,
    pub digest: Option<String>,
    /// Where the chart's archive is, absolute.
    pub urls: Vec<String>,
    pub deprecated: bool,
}

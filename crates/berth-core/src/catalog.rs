//! The catalog as the API shows it: the chart repositories admins add, the
//! charts their indexes list, and the items developers install.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::name::CatalogName;
use crate::time::Timestamp;

/// A chart repository to add (admins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepository {
    /// A DNS label naming the repository in the catalog.
    #[schema(value_type = CatalogName)]
    pub name: String,
    /// Where its `index.yaml` is: `https://charts.example.com` or
    /// `http://...`. It is fetched and read before the repository is added.
    #[schema(pattern = "^https?://")]
    pub url: String,
    /// Files on the daemon's machine (a mounted Secret under the daemon's
    /// `[catalog] credentials_dir`) holding the user name and password for
    /// basic authentication; both or neither.
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

/// A catalog item, to create or the whole of one to replace (admins).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// A DNS label naming the item (and, by default, what it installs).
    #[schema(value_type = CatalogName)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The `http://` or `https://` URL of an icon; the chart's when left out.
    #[serde(default)]
    #[schema(pattern = "^https?://")]
    pub icon: Option<String>,
    /// The chart repository (by its name in the catalog) and the chart.
    #[schema(value_type = CatalogName)]
    pub repository: String,
    pub chart: String,
    /// An exact chart version or a semver range (`^1.4`, `>=2, <3`); the
    /// newest version of the repository's index that matches is installed.
    #[serde(default = "any_version")]
    pub version: String,
    /// Values laid over the chart's own defaults for every install.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    /// The values developers may set (dotted paths, such as
    /// `auth.password`; a path allows what is under it). Left out: every
    /// value the chart's schema describes.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ValuePath>>)]
    pub parameters: Option<Vec<String>>,
    /// Hidden items are not offered to developers (admins still see them).
    #[serde(default)]
    pub hidden: bool,
}

/// The dotted path of a value, such as `auth.password`: no part of it empty.
pub struct ValuePath;

impl ValuePath {
    /// The check below as a regular expression, for the API document.
    pub const PATTERN: &'static str = "^[^.]+([.][^.]+)*$";

    pub fn is_valid(path: &str) -> bool {
        !path.is_empty() && path.split('.').all(|part| !part.is_empty())
    }
}

impl utoipa::PartialSchema for ValuePath {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .description(Some("The dotted path of a value, such as `auth.password`."))
            .into()
    }
}

impl ToSchema for ValuePath {}

fn any_version() -> String {
    "*".to_owned()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// One value a developer may set, as the install form shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldView {
    /// The dotted path of the value (`auth.password`).
    pub path: String,
    /// `string`, `integer`, `number`, `boolean`, `array` or `object`.
    pub kind: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// What it is unless a developer says otherwise: the item's value,
    /// else the chart's (never shown for a secret).
    pub default: Option<serde_json::Value>,
    /// The only values allowed, when the schema lists them.
    pub choices: Vec<serde_json::Value>,
    pub required: bool,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// A password or other secret (`format: password` or `writeOnly`):
    /// forms hide what is typed.
    pub secret: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    /// What the admin gave (the body of an edit).
    pub spec: ItemSpec,
    /// The icon to show: the item's, else the chart's.
    pub icon: Option<String>,
    /// The chart version the item's range picked when it was last saved
    /// (each install and upgrade picks again), and what the chart says of
    /// itself.
    pub chart_version: String,
    pub app_version: Option<String>,
    pub chart_description: Option<String>,
    /// What developers may set, from the chart's `values.schema.json`
    /// (from its `values.yaml` when it has no schema).
    pub fields: Vec<FieldView>,
    /// Whether the chart has a `values.schema.json` that values are
    /// checked against.
    pub has_schema: bool,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_by: String,
    pub updated_at: Timestamp,
}

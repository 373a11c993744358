//! Catalog items: what developers install. Each names a chart of a
//! repository and a version or range; saving one fetches that chart, so
//! its fields (from `values.schema.json`) are known and its values checked
//! before anything is stored.

use std::path::PathBuf;

use berth_auth::policy::{self, Action};
use berth_auth::{Actor, actor_of};
use berth_core::audit::{EventResource, NewEvent, Outcome};
use berth_core::catalog::{ChartVersionView, FieldView, ItemSpec, ItemView, ValuePath};
use berth_core::time::Timestamp;
use berth_core::{Error, ErrorCode};
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use crate::chart::{self, ChartFiles};
use crate::values;
use crate::{Catalog, INDEXES, REPOSITORIES, RepositoryRecord, check_name};

/// Items by name.
pub const ITEMS: Table<ItemRecord> = Table::new("catalog.items");

/// The largest chart archive read.
const MAX_ARCHIVE: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub spec: ItemSpec,
    /// The chart version picked when the item was last saved.
    pub chart_version: String,
    pub app_version: Option<String>,
    pub chart_description: Option<String>,
    pub chart_icon: Option<String>,
    pub fields: Vec<FieldView>,
    pub has_schema: bool,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_by: String,
    pub updated_at: Timestamp,
}

impl ItemRecord {
    fn view(self) -> ItemView {
        ItemView {
            icon: self.spec.icon.clone().or(self.chart_icon),
            spec: self.spec,
            chart_version: self.chart_version,
            app_version: self.app_version,
            chart_description: self.chart_description,
            fields: self.fields,
            has_schema: self.has_schema,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_by: self.updated_by,
            updated_at: self.updated_at,
        }
    }
}

/// A chart ready to install: its archive, and the values Helm is given,
/// checked.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub item: String,
    pub chart: String,
    pub version: String,
    pub archive: Vec<u8>,
    /// The item's values with the developer's over them.
    pub helm_values: Value,
}

/// A chart version resolved and fetched.
struct Fetched {
    version: ChartVersionView,
    archive: Vec<u8>,
    files: ChartFiles,
}

pub(crate) fn resource(name: &str) -> EventResource {
    EventResource {
        kind: "catalog_item".to_owned(),
        id: Some(name.to_owned()),
        name: Some(name.to_owned()),
        space: None,
    }
}

/// The newest version matching `range`: the exact version when one is
/// named so, else the newest that the semver range takes (pre-releases
/// only when the range names one).
fn pick<'v>(
    versions: &'v [ChartVersionView],
    range: &str,
) -> Result<Option<&'v ChartVersionView>, Error> {
    if let Some(exact) = versions.iter().find(|v| v.version == range) {
        return Ok(Some(exact));
    }
    let req = semver::VersionReq::parse(range).map_err(|e| {
        Error::invalid(
            "version",
            format!("{range:?} is neither a version of the chart nor a semver range: {e}"),
        )
    })?;
    Ok(versions.iter().find(|v| {
        semver::Version::parse(v.version.trim_start_matches('v')).is_ok_and(|v| req.matches(&v))
    }))
}

impl Catalog {
    fn is_admin(actor: &Actor) -> bool {
        policy::authorize(actor, Action::ManageCatalog).is_ok()
    }

    fn item_record(&self, name: &str) -> Result<ItemRecord, Error> {
        self.audit
            .store()
            .get(ITEMS, name)?
            .ok_or_else(|| Error::not_found("catalog item", name))
    }

    /// Where an archive is kept once fetched: under its repository, named
    /// by the SHA-256 of its URL (names and versions come from a remote
    /// index, and are never parts of a path).
    fn archive_path(&self, repository: &str, url: &str) -> PathBuf {
        self.cache_dir.join("charts").join(repository).join(format!(
            "{}.tgz",
            hex::encode(sha2::Sha256::digest(url.as_bytes()))
        ))
    }

    /// Forgets the archives fetched from a repository (it was removed).
    pub(crate) fn forget_archives(&self, repository: &str) {
        let dir = self.cache_dir.join("charts").join(repository);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a removed repository's chart archives");
        }
    }

    /// Resolves `range` in the repository's cached index and fetches that
    /// version's archive (once: it is kept under the cache folder), checked
    /// against the index's digest.
    async fn fetch_chart(
        &self,
        repository: &str,
        chart: &str,
        range: &str,
    ) -> Result<Fetched, Error> {
        let record: RepositoryRecord = self
            .audit
            .store()
            .get(REPOSITORIES, repository)?
            .ok_or_else(|| Error::not_found("chart repository", repository))?;
        let charts = self
            .audit
            .store()
            .get(INDEXES, repository)?
            .unwrap_or_default();
        let Some(found) = charts.iter().find(|c| c.name == chart) else {
            let mut names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
            names.truncate(20);
            return Err(Error::new(
                ErrorCode::NotFound,
                format!(
                    "repository {repository} has no chart {chart} (it has: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        };
        let version = pick(&found.versions, range)?.ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!(
                    "chart {chart} has no version matching {range:?} (newest: {})",
                    found
                        .versions
                        .first()
                        .map_or("none", |v| v.version.as_str())
                ),
            )
        })?;
        let url = version.urls.first().ok_or_else(|| {
            Error::unavailable(format!(
                "chart {chart} {} lists no archive URL in repository {repository}",
                version.version
            ))
        })?;
        let path = self.archive_path(repository, url);
        let matches = |bytes: &[u8]| {
            version.digest.as_deref().is_none_or(|digest| {
                hex::encode(sha2::Sha256::digest(bytes)) == digest.to_ascii_lowercase()
            })
        };
        let archive = match std::fs::read(&path) {
            Ok(bytes) if matches(&bytes) => bytes,
            _ => {
                let url = reqwest::Url::parse(url).map_err(|e| {
                    Error::unavailable(format!("chart {chart}: {url:?} is not a URL: {e}"))
                })?;
                let bytes = self
                    .download(&record, &url, MAX_ARCHIVE)
                    .await
                    .map_err(|e| {
                        Error::unavailable(format!(
                            "cannot fetch chart {chart} {} from repository {repository}: {e}",
                            version.version
                        ))
                    })?;
                if !matches(&bytes) {
                    return Err(Error::unavailable(format!(
                        "the archive of chart {chart} {} from {url} does not match the digest in repository {repository}'s index",
                        version.version
                    )));
                }
                keep(&path, &bytes)?;
                bytes
            }
        };
        let files = chart::read(&archive).map_err(|e| {
            Error::invalid("chart", format!("chart {chart} {}: {e}", version.version))
        })?;
        Ok(Fetched {
            version: version.clone(),
            archive,
            files,
        })
    }

    /// Checks an item's spec and fetches its chart; answers the record
    /// (times and authors left to the caller).
    pub(crate) async fn build(
        &self,
        spec: ItemSpec,
        by: &str,
        now: Timestamp,
    ) -> Result<ItemRecord, Error> {
        check_name(&spec.name)?;
        if !spec.values.is_object() {
            return Err(Error::invalid("values", "values must be a map"));
        }
        if let Some(parameters) = &spec.parameters
            && let Some(bad) = parameters.iter().find(|p| !ValuePath::is_valid(p))
        {
            return Err(Error::invalid(
                "parameters",
                format!("{bad:?} is not a value's path (write a.b.c)"),
            ));
        }
        if let Some(icon) = &spec.icon
            && !(icon.starts_with("https://") || icon.starts_with("http://"))
        {
            return Err(Error::invalid(
                "icon",
                format!("{icon:?} is not an http:// or https:// URL"),
            ));
        }
        let fetched = self
            .fetch_chart(&spec.repository, &spec.chart, &spec.version)
            .await?;
        let files = &fetched.files;
        // The item's values must fit the schema; what is required and left
        // out is for developers to give.
        values::check_partial(files.schema.as_ref(), &files.values, &spec.values)?;
        let fields = values::fields(
            files.schema.as_ref(),
            &files.values,
            &spec.values,
            spec.parameters.as_deref(),
        );
        Ok(ItemRecord {
            chart_version: fetched.version.version.clone(),
            app_version: files.app_version.clone(),
            chart_description: files.description.clone(),
            chart_icon: files.icon.clone(),
            has_schema: files.schema.is_some(),
            fields,
            spec,
            created_by: by.to_owned(),
            created_at: now,
            updated_by: by.to_owned(),
            updated_at: now,
        })
    }

    /// Creates an item (admins), once its chart was fetched and its values
    /// checked.
    pub async fn create_item(&self, actor: &Actor, spec: ItemSpec) -> Result<ItemView, Error> {
        let name = spec.name.clone();
        self.auth
            .allow(
                actor,
                Action::ManageCatalog,
                "catalog.item.create",
                resource(&name),
            )
            .await?;
        let result = async {
            if self.audit.store().get(ITEMS, &spec.name)?.is_some() {
                return Err(Error::conflict(format!(
                    "a catalog item is named {} already",
                    spec.name
                )));
            }
            let record = self
                .build(spec, actor.user.username.as_str(), self.clock.now())
                .await?;
            self.save(actor, "catalog.item.create", &record, |tx| {
                if tx.get(ITEMS, &record.spec.name)?.is_some() {
                    return Err(Error::conflict(format!(
                        "a catalog item is named {} already",
                        record.spec.name
                    ))
                    .into());
                }
                Ok(())
            })
            .await?;
            Ok(record.view())
        }
        .await;
        self.auth
            .audited(actor, "catalog.item.create", resource(&name), result)
            .await
    }

    /// Replaces an item (admins): its chart fetched again, its values
    /// checked again. Hiding or showing it is an edit of `hidden`.
    pub async fn update_item(
        &self,
        actor: &Actor,
        name: &str,
        spec: ItemSpec,
    ) -> Result<ItemView, Error> {
        self.auth
            .allow(
                actor,
                Action::ManageCatalog,
                "catalog.item.update",
                resource(name),
            )
            .await?;
        let result = async {
            let before = self.item_record(name)?;
            // Another name in the body would be another item: a conflict
            // with this one, not a malformed request.
            if spec.name != name {
                return Err(Error::conflict(format!(
                    "an item keeps its name: {:?} is not {name:?}",
                    spec.name
                )));
            }
            let by = actor.user.username.as_str();
            let now = self.clock.now();
            // Hiding or showing alone fetches nothing: an item whose chart
            // cannot be fetched any more can still be hidden.
            let same_but_hidden = ItemSpec {
                hidden: before.spec.hidden,
                ..spec.clone()
            } == before.spec;
            let mut record = if same_but_hidden {
                ItemRecord {
                    spec,
                    updated_by: by.to_owned(),
                    updated_at: now,
                    ..before.clone()
                }
            } else {
                self.build(spec, by, now).await?
            };
            record.created_by = before.created_by;
            record.created_at = before.created_at;
            self.save(actor, "catalog.item.update", &record, |tx| {
                match tx.get(ITEMS, name)? {
                    Some(_) => Ok(()),
                    None => Err(Error::not_found("catalog item", name).into()),
                }
            })
            .await?;
            Ok(record.view())
        }
        .await;
        self.auth
            .audited(actor, "catalog.item.update", resource(name), result)
            .await
    }

    async fn save(
        &self,
        actor: &Actor,
        action: &str,
        record: &ItemRecord,
        precondition: impl Fn(&berth_store::Tx<'_>) -> Result<(), berth_store::TxError>,
    ) -> Result<(), Error> {
        let event = NewEvent::new(
            actor_of(actor),
            action,
            resource(&record.spec.name),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .reason(format!(
            "{}/{} {}{}",
            record.spec.repository,
            record.spec.chart,
            record.chart_version,
            if record.spec.hidden { " (hidden)" } else { "" }
        ));
        self.audit
            .commit_durable(&[ITEMS.name], |tx| {
                precondition(tx)?;
                tx.put(ITEMS, &record.spec.name, record)?;
                Ok(((), event.clone()))
            })
            .await?;
        Ok(())
    }

    /// Deletes an item (admins). Applications installed from it stay, and
    /// can still be uninstalled.
    pub async fn delete_item(&self, actor: &Actor, name: &str) -> Result<ItemView, Error> {
        self.auth
            .allow(
                actor,
                Action::ManageCatalog,
                "catalog.item.delete",
                resource(name),
            )
            .await?;
        let record = self.item_record(name)?;
        let event = NewEvent::new(
            actor_of(actor),
            "catalog.item.delete",
            resource(name),
            Outcome::Success,
        )
        .origin(actor.origin.clone());
        self.audit
            .commit_durable(&[ITEMS.name], |tx| {
                tx.delete(ITEMS, name)?;
                Ok(((), event.clone()))
            })
            .await?;
        Ok(record.view())
    }

    /// The items: hidden ones only for admins.
    pub async fn items(&self, actor: &Actor) -> Result<Vec<ItemView>, Error> {
        self.auth
            .allow(
                actor,
                Action::ReadCatalog,
                "catalog.item.list",
                resource(""),
            )
            .await?;
        let admin = Self::is_admin(actor);
        let records: Vec<(String, ItemRecord)> = self.audit.store().scan(ITEMS, "")?;
        Ok(records
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| admin || !r.spec.hidden)
            .map(ItemRecord::view)
            .collect())
    }

    pub async fn item(&self, actor: &Actor, name: &str) -> Result<ItemView, Error> {
        self.auth
            .allow(
                actor,
                Action::ReadCatalog,
                "catalog.item.get",
                resource(name),
            )
            .await?;
        let record = self.item_record(name)?;
        if record.spec.hidden && !Self::is_admin(actor) {
            return Err(Error::not_found("catalog item", name));
        }
        Ok(record.view())
    }

    /// Whether any item installs from `repository` (which then cannot be
    /// removed).
    pub(crate) fn items_using(&self, repository: &str) -> Result<Vec<String>, Error> {
        let records: Vec<(String, ItemRecord)> = self.audit.store().scan(ITEMS, "")?;
        Ok(records
            .into_iter()
            .filter(|(_, r)| r.spec.repository == repository)
            .map(|(name, _)| name)
            .collect())
    }

    /// The chart to install for `item`: the newest version its range
    /// matches now, with `given` checked against what the item lets
    /// developers set and against the chart's schema. A hidden item is
    /// not found unless `hidden_too` (an upgrade of what is installed).
    /// The caller checks the developer may act in the space.
    pub async fn prepare(
        &self,
        item: &str,
        given: &Value,
        hidden_too: bool,
    ) -> Result<Prepared, Error> {
        let record = self.item_record(item)?;
        if record.spec.hidden && !hidden_too {
            return Err(Error::not_found("catalog item", item));
        }
        let spec = &record.spec;
        let fetched = self
            .fetch_chart(&spec.repository, &spec.chart, &spec.version)
            .await?;
        let files = &fetched.files;
        let helm_values = values::check(
            files.schema.as_ref(),
            &files.values,
            &spec.values,
            spec.parameters.as_deref(),
            given,
        )?;
        Ok(Prepared {
            item: spec.name.clone(),
            chart: spec.chart.clone(),
            version: fetched.version.version,
            archive: fetched.archive,
            helm_values,
        })
    }
}

/// Writes a fetched archive where it is kept: a temporary file renamed.
fn keep(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
    let temp = tempfile::NamedTempFile::new_in(dir)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, bytes)?;
            Ok(f)
        })
        .map_err(|e| Error::internal(format!("cannot write in {}: {e}", dir.display())))?;
    temp.persist(path)
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str) -> ChartVersionView {
        ChartVersionView {
            version: v.to_owned(),
            app_version: None,
            description: None,
            icon: None,
            created: None,
            digest: None,
            urls: Vec::new(),
            deprecated: false,
        }
    }

    #[test]
    fn a_range_picks_the_newest_match() {
        let versions = [
            version("2.0.0-rc.1"),
            version("1.10.0"),
            version("1.2.0"),
            version("0.9.0"),
        ];
        let picked = |range: &str| {
            pick(&versions, range)
                .expect("range")
                .map(|v| v.version.clone())
        };
        assert_eq!(picked("*").as_deref(), Some("1.10.0"));
        assert_eq!(picked("^1.2").as_deref(), Some("1.10.0"));
        assert_eq!(picked("~1.2").as_deref(), Some("1.2.0"));
        assert_eq!(picked("1.2.0").as_deref(), Some("1.2.0"));
        assert_eq!(picked("2.0.0-rc.1").as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(picked(">=3"), None);
        assert!(pick(&versions, "not a range").is_err());
    }
}

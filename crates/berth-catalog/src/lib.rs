//! The catalog's sources: chart repositories that admins add by URL
//! (credentials and certificate authorities by file path, so they come
//! from mounted Secrets and never through the API). Berth fetches each
//! repository's `index.yaml`, keeps what it lists, refreshes it on a
//! schedule and on demand, and reports a failed fetch on the repository
//! while keeping the charts of the last good one.
//!
//! Items (`items`) name a chart of a repository and a version or range;
//! developers install them (the `berth-apps` crate runs Helm).
//!
//! Invariant: a repository is only added once its index was fetched and
//! read, and an item only saved once its chart was fetched and its values
//! fit the chart's schema; a later failed fetch never loses the cached
//! charts.

pub mod chart;
pub mod index;
pub mod items;
pub mod samples;
pub mod values;

pub use items::{ITEMS, ItemRecord, Prepared};

use std::sync::Arc;
use std::time::Duration;

use berth_audit::Audit;
use berth_auth::policy::Action;
use berth_auth::{Actor, Auth, actor_of};
use berth_core::Error;
use berth_core::audit::{EventResource, NewEvent, Outcome};
use berth_core::catalog::{ChartView, NewRepository, RepositoryView};
use berth_core::time::{Clock, Timestamp};
use berth_store::Table;
use serde::{Deserialize, Serialize};

/// Repositories by name.
pub const REPOSITORIES: Table<RepositoryRecord> = Table::new("catalog.repositories");
/// Each repository's last good index, by name.
pub const INDEXES: Table<Vec<ChartView>> = Table::new("catalog.indexes");

/// The largest index read (a big public repository's is about 20 MB).
const MAX_INDEX: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositoryRecord {
    pub name: String,
    pub url: String,
    pub username_file: Option<String>,
    pub password_file: Option<String>,
    pub ca_file: Option<String>,
    pub added_by: String,
    pub added_at: Timestamp,
    pub fetched_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub failed_at: Option<Timestamp>,
    /// Charts and chart versions in the cached index, counted when it is
    /// stored (listing repositories does not read their indexes).
    pub charts: usize,
    pub versions: usize,
}

impl RepositoryRecord {
    /// As the API shows it (the same way as an item's record).
    fn view(self) -> RepositoryView {
        RepositoryView {
            charts: self.charts,
            versions: self.versions,
            name: self.name,
            url: self.url,
            username_file: self.username_file,
            password_file: self.password_file,
            ca_file: self.ca_file,
            added_by: self.added_by,
            added_at: self.added_at,
            fetched_at: self.fetched_at,
            last_error: self.last_error,
            failed_at: self.failed_at,
        }
    }

    fn count(&mut self, charts: &[ChartView]) {
        self.charts = charts.len();
        self.versions = charts.iter().map(|c| c.versions.len()).sum();
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How often every repository's index is fetched again.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// How long one fetch may take.
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// Credential and CA files must be under this folder (where their
    /// Secrets are mounted), so an admin cannot point Berth at any file it
    /// can read (its own keys, its service account's token). Without it,
    /// repositories take no files.
    pub credentials_dir: Option<std::path::PathBuf>,
    /// Offer the built-in samples (`berth-samples`, served by berthd
    /// itself): added once per store, and served while this is on.
    pub samples: bool,
}

impl CatalogConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.refresh_interval < Duration::from_secs(60) {
            return Err("refresh_interval must be at least 1m".to_owned());
        }
        if self.fetch_timeout < Duration::from_secs(1) {
            return Err("fetch_timeout must be at least 1s".to_owned());
        }
        Ok(())
    }

    /// A repository's file, checked to be under `credentials_dir`.
    fn file(&self, field: &str, path: &str) -> Result<std::path::PathBuf, String> {
        let Some(dir) = &self.credentials_dir else {
            return Err(format!(
                "{field}: repositories take no files until [catalog] credentials_dir names the folder their Secrets are mounted in"
            ));
        };
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("credentials_dir {}: {e}", dir.display()))?;
        let file = std::path::Path::new(path)
            .canonicalize()
            .map_err(|e| format!("{field} {path}: {e}"))?;
        if !file.starts_with(&dir) {
            return Err(format!(
                "{field} {path} is not under credentials_dir {}",
                dir.display()
            ));
        }
        Ok(file)
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            refresh_interval: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(30),
            credentials_dir: None,
            samples: true,
        }
    }
}

pub struct Catalog {
    auth: Arc<Auth>,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
    config: CatalogConfig,
    /// Where fetched chart archives are kept.
    cache_dir: std::path::PathBuf,
}

fn resource(name: &str) -> EventResource {
    EventResource {
        kind: "chart_repository".to_owned(),
        id: Some(name.to_owned()),
        name: Some(name.to_owned()),
        space: None,
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    berth_core::name::CatalogName::parse(name).map(drop)
}

fn read_secret_file(field: &str, path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .map_err(|e| format!("cannot read {field} {}: {e}", path.display()))
}

impl Catalog {
    /// `cache_dir` keeps fetched chart archives (under the data directory).
    pub fn new(
        auth: Arc<Auth>,
        config: CatalogConfig,
        clock: Arc<dyn Clock>,
        cache_dir: std::path::PathBuf,
    ) -> Arc<Catalog> {
        Arc::new(Catalog {
            audit: auth.audit().clone(),
            auth,
            clock,
            config,
            cache_dir,
        })
    }

    /// Checks the caller may do `action`; a refusal is audited as denied.
    async fn allowed(
        &self,
        actor: &Actor,
        action: Action<'_>,
        what: &str,
        name: &str,
    ) -> Result<(), Error> {
        self.auth.allow(actor, action, what, resource(name)).await
    }

    fn record(&self, name: &str) -> Result<RepositoryRecord, Error> {
        self.audit
            .store()
            .get(REPOSITORIES, name)?
            .ok_or_else(|| Error::not_found("chart repository", name))
    }

    /// A client for a repository: its timeout and certificate authorities.
    fn client(&self, record: &RepositoryRecord) -> Result<reqwest::Client, String> {
        let mut client = reqwest::Client::builder().timeout(self.config.fetch_timeout);
        if let Some(ca) = &record.ca_file {
            let ca_path = self.config.file("ca_file", ca)?;
            let pem =
                std::fs::read(&ca_path).map_err(|e| format!("cannot read ca_file {ca}: {e}"))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("ca_file {ca} is not PEM certificates: {e}"))?;
            for certificate in certificates {
                client = client.add_root_certificate(certificate);
            }
        }
        client.build().map_err(|e| e.to_string())
    }

    /// Fetches a file of a repository (its index, a chart archive), up to
    /// `max` bytes. The repository's credentials go only where the
    /// repository is (scheme, host and port): an index may list archives
    /// elsewhere, and those are fetched without them, as Helm does.
    async fn download(
        &self,
        record: &RepositoryRecord,
        url: &reqwest::Url,
        max: usize,
    ) -> Result<Vec<u8>, String> {
        let mut request = self.client(record)?.get(url.clone());
        let home = reqwest::Url::parse(&record.url).ok();
        let same_place = home.is_some_and(|home| {
            home.scheme() == url.scheme()
                && home.host_str() == url.host_str()
                && home.port_or_known_default() == url.port_or_known_default()
        });
        if same_place
            && let (Some(user), Some(password)) = (&record.username_file, &record.password_file)
        {
            request = request.basic_auth(
                read_secret_file("username_file", &self.config.file("username_file", user)?)?,
                Some(read_secret_file(
                    "password_file",
                    &self.config.file("password_file", password)?,
                )?),
            );
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("cannot fetch {url}: {}", berth_core::error::chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("cannot fetch {url}: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > max {
                return Err(format!("{url} is larger than {} MB", max >> 20));
            }
        }
        Ok(body)
    }

    /// Fetches and reads a repository's index.
    async fn fetch(&self, record: &RepositoryRecord) -> Result<Vec<ChartView>, String> {
        let base = reqwest::Url::parse(&format!("{}/", record.url.trim_end_matches('/')))
            .map_err(|e| format!("{} is not a URL: {e}", record.url))?;
        let index_url = base
            .join("index.yaml")
            .map_err(|e| format!("{} is not a URL: {e}", record.url))?;
        let body = self.download(record, &index_url, MAX_INDEX).await?;
        index::parse(&body, &base)
            .map_err(|e| format!("{index_url} is not a chart repository index: {e}"))
    }

    /// Adds a repository, once its index was fetched and read. A refusal
    /// (a bad URL, an index that cannot be fetched) is audited as a
    /// failure.
    pub async fn add(&self, actor: &Actor, req: NewRepository) -> Result<RepositoryView, Error> {
        self.allowed(
            actor,
            Action::ManageCatalog,
            "catalog.repository.add",
            &req.name,
        )
        .await?;
        let name = req.name.clone();
        let result = self.add_checked(actor, req).await;
        self.auth
            .audited(actor, "catalog.repository.add", resource(&name), result)
            .await
    }

    async fn add_checked(
        &self,
        actor: &Actor,
        req: NewRepository,
    ) -> Result<RepositoryView, Error> {
        check_name(&req.name)?;
        for (field, path) in [
            ("username_file", &req.username_file),
            ("password_file", &req.password_file),
            ("ca_file", &req.ca_file),
        ] {
            // Which files of the daemon's machine may be read is the
            // daemon's to say: any other is refused as not the caller's.
            if let Some(path) = path {
                self.config.file(field, path).map_err(Error::forbidden)?;
            }
        }
        if !(req.url.starts_with("https://") || req.url.starts_with("http://")) {
            return Err(Error::invalid(
                "url",
                format!("{:?} is not an http:// or https:// URL", req.url),
            ));
        }
        if req.username_file.is_some() != req.password_file.is_some() {
            return Err(Error::invalid(
                "password_file",
                "give both username_file and password_file, or neither",
            ));
        }
        if self.audit.store().get(REPOSITORIES, &req.name)?.is_some() {
            return Err(Error::conflict(format!(
                "a chart repository is named {} already",
                req.name
            )));
        }
        let now = self.clock.now();
        let mut record = RepositoryRecord {
            name: req.name.clone(),
            url: req.url.trim_end_matches('/').to_owned(),
            username_file: req.username_file,
            password_file: req.password_file,
            ca_file: req.ca_file,
            added_by: actor.user.username.to_string(),
            added_at: now,
            fetched_at: Some(now),
            last_error: None,
            failed_at: None,
            charts: 0,
            versions: 0,
        };
        let charts = self
            .fetch(&record)
            .await
            .map_err(|e| Error::invalid("url", e))?;
        record.count(&charts);
        let event = NewEvent::new(
            actor_of(actor),
            "catalog.repository.add",
            resource(&record.name),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .reason(format!("{} ({} charts)", record.url, charts.len()));
        self.audit
            .commit_durable(&[REPOSITORIES.name, INDEXES.name], |tx| {
                tx.put(REPOSITORIES, &record.name, &record)?;
                tx.put(INDEXES, &record.name, &charts)?;
                Ok(((), event.clone()))
            })
            .await?;
        Ok(record.view())
    }

    pub async fn list(&self, actor: &Actor) -> Result<Vec<RepositoryView>, Error> {
        self.allowed(
            actor,
            Action::ReadCatalogSources,
            "catalog.repository.list",
            "",
        )
        .await?;
        let records: Vec<(String, RepositoryRecord)> = self.audit.store().scan(REPOSITORIES, "")?;
        Ok(records.into_iter().map(|(_, r)| r.view()).collect())
    }

    pub async fn get(&self, actor: &Actor, name: &str) -> Result<RepositoryView, Error> {
        self.allowed(
            actor,
            Action::ReadCatalogSources,
            "catalog.repository.get",
            name,
        )
        .await?;
        Ok(self.record(name)?.view())
    }

    /// The charts of a repository's last good index.
    pub async fn charts(&self, actor: &Actor, name: &str) -> Result<Vec<ChartView>, Error> {
        self.allowed(
            actor,
            Action::ReadCatalogSources,
            "catalog.repository.charts",
            name,
        )
        .await?;
        self.record(name)?;
        Ok(self.audit.store().get(INDEXES, name)?.unwrap_or_default())
    }

    /// Fetches a repository's index now; a failure is kept on the
    /// repository (and answered), the cached charts stay.
    pub async fn refresh(&self, actor: &Actor, name: &str) -> Result<RepositoryView, Error> {
        self.allowed(
            actor,
            Action::ManageCatalog,
            "catalog.repository.refresh",
            name,
        )
        .await?;
        let record = self.record(name)?;
        let outcome = self.refresh_record(record).await?;
        let (view, failure) = outcome;
        let event = NewEvent::new(
            actor_of(actor),
            "catalog.repository.refresh",
            resource(name),
            if failure.is_some() {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        )
        .origin(actor.origin.clone())
        .reason(
            failure
                .clone()
                .unwrap_or_else(|| format!("{} charts", view.charts)),
        );
        self.audit.record_durable(event).await?;
        Ok(view)
    }

    /// Fetches and stores; answers the view and the failure, if any.
    async fn refresh_record(
        &self,
        mut record: RepositoryRecord,
    ) -> Result<(RepositoryView, Option<String>), Error> {
        let fetched = self.fetch(&record).await;
        let now = self.clock.now();
        let (charts, failure) = match fetched {
            Ok(charts) => {
                record.fetched_at = Some(now);
                record.last_error = None;
                record.failed_at = None;
                record.count(&charts);
                (Some(charts), None)
            }
            Err(error) => {
                record.last_error = Some(error.clone());
                record.failed_at = Some(now);
                (None, Some(error))
            }
        };
        self.audit
            .store()
            .transact(&[REPOSITORIES.name, INDEXES.name], |tx| {
                // Removed meanwhile: not brought back.
                if tx.get(REPOSITORIES, &record.name)?.is_none() {
                    return Ok(());
                }
                tx.put(REPOSITORIES, &record.name, &record)?;
                if let Some(charts) = &charts {
                    tx.put(INDEXES, &record.name, charts)?;
                }
                Ok(())
            })?;
        Ok((record.view(), failure))
    }

    pub async fn remove(&self, actor: &Actor, name: &str) -> Result<RepositoryView, Error> {
        self.allowed(
            actor,
            Action::ManageCatalog,
            "catalog.repository.remove",
            name,
        )
        .await?;
        let view = self.record(name)?.view();
        let users = self.items_using(name)?;
        if !users.is_empty() {
            let refused = Err(Error::conflict(format!(
                "catalog items install from repository {name}: {}; change or delete them first",
                users.join(", ")
            )));
            return self
                .auth
                .audited(actor, "catalog.repository.remove", resource(name), refused)
                .await;
        }
        let event = NewEvent::new(
            actor_of(actor),
            "catalog.repository.remove",
            resource(name),
            Outcome::Success,
        )
        .origin(actor.origin.clone());
        self.audit
            .commit_durable(&[REPOSITORIES.name, INDEXES.name], |tx| {
                tx.delete(REPOSITORIES, name)?;
                tx.delete(INDEXES, name)?;
                Ok(((), event.clone()))
            })
            .await?;
        self.forget_archives(name);
        Ok(view)
    }

    /// Fetches every repository's index again, forever, every
    /// `refresh_interval`.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let catalog = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(catalog.config.refresh_interval).await;
                let records: Vec<(String, RepositoryRecord)> =
                    match catalog.audit.store().scan(REPOSITORIES, "") {
                        Ok(records) => records,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot list chart repositories");
                            continue;
                        }
                    };
                for (name, record) in records {
                    match catalog.refresh_record(record).await {
                        Ok((_, Some(error))) => {
                            tracing::warn!(repository = %name, %error, "a chart repository's index could not be refreshed");
                            let event = NewEvent::new(
                                berth_core::audit::EventActor::system(),
                                "catalog.repository.refresh",
                                resource(&name),
                                Outcome::Failure,
                            )
                            .reason(error);
                            catalog.auth.record(event).await;
                        }
                        Ok((_, None)) => {}
                        Err(e) => {
                            tracing::warn!(repository = %name, error = %e.message, "cannot store a chart repository's index")
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_files_must_be_under_the_configured_folder() {
        let secrets = tempfile::tempdir().expect("secrets");
        let elsewhere = tempfile::tempdir().expect("elsewhere");
        std::fs::write(secrets.path().join("password"), "p").expect("write");
        std::fs::write(elsewhere.path().join("token"), "t").expect("write");
        std::os::unix::fs::symlink(elsewhere.path().join("token"), secrets.path().join("link"))
            .expect("symlink");
        let mut config = CatalogConfig::default();
        let inside = secrets.path().join("password");
        let err = config
            .file("password_file", inside.to_str().expect("utf-8"))
            .expect_err("no folder");
        assert!(err.contains("credentials_dir"), "{err}");
        config.credentials_dir = Some(secrets.path().to_owned());
        assert!(
            config
                .file("password_file", inside.to_str().expect("utf-8"))
                .is_ok()
        );
        let outside = elsewhere.path().join("token");
        let err = config
            .file("password_file", outside.to_str().expect("utf-8"))
            .expect_err("outside");
        assert!(err.contains("is not under credentials_dir"), "{err}");
        // A link inside that points out is out.
        let link = secrets.path().join("link");
        let err = config
            .file("password_file", link.to_str().expect("utf-8"))
            .expect_err("link");
        assert!(err.contains("is not under credentials_dir"), "{err}");
        let dotdot = format!("{}/../{}", secrets.path().display(), "x");
        assert!(config.file("password_file", &dotdot).is_err());
    }

    #[test]
    fn intervals_too_short_are_refused() {
        let mut config = CatalogConfig::default();
        assert!(config.validate().is_ok());
        config.refresh_interval = Duration::ZERO;
        assert!(
            config
                .validate()
                .expect_err("zero")
                .contains("refresh_interval")
        );
        config.refresh_interval = Duration::from_secs(3600);
        config.fetch_timeout = Duration::ZERO;
        assert!(
            config
                .validate()
                .expect_err("zero")
                .contains("fetch_timeout")
        );
    }
}

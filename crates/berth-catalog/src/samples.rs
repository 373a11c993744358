//! The built-in samples in the catalog: the `berth-samples` repository,
//! which berthd serves itself (on its own loopback address), and an item
//! for each of its charts, added by the system once per store, so that
//! samples an admin removed stay removed. Only while `[catalog] samples`
//! is on.

use std::net::SocketAddr;

use berth_core::Error;
use berth_core::audit::{EventActor, NewEvent, Outcome};
use berth_core::catalog::ItemSpec;
use berth_core::time::Timestamp;
use berth_samples::{API, REPOSITORY, WEB};
use berth_store::Table;
use serde::{Deserialize, Serialize};

use crate::items::{self, ITEMS};
use crate::{Catalog, INDEXES, REPOSITORIES, RepositoryRecord, resource};

/// That the samples were added, and where from: one record, kept after an
/// admin removes them.
pub const SAMPLES: Table<SamplesRecord> = Table::new("catalog.samples");
const ADDED: &str = "added";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplesRecord {
    pub added_at: Timestamp,
    pub url: String,
}

/// Where a daemon bound to `addr` serves the samples to itself: its
/// loopback, whatever address it listens on (`0.0.0.0` in a pod).
pub fn url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}{}", berth_samples::PATH)
}

/// The items the samples come with, one per chart.
pub fn items() -> Vec<ItemSpec> {
    let item = |name: &str, description: &str| ItemSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        icon: None,
        repository: REPOSITORY.to_owned(),
        chart: name.to_owned(),
        version: "*".to_owned(),
        values: serde_json::json!({}),
        parameters: None,
        hidden: false,
    };
    vec![
        item(
            WEB,
            "A sample web app to try `berth up` on: `berth quickstart` installs it and writes its source",
        ),
        item(
            API,
            "A sample HTTP API that answers the greeting you set; hello-web shows it",
        ),
    ]
}

impl Catalog {
    /// Whether the samples are offered (and so served).
    pub fn samples(&self) -> bool {
        self.config.samples
    }

    /// Adds the samples, served at `url`, once per store: the repository
    /// (its index fetched from `url`, like any other) and its items, each
    /// with its audit event by the system. Names an admin took already are
    /// left alone. On later starts, points the repository the system added
    /// at `url` again when the address changed, and refreshes it.
    pub async fn add_samples(&self, url: &str) -> Result<(), Error> {
        if !self.config.samples {
            return Ok(());
        }
        let store = self.audit.store();
        if let Some(added) = store.get(SAMPLES, ADDED)? {
            return self.follow_samples(&added, url).await;
        }
        if store.get(REPOSITORIES, REPOSITORY)?.is_some() {
            tracing::info!(
                repository = REPOSITORY,
                "a chart repository has the samples' name already; the samples are not added"
            );
            return Ok(());
        }
        let system = EventActor::system();
        let now = self.clock.now();
        let mut record = RepositoryRecord {
            name: REPOSITORY.to_owned(),
            url: url.to_owned(),
            username_file: None,
            password_file: None,
            ca_file: None,
            added_by: system.name.clone(),
            added_at: now,
            fetched_at: Some(now),
            last_error: None,
            failed_at: None,
            charts: 0,
            versions: 0,
        };
        let charts = self.fetch(&record).await.map_err(|e| {
            Error::unavailable(format!("cannot read the samples' index at {url}: {e}"))
        })?;
        record.count(&charts);
        let event = NewEvent::new(
            system.clone(),
            "catalog.repository.add",
            resource(REPOSITORY),
            Outcome::Success,
        )
        .reason(format!(
            "the built-in samples: {url} ({} charts)",
            charts.len()
        ));
        let added = SamplesRecord {
            added_at: now,
            url: url.to_owned(),
        };
        self.audit
            .commit_durable(&[REPOSITORIES.name, INDEXES.name, SAMPLES.name], |tx| {
                if tx.get(REPOSITORIES, REPOSITORY)?.is_some() {
                    return Err(Error::conflict(format!(
                        "a chart repository is named {REPOSITORY} already"
                    ))
                    .into());
                }
                tx.put(REPOSITORIES, REPOSITORY, &record)?;
                tx.put(INDEXES, REPOSITORY, &charts)?;
                tx.put(SAMPLES, ADDED, &added)?;
                Ok(((), event.clone()))
            })
            .await?;
        for spec in items() {
            let name = spec.name.clone();
            if let Err(e) = self.add_sample_item(spec, now).await {
                tracing::warn!(item = %name, error = %e.detail(), "cannot add a sample item");
            }
        }
        tracing::info!(%url, "the built-in samples are in the catalog");
        Ok(())
    }

    /// An item of the samples, made as an admin's would be (its chart
    /// fetched, its values checked), by the system.
    async fn add_sample_item(&self, spec: ItemSpec, now: Timestamp) -> Result<(), Error> {
        if self.audit.store().get(ITEMS, &spec.name)?.is_some() {
            tracing::info!(item = %spec.name, "an item has a sample's name already; it is left alone");
            return Ok(());
        }
        let system = EventActor::system();
        let record = self.build(spec, &system.name, now).await?;
        let name = record.spec.name.clone();
        let event = NewEvent::new(
            system,
            "catalog.item.create",
            items::resource(&name),
            Outcome::Success,
        )
        .reason(format!(
            "{}/{} {} (a built-in sample)",
            record.spec.repository, record.spec.chart, record.chart_version
        ));
        self.audit
            .commit_durable(&[ITEMS.name], |tx| {
                if tx.get(ITEMS, &name)?.is_some() {
                    return Err(
                        Error::conflict(format!("a catalog item is named {name} already")).into(),
                    );
                }
                tx.put(ITEMS, &name, &record)?;
                Ok(((), event.clone()))
            })
            .await
    }

    /// The samples were added: when berthd's address changed, the
    /// repository the system added follows it; either way its index is
    /// fetched again, so a new berthd's samples show at once.
    async fn follow_samples(&self, added: &SamplesRecord, url: &str) -> Result<(), Error> {
        let Some(mut record) = self.audit.store().get(REPOSITORIES, REPOSITORY)? else {
            return Ok(());
        };
        if record.added_by != EventActor::system().name || record.added_at != added.added_at {
            // Removed by an admin, and another repository took the name.
            return Ok(());
        }
        if record.url != url {
            let before = std::mem::replace(&mut record.url, url.to_owned());
            let charts = self.fetch(&record).await.map_err(|e| {
                Error::unavailable(format!("cannot read the samples' index at {url}: {e}"))
            })?;
            let now = self.clock.now();
            record.count(&charts);
            record.fetched_at = Some(now);
            record.last_error = None;
            record.failed_at = None;
            let event = NewEvent::new(
                EventActor::system(),
                "catalog.repository.refresh",
                resource(REPOSITORY),
                Outcome::Success,
            )
            .reason(format!(
                "the built-in samples moved to {url} ({} charts)",
                charts.len()
            ))
            .change("url", serde_json::json!(before), serde_json::json!(url));
            return self
                .audit
                .commit_durable(&[REPOSITORIES.name, INDEXES.name], |tx| {
                    tx.put(REPOSITORIES, REPOSITORY, &record)?;
                    tx.put(INDEXES, REPOSITORY, &charts)?;
                    Ok(((), event.clone()))
                })
                .await;
        }
        if let (_, Some(error)) = self.refresh_record(record).await? {
            tracing::warn!(repository = REPOSITORY, %error, "the samples' index could not be refreshed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_the_daemons_loopback() {
        let url = |addr: &str| url(addr.parse().expect("addr"));
        assert_eq!(
            url("127.0.0.1:8080"),
            "http://127.0.0.1:8080/samples/charts"
        );
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/samples/charts");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/samples/charts");
        assert_eq!(url("10.0.0.5:80"), "http://10.0.0.5:80/samples/charts");
    }

    #[test]
    fn every_chart_has_an_item() {
        let names: Vec<String> = items().into_iter().map(|i| i.chart).collect();
        let charts: Vec<&str> = berth_samples::CHARTS.iter().map(|c| c.name).collect();
        assert_eq!(names, charts);
    }
}

//! What the store holds about releases (`apps.releases`, by `space/name`),
//! how a record reads as the API's view, and Helm's record of a release
//! as `helm status` prints it. Records of an earlier space of the same
//! name are forgotten as they are read.

use berth_core::Error;
use berth_core::app::{AppView, HelmReleaseView, OperationKind, OperationState, OperationView};
use berth_core::audit::EventResource;
use berth_core::time::Timestamp;
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Apps;

/// Releases by `space/name`.
pub const APPS: Table<AppRecord> = Table::new("apps.releases");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub space: String,
    pub name: String,
    pub item: String,
    pub chart: String,
    pub chart_version: String,
    /// What developers gave, at install and upgrades.
    pub values: Value,
    pub operation: OperationView,
    /// The latest operation's output.
    pub log: String,
    /// Helm's record of the release as `helm status` read it after the
    /// latest operation that could; none before the first install.
    pub release: Option<HelmReleaseView>,
    pub installed_by: String,
    pub installed_at: Timestamp,
}

pub(crate) fn key(space: &str, name: &str) -> String {
    format!("{space}/{name}")
}

pub(crate) fn resource(space: &str, name: &str) -> EventResource {
    EventResource {
        kind: "app".to_owned(),
        id: Some(key(space, name)),
        name: Some(name.to_owned()),
        space: Some(space.to_owned()),
    }
}

/// An app's status, from its latest operation (a succeeded uninstall
/// leaves no app to have one).
pub(crate) fn status(operation: &OperationView) -> &'static str {
    match (operation.state, operation.kind) {
        (OperationState::Running, OperationKind::Install) => "installing",
        (OperationState::Running, OperationKind::Upgrade) => "upgrading",
        (OperationState::Running, OperationKind::Uninstall) => "uninstalling",
        (OperationState::Succeeded, _) => "deployed",
        (OperationState::Failed, _) => "failed",
    }
}

/// Helm's record of a release, from the JSON `helm status --output json`
/// prints (the same object Helm keeps in the space).
pub(crate) fn release_view(output: &str) -> Option<HelmReleaseView> {
    let release: Value = output.lines().rev().find_map(|line| {
        serde_json::from_str::<Value>(line.trim())
            .ok()
            .filter(Value::is_object)
    })?;
    let text = |pointer: &str| {
        release
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(HelmReleaseView {
        revision: release["version"].as_u64()? as u32,
        status: text("/info/status").unwrap_or_default(),
        description: text("/info/description"),
        notes: text("/info/notes").filter(|n| !n.is_empty()),
        updated: text("/info/last_deployed"),
    })
}

impl Apps {
    pub(crate) fn record(&self, space: &str, name: &str) -> Result<Option<AppRecord>, Error> {
        Ok(self.audit.store().get(APPS, &key(space, name))?)
    }

    fn existing(&self, space: &str, name: &str) -> Result<AppRecord, Error> {
        self.record(space, name)?
            .ok_or_else(|| Error::not_found("app", format!("{name} in space {space}")))
    }

    /// Whether a record is of an earlier space of that name (or of a space
    /// that is gone): its release went with that space's namespace.
    pub(crate) fn stale(&self, record: &AppRecord) -> Result<bool, Error> {
        Ok(match self.spaces.created_at(&record.space)? {
            Some(created) => created > record.installed_at,
            None => true,
        })
    }

    /// The space's records, those of an earlier space of its name
    /// forgotten first (a new space never shows another's apps).
    pub(crate) async fn current(&self, space: &str) -> Result<Vec<AppRecord>, Error> {
        let records: Vec<(String, AppRecord)> =
            self.audit.store().scan(APPS, &format!("{space}/"))?;
        let mut out = Vec::with_capacity(records.len());
        for (id, record) in records {
            if self.stale(&record)? {
                self.forget(&id, &record).await?;
            } else {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// An app of the space (as [`Apps::current`] would list it).
    pub(crate) async fn current_one(&self, space: &str, name: &str) -> Result<AppRecord, Error> {
        let record = self.existing(space, name)?;
        if self.stale(&record)? {
            self.forget(&key(space, name), &record).await?;
            return Err(Error::not_found("app", format!("{name} in space {space}")));
        }
        Ok(record)
    }

    pub(crate) fn view(record: AppRecord) -> AppView {
        AppView {
            space: record.space,
            name: record.name,
            item: record.item,
            chart: record.chart,
            chart_version: record.chart_version,
            values: record.values,
            status: status(&record.operation).to_owned(),
            operation: record.operation,
            release: record.release,
            installed_by: record.installed_by,
            installed_at: record.installed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_status_output_is_read_as_the_release() {
        let output = r#"WARNING: Kubernetes configuration file is group-readable.
{"name":"demo","info":{"first_deployed":"2026-11-27T10:00:00Z","last_deployed":"2026-11-27T10:05:00Z","description":"Upgrade complete","status":"deployed","notes":"demo serves on port 80.\n","resources":{}},"config":{"replicaCount":2},"manifest":"---","version":2,"namespace":"shop","apply_method":"ssa"}
"#;
        let release = release_view(output).expect("a release");
        assert_eq!(release.revision, 2);
        assert_eq!(release.status, "deployed");
        assert_eq!(release.notes.as_deref(), Some("demo serves on port 80.\n"));
        assert_eq!(release_view("Error: release: not found\n"), None);
    }
}

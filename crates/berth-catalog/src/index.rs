//! A chart repository's `index.yaml`, read into the compact form the
//! catalog keeps: each chart's versions, newest first, with absolute
//! archive URLs.

use std::collections::BTreeMap;

use berth_core::catalog::{ChartVersionView, ChartView};
use serde::Deserialize;

#[derive(Deserialize)]
struct IndexFile {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    version: serde_yaml_ng::Value,
    #[serde(rename = "appVersion")]
    app_version: Option<serde_yaml_ng::Value>,
    description: Option<String>,
    icon: Option<String>,
    created: Option<serde_yaml_ng::Value>,
    digest: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    deprecated: bool,
}

/// A YAML scalar as text (`appVersion: 1.16` is a number to YAML).
pub(crate) fn text(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads an index fetched from `base` (the repository's URL, for relative
/// archive URLs).
pub fn parse(bytes: &[u8], base: &reqwest::Url) -> Result<Vec<ChartView>, String> {
    let file: IndexFile = serde_yaml_ng::from_slice(bytes).map_err(|e| e.to_string())?;
    match file.api_version.as_deref() {
        Some("v1") => {}
        Some(other) => return Err(format!("apiVersion {other:?} is not v1")),
        None => return Err("it has no apiVersion (a chart repository index says v1)".to_owned()),
    }
    let mut charts = Vec::new();
    for (name, entries) in file.entries {
        let mut versions: Vec<ChartVersionView> = Vec::new();
        for entry in entries {
            let Some(version) = text(&entry.version) else {
                return Err(format!("chart {name} has a version that is not text"));
            };
            let urls = entry
                .urls
                .iter()
                .map(|u| {
                    base.join(u).map(|u| u.to_string()).map_err(|e| {
                        format!("chart {name} {version}: the URL {u:?} is not valid: {e}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            versions.push(ChartVersionView {
                app_version: entry.app_version.as_ref().and_then(text),
                description: entry.description,
                icon: entry.icon,
                created: entry.created.as_ref().and_then(text),
                digest: entry.digest,
                urls,
                deprecated: entry.deprecated,
                version,
            });
        }
        // Newest first: semantic versions by their order, then any others
        // by their text (a total order, whatever the index holds).
        versions.sort_by_cached_key(|v| {
            let parsed = semver::Version::parse(v.version.trim_start_matches('v')).ok();
            (
                std::cmp::Reverse(parsed.is_some()),
                std::cmp::Reverse(parsed),
                std::cmp::Reverse(v.version.clone()),
            )
        });
        charts.push(ChartView { name, versions });
    }
    Ok(charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_reads_newest_first_with_absolute_urls() {
        let base = reqwest::Url::parse("https://charts.example.com/stable/").expect("url");
        let index = br#"
apiVersion: v1
entries:
  redis:
    - version: 1.2.0
      appVersion: 7.2
      urls: [redis-1.2.0.tgz]
      digest: abc
    - version: 1.10.0
      appVersion: "7.4"
      description: An in-memory store
      urls: [https://mirror.example.com/redis-1.10.0.tgz]
generated: "2026-11-27T00:00:00Z"
"#;
        let charts = parse(index, &base).expect("valid");
        assert_eq!(charts.len(), 1);
        let versions = &charts[0].versions;
        assert_eq!(versions[0].version, "1.10.0");
        assert_eq!(versions[1].version, "1.2.0");
        assert_eq!(versions[1].app_version.as_deref(), Some("7.2"));
        assert_eq!(
            versions[1].urls,
            ["https://charts.example.com/stable/redis-1.2.0.tgz"]
        );
        assert_eq!(
            versions[0].urls,
            ["https://mirror.example.com/redis-1.10.0.tgz"]
        );
    }

    #[test]
    fn what_is_not_an_index_is_named() {
        let base = reqwest::Url::parse("https://charts.example.com/").expect("url");
        let err = parse(b"entries: {}\n", &base).expect_err("no apiVersion");
        assert!(err.contains("apiVersion"), "{err}");
        let err = parse(b"<html>not found</html>", &base).expect_err("html");
        assert!(!err.is_empty());
    }
}

//! Packaging charts as Helm does, deterministically: a gzipped tar of
//! `<chart>/<path>` entries in path order with fixed modes, owners and
//! times, and an `index.yaml` listing each archive with its digest.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::Chart;

/// A chart repository's files: `index.yaml` and one archive per chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    files: BTreeMap<String, Vec<u8>>,
}

/// What the index says of a chart, read from its `Chart.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    #[serde(rename = "apiVersion")]
    api_version: String,
    name: String,
    version: String,
    #[serde(rename = "appVersion", skip_serializing_if = "Option::is_none")]
    app_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
}

#[derive(Serialize)]
struct Entry {
    #[serde(flatten)]
    meta: Meta,
    digest: String,
    urls: Vec<String>,
}

#[derive(Serialize)]
struct Index {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    entries: BTreeMap<String, Vec<Entry>>,
}

impl Repository {
    /// Packages `charts` and writes their index; archive URLs in the index
    /// are relative, so the repository works wherever it is served.
    pub fn package(charts: &[Chart]) -> Result<Repository, String> {
        let mut files = BTreeMap::new();
        let mut entries = BTreeMap::new();
        for chart in charts {
            let (_, chart_yaml) = chart
                .files
                .iter()
                .find(|(path, _)| *path == "Chart.yaml")
                .ok_or_else(|| format!("chart {} has no Chart.yaml", chart.name))?;
            let meta: Meta = serde_yaml_ng::from_slice(chart_yaml)
                .map_err(|e| format!("chart {}: Chart.yaml: {e}", chart.name))?;
            if meta.name != chart.name {
                return Err(format!(
                    "chart {} says its name is {} in Chart.yaml",
                    chart.name, meta.name
                ));
            }
            let archive = archive(chart).map_err(|e| format!("chart {}: {e}", chart.name))?;
            let file = format!("{}-{}.tgz", meta.name, meta.version);
            let entry = Entry {
                digest: hex::encode(sha2::Sha256::digest(&archive)),
                urls: vec![file.clone()],
                meta,
            };
            entries.insert(chart.name.to_owned(), vec![entry]);
            files.insert(file, archive);
        }
        let index = serde_yaml_ng::to_string(&Index {
            api_version: "v1",
            entries,
        })
        .map_err(|e| format!("index.yaml: {e}"))?;
        files.insert("index.yaml".to_owned(), index.into_bytes());
        Ok(Repository { files })
    }

    /// A file of the repository by its name (`index.yaml`,
    /// `hello-web-0.1.0.tgz`).
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// The names of its files.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

/// A chart's `.tgz`: the same bytes for the same files, on any machine.
fn archive(chart: &Chart) -> Result<Vec<u8>, std::io::Error> {
    let mut sorted: Vec<&(&str, &[u8])> = chart.files.iter().collect();
    sorted.sort_by_key(|(path, _)| *path);
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{}/{path}", chart.name), *bytes)?;
    }
    let mut gzip = tar.into_inner()?;
    gzip.flush()?;
    gzip.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn packaging_is_the_same_every_time() {
        let first = Repository::package(crate::CHARTS).expect("package");
        let second = Repository::package(crate::CHARTS).expect("package");
        assert_eq!(first, second);
    }

    #[test]
    fn the_index_lists_each_archive_with_its_digest() {
        let repository = Repository::package(crate::CHARTS).expect("package");
        let index: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(repository.file("index.yaml").expect("index")).expect("yaml");
        assert_eq!(index["apiVersion"].as_str(), Some("v1"));
        for chart in crate::CHARTS {
            let entry = &index["entries"][chart.name][0];
            let url = entry["urls"][0].as_str().expect("url");
            let archive = repository.file(url).expect("archive");
            assert_eq!(
                entry["digest"].as_str(),
                Some(hex::encode(sha2::Sha256::digest(archive)).as_str())
            );
            assert_eq!(entry["version"].as_str(), Some("0.1.0"));
            // The archive holds every file under the chart's folder.
            let mut names = Vec::new();
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
            for entry in tar.entries().expect("entries") {
                let mut entry = entry.expect("entry");
                let name = entry.path().expect("path").display().to_string();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("read");
                let (_, bytes) = chart
                    .files
                    .iter()
                    .find(|(path, _)| format!("{}/{path}", chart.name) == name)
                    .expect("a file of the chart");
                assert_eq!(&content, bytes);
                names.push(name);
            }
            assert_eq!(names.len(), chart.files.len());
        }
    }

    #[test]
    fn every_file_of_the_chart_folders_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts");
        for chart in crate::CHARTS {
            let mut on_disk = Vec::new();
            let mut folders = vec![root.join(chart.name)];
            while let Some(folder) = folders.pop() {
                for entry in std::fs::read_dir(&folder).expect("read_dir") {
                    let path = entry.expect("entry").path();
                    if path.is_dir() {
                        folders.push(path);
                    } else {
                        let relative = path.strip_prefix(root.join(chart.name)).expect("under");
                        on_disk.push(relative.display().to_string());
                    }
                }
            }
            on_disk.sort();
            let mut embedded: Vec<String> =
                chart.files.iter().map(|(p, _)| (*p).to_owned()).collect();
            embedded.sort();
            assert_eq!(
                embedded, on_disk,
                "chart {}: list every file in lib.rs",
                chart.name
            );
        }
    }

    #[test]
    fn the_web_source_is_the_charts_files_folder() {
        let names: Vec<&str> = crate::web_source().map(|(name, _)| name).collect();
        assert_eq!(names, ["app.js", "index.html", "server.py", "style.css"]);
    }
}

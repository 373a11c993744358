//! A chart archive (`.tgz`), read for what the catalog needs of it: what
//! the chart says of itself, its default values and its values schema.

use std::io::Read;

use serde_json::Value;

/// The most a chart archive may unpack to; more is refused, not read.
const MAX_UNPACKED: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ChartFiles {
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub description: Option<String>,
    pub icon: Option<String>,
    /// `values.yaml`, as JSON (an empty object when there is none).
    pub values: Value,
    /// `values.schema.json`, when the chart has one.
    pub schema: Option<Value>,
}

#[derive(serde::Deserialize)]
struct ChartYaml {
    name: String,
    version: serde_yaml_ng::Value,
    #[serde(rename = "appVersion")]
    app_version: Option<serde_yaml_ng::Value>,
    description: Option<String>,
    icon: Option<String>,
}

/// Reads a chart archive: `NAME/Chart.yaml`, `NAME/values.yaml` and
/// `NAME/values.schema.json` at its top (those of subcharts are theirs).
pub fn read(archive: &[u8]) -> Result<ChartFiles, String> {
    let gz = flate2::read::GzDecoder::new(archive).take(MAX_UNPACKED);
    let mut tar = tar::Archive::new(gz);
    let mut chart_yaml = None;
    let mut values = None;
    let mut schema = None;
    let entries = tar
        .entries()
        .map_err(|e| format!("not a chart archive (gzipped tar): {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a chart archive (gzipped tar): {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("a name in the archive is not valid: {e}"))?
            .into_owned();
        let parts: Vec<_> = path.components().collect();
        if parts.len() != 2 {
            continue;
        }
        let file = parts[1].as_os_str().to_string_lossy().into_owned();
        let slot = match file.as_str() {
            "Chart.yaml" => &mut chart_yaml,
            "values.yaml" => &mut values,
            "values.schema.json" => &mut schema,
            _ => continue,
        };
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        *slot = Some(text);
    }
    let chart_yaml = chart_yaml.ok_or("the archive has no Chart.yaml")?;
    let chart: ChartYaml =
        serde_yaml_ng::from_str(&chart_yaml).map_err(|e| format!("Chart.yaml: {e}"))?;
    let values = match values {
        Some(text) if !text.trim().is_empty() => {
            let value: Value =
                serde_yaml_ng::from_str(&text).map_err(|e| format!("values.yaml: {e}"))?;
            if !value.is_object() {
                return Err("values.yaml is not a map".to_owned());
            }
            value
        }
        _ => Value::Object(Default::default()),
    };
    let schema = schema
        .map(|text| {
            serde_json::from_str::<Value>(&text).map_err(|e| format!("values.schema.json: {e}"))
        })
        .transpose()?;
    Ok(ChartFiles {
        name: chart.name,
        version: crate::index::text(&chart.version)
            .ok_or("Chart.yaml has a version that is not text")?,
        app_version: chart.app_version.as_ref().and_then(crate::index::text),
        description: chart.description,
        icon: chart.icon,
        values,
        schema,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gzipped tar of `files` under `name/`.
    pub(crate) fn archive(name: &str, files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("{name}/{path}"), text.as_bytes())
                .expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gzip")
    }

    #[test]
    fn a_chart_archive_gives_its_values_and_schema() {
        let bytes = archive(
            "redis",
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: redis\nversion: 1.2.0\nappVersion: 7.4\n",
                ),
                ("values.yaml", "replicas: 1\nauth:\n  password: ''\n"),
                ("values.schema.json", r#"{"type": "object"}"#),
                ("charts/sub/values.yaml", "other: true\n"),
                ("templates/cm.yaml", "kind: ConfigMap\n"),
            ],
        );
        let chart = read(&bytes).expect("reads");
        assert_eq!(chart.name, "redis");
        assert_eq!(chart.version, "1.2.0");
        assert_eq!(chart.app_version.as_deref(), Some("7.4"));
        assert_eq!(chart.values["replicas"], 1);
        assert!(chart.values.get("other").is_none());
        assert_eq!(chart.schema, Some(serde_json::json!({"type": "object"})));
    }

    #[test]
    fn what_is_not_a_chart_is_named() {
        assert!(
            read(b"plain text")
                .expect_err("not gzip")
                .contains("not a chart archive")
        );
        let bytes = archive("x", &[("values.yaml", "a: 1\n")]);
        assert!(
            read(&bytes)
                .expect_err("no Chart.yaml")
                .contains("Chart.yaml")
        );
        let bytes = archive(
            "x",
            &[
                ("Chart.yaml", "name: x\nversion: 1.0.0\n"),
                ("values.schema.json", "{"),
            ],
        );
        assert!(
            read(&bytes)
                .expect_err("bad schema")
                .contains("values.schema.json")
        );
    }
}

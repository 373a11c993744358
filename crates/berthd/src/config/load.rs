//! Loading the configuration: every source merged by figment, in order of
//! precedence, with errors that name the key and where it came from.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::{Config, Overrides};

/// `BERTH_*` variables that are not daemon configuration: `BERTH_CONFIG`
/// names the file, the `berth` CLI reads the others, and tests read
/// `BERTH_TEST_*`. Every other `BERTH_*` variable must name a setting.
const NOT_SETTINGS: &[&str] = &["config", "context", "url", "token", "space"];
const NOT_SETTINGS_PREFIXES: &[&str] = &["test_", "agent_"];

impl Config {
    /// Merges every source and validates the result. Errors name the key and
    /// the file or variable it came from.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &overrides.config {
            if !file.is_file() {
                bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("BERTH_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                let key = key.as_str();
                !NOT_SETTINGS.contains(&key)
                    && !NOT_SETTINGS_PREFIXES.iter().any(|p| key.starts_with(p))
            })
            .split("__");
        figment = figment.merge(env);
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", dir));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("listen", listen));
        }
        if let Some(format) = overrides.log_format {
            figment = figment.merge(Serialized::default("log.format", format));
        }
        let config: Config = figment
            .extract()
            .map_err(|err| anyhow::anyhow!(describe(err)))
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }
}

/// One line per error, each naming the key and the file or variable it came from.
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let path: Vec<String> = e.path.iter().map(|p| p.to_ascii_lowercase()).collect();
            let source = match &e.metadata {
                Some(meta) if meta.name.contains("environment") => {
                    format!(
                        "environment variable BERTH_{}",
                        path.join("__").to_ascii_uppercase()
                    )
                }
                Some(meta) => match &meta.source {
                    Some(source) => source.to_string(),
                    None => meta.name.to_string(),
                },
                None => "the command line".to_owned(),
            };
            format!("{}: {} (in {source})", path.join("."), e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

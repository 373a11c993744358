//! Contexts: named Berth servers, stored in `$XDG_CONFIG_HOME/berth/config.toml`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use serde::{Deserialize, Serialize};

use crate::output::Failure;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contexts {
    /// The context used when `--context` is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
    #[serde(skip)]
    path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub url: String,
    /// The API token `berth login` stored; the file is readable by its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The space commands use when none is named (`berth space use`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
}

fn config_path() -> Result<PathBuf, Failure> {
    let strategy = etcetera::choose_base_strategy().map_err(|err| {
        Failure::new(
            format!("cannot find the configuration directory: {err}"),
            "set HOME or XDG_CONFIG_HOME",
        )
    })?;
    Ok(strategy.config_dir().join("berth").join("config.toml"))
}

impl Contexts {
    pub fn load() -> Result<Contexts, Failure> {
        let path = config_path()?;
        let mut contexts = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Contexts>(&text).map_err(|err| {
                Failure::new(
                    format!(
                        "{} is not a valid berth configuration: {}",
                        path.display(),
                        err.message()
                    ),
                    format!("fix or remove {}", path.display()),
                )
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Contexts::default(),
            Err(err) => {
                return Err(Failure::new(
                    format!("cannot read {}: {err}", path.display()),
                    "check the file's permissions",
                ));
            }
        };
        contexts.path = path;
        Ok(contexts)
    }

    /// Writes the file atomically, readable by its owner only (it will hold tokens).
    pub fn save(&self) -> Result<(), Failure> {
        if self.path.parent().is_none() {
            return Err(Failure::new(
                format!("{} has no parent directory", self.path.display()),
                "set XDG_CONFIG_HOME to a directory",
            ));
        }
        let text = toml::to_string_pretty(self).map_err(|err| {
            Failure::new(
                format!("cannot encode the configuration: {err}"),
                "report this as a bug",
            )
        })?;
        write_private(
            &self.path,
            text.as_bytes(),
            "check that the configuration directory is writable",
        )
    }

    pub fn add(&mut self, name: &str, url: &str) -> Result<(), Failure> {
        validate_name(name)?;
        let url = validate_url(url)?;
        if self.contexts.contains_key(name) {
            return Err(Failure::new(
                format!("a context named {name} already exists"),
                format!("remove it first with `berth context remove {name}`, or pick another name"),
            ));
        }
        self.contexts.insert(
            name.to_owned(),
            Context {
                url,
                token: None,
                space: None,
            },
        );
        Ok(())
    }

    pub fn make_current(&mut self, name: &str) -> Result<(), Failure> {
        self.get(name)?;
        self.current = Some(name.to_owned());
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), Failure> {
        self.get(name)?;
        self.contexts.remove(name);
        if self.current.as_deref() == Some(name) {
            self.current = None;
        }
        Ok(())
    }

    pub fn get_mut(&mut self, name: &str) -> Result<&mut Context, Failure> {
        self.contexts.get_mut(name).ok_or_else(|| {
            Failure::new(
                format!("no context named {name}"),
                "see the contexts with `berth context list`",
            )
        })
    }

    /// Adds or updates a context for `url` named `name`, and makes it current.
    pub fn upsert(&mut self, name: &str, url: &str) -> Result<(), Failure> {
        validate_name(name)?;
        let url = validate_url(url)?;
        match self.contexts.get_mut(name) {
            Some(existing) if existing.url == url => {}
            Some(existing) => {
                existing.url = url;
                existing.token = None;
            }
            None => {
                self.contexts.insert(
                    name.to_owned(),
                    Context {
                        url,
                        token: None,
                        space: None,
                    },
                );
            }
        }
        self.current = Some(name.to_owned());
        Ok(())
    }

    /// The name of the context `--context` names, or the current one.
    pub fn selected_name(&self, name: Option<&str>) -> Result<String, Failure> {
        match name.or(self.current.as_deref()) {
            Some(name) => {
                self.get(name)?;
                Ok(name.to_owned())
            }
            None => Err(Failure::new(
                "no Berth server is configured",
                "run `berth login https://berth.example.com` (or `berth context add NAME URL`)",
            )),
        }
    }

    fn get(&self, name: &str) -> Result<&Context, Failure> {
        self.contexts.get(name).ok_or_else(|| {
            Failure::new(
                format!("no context named {name}"),
                "see the contexts with `berth context list`",
            )
        })
    }

    /// The context named by `--context`, or the current one.
    pub fn select(&self, name: Option<&str>) -> Result<&Context, Failure> {
        match name.or(self.current.as_deref()) {
            Some(name) => self.get(name),
            None => Err(Failure::new(
                "no Berth server is configured",
                "add one with `berth context add NAME URL`",
            )),
        }
    }
}

/// Writes `bytes` to `path` atomically (a file beside it, renamed over
/// it), readable by its owner only; a failure says `todo`.
pub(crate) fn write_private(path: &Path, bytes: &[u8], todo: &str) -> Result<(), Failure> {
    let fail =
        |err: std::io::Error| Failure::new(format!("cannot write {}: {err}", path.display()), todo);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let staged = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("berth"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&staged).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&staged, path).map_err(fail)
}

pub fn validate_name(name: &str) -> Result<(), Failure> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(Failure::new(
            format!("invalid context name {name:?}"),
            "use up to 63 letters, digits, '-', '_' or '.'",
        ))
    }
}

pub fn validate_url(url: &str) -> Result<String, Failure> {
    let parsed = reqwest::Url::parse(url).map_err(|err| {
        Failure::new(
            format!("invalid server URL {url:?}: {err}"),
            "give a URL such as https://berth.example.com",
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(Failure::new(
            format!("invalid server URL {url:?}: it must be http:// or https:// with a host"),
            "give a URL such as https://berth.example.com",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

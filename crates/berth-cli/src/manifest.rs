//! `berth.yaml`: the developer's dev targets. Read with serde into the
//! types below, from which the published JSON Schema is also generated
//! (`berth manifest schema`, `docs/berth.schema.json`), so the schema and
//! what the CLI accepts cannot drift apart. An error names the key path
//! and the line.

use berth_core::DnsLabel;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::output::Failure;

pub const FILE: &str = "berth.yaml";

/// A project's dev targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "berth.yaml", description = "Dev targets for `berth up`")]
pub struct Manifest {
    /// The space to develop in; the current space when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// Dev targets by name (lowercase letters, digits and '-').
    pub dev: BTreeMap<TargetName, Target>,
}

/// A dev target: a workload of the space and how to develop in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The workload to take over: `deployment/NAME` or `statefulset/NAME`.
    pub workload: Workload,
    /// The container to develop in; the first when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The dev image (with the toolchain); the container's own when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The dev command, started once the first sync is done: a list of
    /// words, or one string run by `sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// The container's working folder; the first sync folder's remote path
    /// when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Folders kept in sync both ways, as `LOCAL:REMOTE` (`./:/app`).
    #[serde(default)]
    pub sync: Vec<SyncFolder>,
    /// Ports forwarded from this machine into the space: `LOCAL:REMOTE`
    /// (a port in the dev container), one port for both, or
    /// `LOCAL:SERVICE:PORT` (a service of the space, reached from the dev
    /// container).
    #[serde(default)]
    pub forward: Vec<Forward>,
    /// Reverse forwards: `REMOTE:LOCAL`, or one port for both. The dev
    /// container's loopback port REMOTE leads to LOCAL on this machine
    /// (a debugger, a webhook to a local tool).
    #[serde(default)]
    pub reverse: Vec<Reverse>,
    /// Environment of the dev container.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Folders of the dev container kept on a volume that outlives the pod
    /// and `berth down` (caches, `node_modules`): absolute paths, or under
    /// the working folder. `berth down --volumes` deletes it.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// The volume's size and storage class; the server's defaults when
    /// left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    /// More paths that never sync, in `.gitignore` syntax (beside
    /// `.gitignore` and `.berthignore` files).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// A dev target's volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// In GiB (the server sets the largest allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub size_gib: Option<u32>,
    /// The StorageClass; the cluster's default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Command {
    Words(Vec<String>),
    Shell(String),
}

impl Command {
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Words(words) => words.clone(),
            Command::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
        }
    }
}

macro_rules! checked_string {
    ($name:ident, $pattern:literal, $check:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(pub String);

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "pattern": $pattern})
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map(|()| $name(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

checked_string!(TargetName, r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", |v| {
    if DnsLabel::is_valid(v, 40) {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a target name: {}",
            DnsLabel::rule(40)
        ))
    }
});

checked_string!(
    Workload,
    r"^(deployment|statefulset)/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
    |v| {
        match v.split_once('/') {
            Some(("deployment" | "statefulset", name))
                if !name.is_empty()
                    && name.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    })
                    && !name.starts_with(['-', '.'])
                    && !name.ends_with(['-', '.']) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "{v:?} is not a workload: write deployment/NAME or statefulset/NAME"
            )),
        }
    }
);

checked_string!(SyncFolder, r"^[^:]+:/?[^:]*$", |v| {
    match v.split_once(':') {
        Some((local, remote))
            if !local.is_empty() && !remote.is_empty() && !remote.contains(':') =>
        {
            if remote.split('/').any(|p| p == "..") {
                Err(format!("{v:?}: the remote path may not contain `..`"))
            } else {
                Ok(())
            }
        }
        _ => Err(format!(
            "{v:?} is not a sync folder: write LOCAL:REMOTE, such as ./:/app"
        )),
    }
});

checked_string!(
    Forward,
    r"^([0-9]{1,5}:)?([a-z]([a-z0-9.-]*[a-z0-9])?:)?[0-9]{1,5}$",
    |v| ForwardTo::parse(v).map(|_| ())
);

checked_string!(Reverse, r"^[0-9]{1,5}(:[0-9]{1,5})?$", |v| {
    let (remote, local) = v.split_once(':').unwrap_or((v, v));
    match (remote.parse::<u16>(), local.parse::<u16>()) {
        (Ok(r), Ok(l)) if r > 0 && l > 0 => Ok(()),
        _ => Err(format!(
            "{v:?} is not a reverse forward: write REMOTE:LOCAL ports (9000:9000), or one port"
        )),
    }
});

/// A forward as written in `berth.yaml` or on `berth port-forward`'s
/// command line: the local port (0 picks one) and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTo {
    pub local: u16,
    /// A service of the space (or a name the dev container resolves); the
    /// container's loopback when none.
    pub host: Option<String>,
    pub port: u16,
}

impl ForwardTo {
    /// Reads `PORT`, `LOCAL:PORT`, `SERVICE:PORT` (the same port locally)
    /// or `LOCAL:SERVICE:PORT`.
    pub fn parse(text: &str) -> Result<ForwardTo, String> {
        let wrong = || {
            format!(
                "{text:?} is not a forward: write LOCAL:REMOTE ports (8080:8080), one port, or LOCAL:SERVICE:PORT (5432:postgres:5432)"
            )
        };
        let port = |p: &str| p.parse::<u16>().map_err(|_| wrong());
        let remote = |p: &str| port(p).and_then(|p| if p > 0 { Ok(p) } else { Err(wrong()) });
        // A leading letter tells a service from a local port.
        let host = |h: &str| {
            if h.starts_with(|c: char| c.is_ascii_lowercase()) && DnsLabel::is_subdomain(h) {
                Ok(h.to_owned())
            } else {
                Err(format!(
                    "{text:?}: {h:?} is not a service name (lowercase letters, digits, '-' and '.')"
                ))
            }
        };
        let parts: Vec<&str> = text.split(':').collect();
        Ok(match parts[..] {
            [one] => ForwardTo {
                local: port(one)?,
                host: None,
                port: remote(one)?,
            },
            [first, second] if first.bytes().all(|b| b.is_ascii_digit()) => ForwardTo {
                local: port(first)?,
                host: None,
                port: remote(second)?,
            },
            [service, second] => ForwardTo {
                local: remote(second)?,
                host: Some(host(service)?),
                port: remote(second)?,
            },
            [local, service, second] => ForwardTo {
                local: port(local)?,
                host: Some(host(service)?),
                port: remote(second)?,
            },
            _ => return Err(wrong()),
        })
    }

    /// Where it leads, as `berth up` and `berth port-forward` show it:
    /// `8080` (the container's port) or `postgres:5432`.
    pub fn remote(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}:{}", self.port),
            None => self.port.to_string(),
        }
    }

    /// What the agent is asked to connect to.
    pub fn open(&self) -> berth_proto::PortForwardOpen {
        berth_proto::PortForwardOpen {
            port: self.port,
            host: self.host.clone(),
        }
    }
}

impl SyncFolder {
    /// The local folder (relative to the manifest's) and the remote path.
    pub fn parts(&self) -> (&str, &str) {
        self.0.split_once(':').unwrap_or((&self.0, "/"))
    }
}

impl Forward {
    pub fn to(&self) -> ForwardTo {
        ForwardTo::parse(&self.0).expect("checked when read")
    }
}

impl Reverse {
    /// The container's port and the local one.
    pub fn ports(&self) -> (u16, u16) {
        let (remote, local) = self.0.split_once(':').unwrap_or((&self.0, &self.0));
        (remote.parse().unwrap_or(0), local.parse().unwrap_or(0))
    }
}

/// The JSON Schema of `berth.yaml`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default()
}

/// Parses a manifest; `name` is what errors call it.
pub fn parse(text: &str, name: &str) -> Result<Manifest, Failure> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    let manifest: Manifest = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = inner
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        // The YAML error repeats the location at its end; keep the message.
        let message = inner.to_string();
        let mut message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        // It may also start with the key path, which is said once already.
        if let Some((prefix, rest)) = message.split_once(": ")
            && path.starts_with(prefix)
        {
            message = rest.to_owned();
        }
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        Failure::new(
            format!("{name}{location}{at}: {message}"),
            "fix the manifest; `berth manifest schema` prints what it may hold",
        )
    })?;
    if manifest.dev.is_empty() {
        return Err(Failure::new(
            format!("{name} has no dev targets under `dev`"),
            "add one, or run `berth init` to start a manifest from your space's workloads",
        ));
    }
    for (target, spec) in &manifest.dev {
        if spec.sync.is_empty() {
            return Err(Failure::new(
                format!(
                    "{name} at `dev.{}`: a target needs at least one `sync` folder",
                    target.0
                ),
                "add one such as `./:/app`",
            ));
        }
    }
    Ok(manifest)
}

/// Finds `berth.yaml` here or in a parent folder (or reads `path`).
pub fn load(path: Option<&Path>) -> Result<(Manifest, PathBuf), Failure> {
    let file = match path {
        Some(path) => path.to_path_buf(),
        None => {
            let here = std::env::current_dir().map_err(|e| {
                Failure::new(
                    format!("cannot tell the current folder: {e}"),
                    "cd somewhere else",
                )
            })?;
            here.ancestors()
                .map(|dir| dir.join(FILE))
                .find(|candidate| candidate.is_file())
                .ok_or_else(|| {
                    Failure::new(
                        format!("no {FILE} here or in a parent folder"),
                        "run `berth init` to write one, or pass --file",
                    )
                })?
        }
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Failure::new(
            format!("cannot read {}: {e}", file.display()),
            "check the path",
        )
    })?;
    let manifest = parse(&text, &file.display().to_string())?;
    Ok((manifest, file))
}

impl Manifest {
    /// The target to use: the one named, or the only one there is.
    pub fn target(&self, name: Option<&str>) -> Result<(&str, &Target), Failure> {
        match name {
            Some(name) => self
                .dev
                .iter()
                .find(|(n, _)| n.0 == name)
                .map(|(n, t)| (n.0.as_str(), t))
                .ok_or_else(|| {
                    Failure::new(
                        format!("the manifest has no dev target {name}"),
                        format!("use one of: {}", self.names()),
                    )
                }),
            None if self.dev.len() == 1 => {
                let (n, t) = self.dev.iter().next().expect("one target");
                Ok((n.0.as_str(), t))
            }
            None => Err(Failure::new(
                "the manifest has several dev targets",
                format!("name one: {}", self.names()),
            )),
        }
    }

    fn names(&self) -> String {
        self.dev
            .keys()
            .map(|k| k.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
space: alice
dev:
  api:
    workload: deployment/api
    image: node:22
    command: npm run dev
    sync:
      - ./:/app
    forward:
      - 8080:8080
      - "9229"
      - 5433:postgres:5432
    reverse:
      - 9000:9001
    volumes:
      - /root/.cache
      - node_modules
    volume:
      size_gib: 20
    environment:
      DEBUG: "1"
    ignore:
      - node_modules/
"#;

    #[test]
    fn a_manifest_reads_into_targets() {
        let manifest = parse(GOOD, "berth.yaml").expect("valid");
        let (name, target) = manifest.target(None).expect("one target");
        assert_eq!(name, "api");
        assert_eq!(target.workload.0, "deployment/api");
        assert_eq!(
            target.command.as_ref().expect("command").argv(),
            ["sh", "-c", "npm run dev"]
        );
        assert_eq!(target.sync[0].parts(), ("./", "/app"));
        assert_eq!(
            target.forward[1].to(),
            ForwardTo {
                local: 9229,
                host: None,
                port: 9229
            }
        );
        assert_eq!(
            target.forward[2].to(),
            ForwardTo {
                local: 5433,
                host: Some("postgres".to_owned()),
                port: 5432
            }
        );
        assert_eq!(target.reverse[0].ports(), (9000, 9001));
        assert_eq!(target.volumes, ["/root/.cache", "node_modules"]);
        assert_eq!(target.volume.as_ref().and_then(|v| v.size_gib), Some(20));
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let cases = [
            (
                GOOD.replace("deployment/api", "pod/api"),
                "dev.api.workload",
                "line 5",
            ),
            (
                GOOD.replace("./:/app", "nocolon"),
                "dev.api.sync[0]",
                "line 9",
            ),
            (
                GOOD.replace("8080:8080", "80:http"),
                "dev.api.forward[0]",
                "line 11",
            ),
            (
                GOOD.replace("5433:postgres", "5433:Postgres"),
                "dev.api.forward[2]",
                "not a service name",
            ),
            (
                GOOD.replace("9000:9001", "9000:0"),
                "dev.api.reverse[0]",
                "REMOTE:LOCAL",
            ),
            (GOOD.replace("    image:", "    imgae:"), "dev.api", "imgae"),
            (GOOD.replace("  api:", "  API:"), "dev", "target name"),
        ];
        for (text, key, also) in cases {
            let failure = parse(&text, "berth.yaml").expect_err(key);
            assert!(
                failure.what.contains(&format!("`{key}")),
                "{key}: {}",
                failure.what
            );
            assert!(failure.what.contains(also), "{also}: {}", failure.what);
        }
    }

    #[test]
    fn forwards_read_every_way_they_are_written() {
        let to = |local, host: Option<&str>, port| ForwardTo {
            local,
            host: host.map(str::to_owned),
            port,
        };
        for (text, expected) in [
            ("8080", to(8080, None, 8080)),
            ("0:80", to(0, None, 80)),
            ("postgres:5432", to(5432, Some("postgres"), 5432)),
            ("0:db.other:5432", to(0, Some("db.other"), 5432)),
        ] {
            assert_eq!(ForwardTo::parse(text), Ok(expected), "{text}");
        }
        for text in ["", "0", "80:0", "a:b:c", "1:2:3:4", "-x:80", "99999"] {
            assert!(ForwardTo::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_published_schema_is_the_generated_one() {
        let published: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/berth.schema.json"))
                .expect("docs/berth.schema.json is JSON");
        assert_eq!(
            published,
            schema(),
            "regenerate it with `berth manifest schema > docs/berth.schema.json`"
        );
    }
}

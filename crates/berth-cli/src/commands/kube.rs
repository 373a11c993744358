//! `berth kubeconfig` and `berth kube-credential`: kubectl, helm and IDE
//! plugins pointed at the Kubernetes API of one's spaces, through berthd's
//! proxy (`/kube/`), with nothing but the Berth login.
//!
//! The kubeconfig holds no secret: its user runs `berth kube-credential`
//! (a `client.authentication.k8s.io/v1` exec plugin), which hands kubectl a
//! short-lived token of the `kube` scope made from this context's login
//! and kept, until shortly before it expires, in the CLI's cache directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_core::identity::TokenCreated;
use berth_core::space::{KubeAccess, SpaceView};
use berth_core::{Clock, SystemClock, Timestamp};
use etcetera::BaseStrategy;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

use crate::client::Client;
use crate::context::{Contexts, write_private};
use crate::output::Failure;

/// The exec plugin protocol kubectl speaks with `berth kube-credential`.
const EXEC_API: &str = "client.authentication.k8s.io/v1";
/// A cached token this close to its end is made again.
const RENEW_BEFORE: Duration = Duration::from_secs(120);

#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    /// Write this file instead of the kubeconfig kubectl reads
    /// (`$KUBECONFIG`'s first file, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
}

/// The kubeconfig names of a Berth context's cluster and user, and of the
/// context of one of its spaces.
fn cluster_name(context: &str) -> String {
    format!("berth-{context}")
}

fn kube_context_name(context: &str, space: &str) -> String {
    format!("berth-{context}-{space}")
}

/// The kubeconfig kubectl reads: `$KUBECONFIG`'s first file, else
/// `~/.kube/config` (kubectl writes to the same one).
fn default_kubeconfig() -> Result<PathBuf, Failure> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .as_deref()
        .and_then(|v| std::env::split_paths(v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    let home = etcetera::home_dir().map_err(|err| {
        Failure::new(
            format!("cannot find the home directory: {err}"),
            "set HOME, or name the file with --kubeconfig FILE",
        )
    })?;
    Ok(home.join(".kube").join("config"))
}

/// `berth kubeconfig`: a context per space the caller is in, merged into
/// the kubeconfig (entries of other clusters are kept as they are), and
/// the current space's context made kubectl's current one.
pub async fn kubeconfig(
    client: &Client,
    args: KubeconfigArgs,
    context: Option<&str>,
) -> Result<(), Failure> {
    let contexts = Contexts::load()?;
    let name = contexts.selected_name(context)?;
    let current_space = contexts.select(Some(&name))?.space.clone();
    let spaces: Vec<SpaceView> = client.get("/api/v1/spaces").await?;
    let mut spaces: Vec<String> = spaces
        .into_iter()
        .filter(|s| s.your_role.is_some())
        .map(|s| s.name.to_string())
        .collect();
    spaces.sort();
    if spaces.is_empty() {
        return Err(Failure::new(
            "you are in no space yet",
            "make one with `berth space create NAME`",
        ));
    }
    let access: KubeAccess = client.get("/api/v1/kube").await?;
    if access.server.starts_with("http://") {
        return Err(Failure::new(
            format!(
                "Berth serves its Kubernetes API proxy at {} over plain HTTP, and kubectl sends no credentials over it",
                access.server
            ),
            "ask your Berth admin to serve Berth over HTTPS, or to set server.kube_listen",
        ));
    }
    let exe = std::env::current_exe().map_err(|err| {
        Failure::new(
            format!("cannot find the berth binary to run as kubectl's credential plugin: {err}"),
            "run berth from its installed path",
        )
    })?;
    let path = match args.kubeconfig {
        Some(path) => path,
        None => default_kubeconfig()?,
    };
    let mut config = read_kubeconfig(&path)?;
    let authority = match access.certificate_authority {
        Some(pem) => Authority::Data(pem),
        None => match std::env::var_os("BERTH_CA_FILE").filter(|f| !f.is_empty()) {
            Some(file) => Authority::File(PathBuf::from(file)),
            None => Authority::System,
        },
    };
    let entries = Entries {
        context: &name,
        server: access.server,
        authority,
        exe: &exe,
        spaces: &spaces,
    };
    entries.merge_into(&mut config);
    let current = current_space
        .filter(|s| spaces.contains(s))
        .unwrap_or_else(|| spaces[0].clone());
    config.insert(
        "current-context".into(),
        kube_context_name(&name, &current).into(),
    );
    write_kubeconfig(&path, &config)?;
    eprintln!(
        "Wrote {} context{} to {}: {}. kubectl now uses {} (namespace {current}).",
        spaces.len(),
        if spaces.len() == 1 { "" } else { "s" },
        path.display(),
        spaces
            .iter()
            .map(|s| kube_context_name(&name, s))
            .collect::<Vec<_>>()
            .join(", "),
        kube_context_name(&name, &current),
    );
    Ok(())
}

/// What kubectl trusts for the proxy's certificate.
enum Authority {
    /// The certificate berthd made for its own HTTPS listener.
    Data(String),
    /// The CA bundle the CLI uses (`BERTH_CA_FILE`).
    File(PathBuf),
    /// The system's roots.
    System,
}

/// What `berth kubeconfig` writes for one Berth context.
struct Entries<'a> {
    context: &'a str,
    server: String,
    authority: Authority,
    exe: &'a Path,
    spaces: &'a [String],
}

impl Entries<'_> {
    /// Replaces this Berth context's cluster, user and contexts in
    /// `config` (contexts of spaces one has left go too), keeping every
    /// other entry.
    fn merge_into(&self, config: &mut Mapping) {
        let ours = cluster_name(self.context);
        let mut cluster = Mapping::new();
        cluster.insert("server".into(), self.server.clone().into());
        match &self.authority {
            Authority::Data(pem) => {
                use base64::Engine;
                let data = base64::engine::general_purpose::STANDARD.encode(pem);
                cluster.insert("certificate-authority-data".into(), data.into());
            }
            Authority::File(file) => {
                cluster.insert(
                    "certificate-authority".into(),
                    file.display().to_string().into(),
                );
            }
            Authority::System => {}
        }
        let exec = serde_yaml_ng::to_value(serde_json::json!({
            "apiVersion": EXEC_API,
            "command": self.exe.display().to_string(),
            "args": ["kube-credential", "--context", self.context],
            "interactiveMode": "Never",
            "provideClusterInfo": false,
        }))
        .unwrap_or_default();
        let mut user = Mapping::new();
        user.insert("exec".into(), exec);
        replace(
            config,
            "clusters",
            "cluster",
            &ours,
            vec![(ours.clone(), cluster)],
            |_| false,
        );
        replace(
            config,
            "users",
            "user",
            &ours,
            vec![(ours.clone(), user)],
            |_| false,
        );
        let contexts = self
            .spaces
            .iter()
            .map(|space| {
                let mut entry = Mapping::new();
                entry.insert("cluster".into(), ours.clone().into());
                entry.insert("user".into(), ours.clone().into());
                entry.insert("namespace".into(), space.clone().into());
                (kube_context_name(self.context, space), entry)
            })
            .collect();
        replace(config, "contexts", "context", &ours, contexts, |entry| {
            entry.get("user").and_then(Value::as_str) == Some(ours.as_str())
        });
        config
            .entry("apiVersion".into())
            .or_insert_with(|| "v1".into());
        config
            .entry("kind".into())
            .or_insert_with(|| "Config".into());
    }
}

/// Puts `new` (name, body) entries in list `list` of `config`, where each
/// entry is `{name, KEY: body}`; drops the entries named `ours` or one of
/// the new names, and those whose body `stale` says are ours.
fn replace(
    config: &mut Mapping,
    list: &str,
    key: &str,
    ours: &str,
    new: Vec<(String, Mapping)>,
    stale: impl Fn(&Mapping) -> bool,
) {
    let names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
    let mut kept: Vec<Value> = match config.remove(list) {
        Some(Value::Sequence(entries)) => entries,
        _ => Vec::new(),
    };
    kept.retain(|entry| {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
        let body = entry.get(key).and_then(Value::as_mapping);
        name != ours && !names.contains(&name) && !body.is_some_and(&stale)
    });
    for (name, body) in new {
        let mut entry = Mapping::new();
        entry.insert("name".into(), name.into());
        entry.insert(key.into(), Value::Mapping(body));
        kept.push(Value::Mapping(entry));
    }
    config.insert(list.into(), Value::Sequence(kept));
}

/// Writes `config` to `path` as YAML, atomically, readable by its owner
/// only.
fn write_kubeconfig(path: &Path, config: &Mapping) -> Result<(), Failure> {
    let text = serde_yaml_ng::to_string(config).map_err(|err| {
        Failure::new(
            format!("cannot encode the kubeconfig: {err}"),
            "report this as a bug",
        )
    })?;
    write_private(path, text.as_bytes(), KUBECONFIG_TODO)
}

/// What to do when a kubeconfig or the token cache cannot be written.
const KUBECONFIG_TODO: &str = "check that its directory is writable";

/// The kubeconfig at `path` as YAML; empty when there is none. A file that
/// is not a kubeconfig is refused untouched.
fn read_kubeconfig(path: &Path) -> Result<Mapping, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Mapping::new()),
        Err(err) => {
            return Err(Failure::new(
                format!("cannot read {}: {err}", path.display()),
                "check the file's permissions, or write another with --kubeconfig FILE",
            ));
        }
    };
    if text.trim().is_empty() {
        return Ok(Mapping::new());
    }
    match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(Value::Mapping(map)) => Ok(map),
        Ok(_) => Err(not_a_kubeconfig(path, "it is not a YAML mapping")),
        Err(err) => Err(not_a_kubeconfig(path, &err.to_string())),
    }
}

fn not_a_kubeconfig(path: &Path, why: &str) -> Failure {
    Failure::new(
        format!(
            "{} is not a kubeconfig ({why}); it was left as it is",
            path.display()
        ),
        "fix the file, or write another with --kubeconfig FILE",
    )
}

/// `berth space use NAME --kube`: kubectl's current context becomes the
/// space's, which `berth kubeconfig` wrote.
pub fn use_space(context: Option<&str>, space: &str) -> Result<(), Failure> {
    let name = Contexts::load()?.selected_name(context)?;
    let path = default_kubeconfig()?;
    let mut config = read_kubeconfig(&path)?;
    let wanted = kube_context_name(&name, space);
    let known = config
        .get("contexts")
        .and_then(Value::as_sequence)
        .is_some_and(|list| {
            list.iter()
                .any(|c| c.get("name").and_then(Value::as_str) == Some(wanted.as_str()))
        });
    if !known {
        return Err(Failure::new(
            format!(
                "{} has no context {wanted} for space {space}",
                path.display()
            ),
            "run `berth kubeconfig` to write one for each of your spaces",
        ));
    }
    config.insert("current-context".into(), wanted.clone().into());
    write_kubeconfig(&path, &config)?;
    eprintln!("kubectl now uses {wanted}.");
    Ok(())
}

/// A kube token as the cache keeps it.
#[derive(Serialize, Deserialize)]
struct Cached {
    id: String,
    secret: String,
    expires_at: Timestamp,
}

/// Where kube tokens are cached, one file per context.
fn cache_dir() -> Result<PathBuf, Failure> {
    let strategy = etcetera::choose_base_strategy().map_err(|err| {
        Failure::new(
            format!("cannot find the cache directory: {err}"),
            "set HOME or XDG_CACHE_HOME",
        )
    })?;
    Ok(strategy.cache_dir().join("berth").join("kube"))
}

fn cache_file(context: &str) -> Result<PathBuf, Failure> {
    Ok(cache_dir()?.join(format!("{context}.json")))
}

fn cached(context: &str) -> Option<Cached> {
    read_cached(&cache_file(context).ok()?)
}

fn read_cached(path: &Path) -> Option<Cached> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Forgets the kube token cached for any context if it is token `id`,
/// which was just revoked: the next kubectl call gets a new one.
pub fn forget_revoked(id: &str) {
    let Some(entries) = cache_dir().ok().and_then(|dir| std::fs::read_dir(dir).ok()) else {
        return;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        if read_cached(&path).is_some_and(|c| c.id == id) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `berth kube-credential`: the ExecCredential kubectl asks its exec
/// plugin for, on stdout.
pub async fn credential(context: Option<&str>) -> Result<(), Failure> {
    let contexts = Contexts::load()?;
    let name = contexts.selected_name(context)?;
    let selected = contexts.select(Some(&name))?;
    let now = SystemClock.now();
    let token = match cached(&name).filter(|c| now.plus(RENEW_BEFORE) < c.expires_at) {
        Some(token) => token,
        None => {
            let login = selected.token.clone().ok_or_else(|| {
                Failure::new(
                    format!("not signed in to {name}, so kubectl has no credential"),
                    format!("run `berth login {}`", selected.url),
                )
            })?;
            let made: TokenCreated = Client::new(&selected.url, Some(login))?
                .post("/api/v1/tokens/kube", &serde_json::json!({}))
                .await?;
            let token = Cached {
                id: made.token.id,
                secret: made.secret,
                expires_at: made.token.expires_at.unwrap_or(now),
            };
            let path = cache_file(&name)?;
            let text = serde_json::to_vec(&token).unwrap_or_default();
            write_private(&path, &text, KUBECONFIG_TODO)?;
            token
        }
    };
    let credential = serde_json::json!({
        "apiVersion": EXEC_API,
        "kind": "ExecCredential",
        "status": {
            "token": token.secret,
            "expirationTimestamp": token.expires_at,
        },
    });
    crate::output::write_stdout(format!("{credential}\n").as_bytes())
}

/// Revokes the kube token cached for `context` (with the login that made
/// it) and forgets it: after a logout or a new login kubectl needs a new one.
pub async fn forget_credential(client: Option<&Client>, context: &str) {
    if let (Some(client), Some(token)) = (client, cached(context)) {
        let gone: Result<serde_json::Value, Failure> =
            client.delete(&format!("/api/v1/tokens/{}", token.id)).await;
        if let Err(failure) = gone {
            eprintln!(
                "The server could not revoke kubectl's token: {}",
                failure.what
            );
        }
    }
    if let Ok(path) = cache_file(context) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries<'a>(spaces: &'a [String], exe: &'a Path) -> Entries<'a> {
        Entries {
            context: "dev",
            server: "https://berth.example/kube".to_owned(),
            authority: Authority::System,
            exe,
            spaces,
        }
    }

    #[test]
    fn a_merge_keeps_other_clusters_and_replaces_its_own() {
        let mut config: Mapping = serde_yaml_ng::from_str(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\n\
             clusters: [{name: prod, cluster: {server: 'https://prod'}}]\n\
             users: [{name: prod, user: {token: x}}]\n\
             contexts: [{name: prod, context: {cluster: prod, user: prod}},\
             {name: berth-dev-gone, context: {cluster: berth-dev, user: berth-dev, namespace: gone}}]\n",
        )
        .expect("yaml");
        let exe = PathBuf::from("/usr/local/bin/berth");
        let spaces = ["alice".to_owned(), "web".to_owned()];
        entries(&spaces, &exe).merge_into(&mut config);
        entries(&spaces, &exe).merge_into(&mut config);
        let names = |list: &str| -> Vec<String> {
            config[list]
                .as_sequence()
                .expect("list")
                .iter()
                .map(|e| e["name"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(names("clusters"), ["prod", "berth-dev"]);
        assert_eq!(names("users"), ["prod", "berth-dev"]);
        assert_eq!(
            names("contexts"),
            ["prod", "berth-dev-alice", "berth-dev-web"],
            "a space one left is gone, and a second merge adds nothing"
        );
        let user = &config["users"][1]["user"]["exec"];
        assert_eq!(user["apiVersion"], EXEC_API);
        assert_eq!(user["command"], "/usr/local/bin/berth");
        assert_eq!(config["contexts"][2]["context"]["namespace"], "web");
        assert_eq!(
            config["clusters"][1]["cluster"]["server"],
            "https://berth.example/kube"
        );
        assert_eq!(config["current-context"], "prod", "the caller sets it");
    }

    #[test]
    fn a_file_that_is_not_a_kubeconfig_is_left_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config");
        std::fs::write(&path, "- just\n- a list\n").expect("write");
        let failure = read_kubeconfig(&path).expect_err("refused");
        assert!(
            failure.what.contains("not a kubeconfig"),
            "{}",
            failure.what
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "- just\n- a list\n"
        );
        assert!(
            read_kubeconfig(&dir.path().join("none"))
                .expect("none")
                .is_empty()
        );
    }
}

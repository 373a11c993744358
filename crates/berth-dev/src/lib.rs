//! Dev mode (`berth up`, `berth down`): a workload of a space becomes a
//! dev container. The daemon does it, so developers need no kubeconfig:
//! it wakes the space, starts a dev session, keeps the agent's token in a
//! Secret of the space, and patches the workload (its original spec saved
//! whole in an annotation) to run the agent. With the embedded cluster,
//! which runs no pods, the daemon also runs the agent itself, on a folder
//! under its data directory, so `berth up` works end to end on a machine
//! without a cluster.
//!
//! Invariant: a workload in dev mode carries its original spec, and
//! `down` puts exactly that back; a second `up` never overwrites it. Dev
//! mode writes its two annotations and no other, and a write that races a
//! controller is planned again from a fresh read, never failed.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use berth_audit::Audit;
use berth_auth::{Actor, Auth, actor_of};
use berth_core::Error;
use berth_core::audit::{EventResource, NewEvent, Outcome};
use berth_core::dev::{ContainerView, DevMode, DevRequest, DevView, WorkloadView};
use berth_core::session::{NewSession, SessionState};
use berth_core::time::{Clock, Timestamp};
use berth_kube::Cluster;
use berth_kube::dev::{self as plan, DevPlan};
use berth_kube::workload::{ChangeError, Changed};
use berth_relay::Relay;
use berth_spaces::Spaces;
use berth_store::Table;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Dev targets in dev mode, by `space/target`.
pub const TARGETS: Table<DevRecord> = Table::new("dev.targets");

/// How long `up` waits for a space it wakes to have every workload back
/// before it goes on and says what is still pending.
const WAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevRecord {
    pub space: String,
    pub target: String,
    pub workload: String,
    pub session: String,
    pub mode: DevMode,
    pub started_by: String,
    pub started_by_id: String,
    pub started_at: Timestamp,
    pub image: Option<String>,
    pub command: Vec<String>,
    pub local_root: Option<String>,
    /// What `berth up` asked for; a second `up` asking for the same keeps
    /// the session.
    pub request: DevRequest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevConfig {
    /// The image holding the `berth` binary, copied into dev containers.
    pub agent_image: String,
    /// How agents in pods reach `berthd` (the in-cluster Service URL);
    /// the public URL when left out.
    pub agent_url: Option<String>,
    /// Run agents inside `berthd` (on by itself with the embedded cluster).
    pub local_agents: bool,
    /// The size of a dev target's volume when its manifest names none, in
    /// GiB.
    pub volume_gib: u32,
    /// The largest dev volume a manifest may ask for, in GiB.
    pub max_volume_gib: u32,
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            agent_image: format!("ghcr.io/berth-dev/berthd:{}", env!("CARGO_PKG_VERSION")),
            agent_url: None,
            local_agents: false,
            volume_gib: 10,
            max_volume_gib: 50,
        }
    }
}

pub struct Dev {
    auth: Arc<Auth>,
    audit: Arc<Audit>,
    spaces: Arc<Spaces>,
    relay: Arc<Relay>,
    cluster: Cluster,
    config: DevConfig,
    clock: Arc<dyn Clock>,
    /// How agents reach this daemon.
    agent_url: String,
    /// Where local agents keep their trees.
    local_root: PathBuf,
    local: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

fn key(space: &str, target: &str) -> String {
    format!("{space}/{target}")
}

fn resource(space: &str, target: &str) -> EventResource {
    EventResource {
        kind: "dev".to_owned(),
        id: Some(key(space, target)),
        name: Some(target.to_owned()),
        space: Some(space.to_owned()),
    }
}

fn kube_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("{what}: {e}"))
}

/// `deployment/api` into its kind and name.
fn split_workload(workload: &str) -> Result<(&str, &str), Error> {
    let (kind, name) = workload.split_once('/').ok_or_else(|| {
        Error::invalid(
            "workload",
            format!("{workload:?} is not KIND/NAME, such as deployment/api"),
        )
    })?;
    if !plan::DEV_KINDS.iter().any(|(short, _, _)| *short == kind) {
        return Err(Error::invalid(
            "workload",
            format!("{kind:?} is not a kind dev mode takes: deployment or statefulset"),
        ));
    }
    berth_core::space::SpaceName::try_from(name.to_owned())
        .map_err(|_| Error::invalid("workload", format!("{name:?} is not a workload name")))?;
    Ok((kind, name))
}

fn check_target(target: &str) -> Result<(), Error> {
    berth_core::name::TargetName::parse(target).map(drop)
}

/// A request's dev folders as container paths, and its volume's size and
/// storage class, checked against the daemon's limit.
fn volumes(
    req: &DevRequest,
    config: &DevConfig,
) -> Result<(Vec<String>, u32, Option<String>), Error> {
    let paths = req
        .volumes
        .iter()
        .map(|path| plan::volume_path(path, req.workdir.as_deref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("volumes", e))?;
    let volume = req.volume.clone().unwrap_or_default();
    let size = volume.size_gib.unwrap_or(config.volume_gib);
    if size == 0 || size > config.max_volume_gib {
        return Err(Error::invalid(
            "volume.size_gib",
            format!(
                "a dev volume of {size} GiB: this server allows 1 to {} GiB (dev.max_volume_gib)",
                config.max_volume_gib
            ),
        ));
    }
    if let Some(class) = &volume.storage_class
        && !berth_core::DnsLabel::is_subdomain(class)
    {
        return Err(Error::invalid(
            "volume.storage_class",
            format!("{class:?} is not a storage class name"),
        ));
    }
    Ok((paths, size, volume.storage_class))
}

/// What `berth up` starts from, read off the workload: the spec saved by an
/// earlier `up` (none the first time) and the original spec. A damaged
/// saved spec, or dev mode for another target, is refused.
fn entry(object: &Value, req: &DevRequest) -> Result<(Option<Value>, Value), Error> {
    let annotations = object.pointer("/metadata/annotations");
    let saved: Option<Value> = annotations
        .and_then(|a| a.get(plan::ORIGINAL_ANNOTATION))
        .and_then(Value::as_str)
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| Error::conflict(format!("{} has a damaged saved spec: {e}", req.workload)))?;
    if let Some(other) = annotations
        .and_then(|a| a.get(plan::TARGET_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|t| *t != req.target)
    {
        return Err(Error::conflict(format!(
            "{} is in dev mode for target {other}; run `berth down {other}` first",
            req.workload
        )));
    }
    let original = saved.clone().unwrap_or_else(|| object["spec"].clone());
    Ok((saved, original))
}

impl Dev {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        auth: Arc<Auth>,
        spaces: Arc<Spaces>,
        relay: Arc<Relay>,
        cluster: Cluster,
        config: DevConfig,
        clock: Arc<dyn Clock>,
        public_url: &str,
        data_dir: &std::path::Path,
    ) -> Arc<Dev> {
        let agent_url = config
            .agent_url
            .clone()
            .unwrap_or_else(|| public_url.to_owned());
        Arc::new(Dev {
            audit: auth.audit().clone(),
            auth,
            spaces,
            relay,
            cluster,
            clock,
            agent_url,
            local_root: data_dir.join("dev"),
            local: Mutex::default(),
            config,
        })
    }

    fn record(&self, space: &str, target: &str) -> Result<Option<DevRecord>, Error> {
        Ok(self.audit.store().get(TARGETS, &key(space, target))?)
    }

    async fn view(&self, actor: &Actor, record: DevRecord) -> Result<DevView, Error> {
        let session = self.relay.get(actor, &record.session).await?;
        Ok(DevView {
            space: record.space,
            target: record.target,
            workload: record.workload,
            mode: record.mode,
            session,
            started_by: record.started_by,
            started_at: record.started_at,
            image: record.image,
            command: record.command,
            local_root: record.local_root,
            volumes: record
                .request
                .volumes
                .iter()
                .map(|path| {
                    plan::volume_path(path, record.request.workdir.as_deref())
                        .unwrap_or_else(|_| path.clone())
                })
                .collect(),
            wake: None,
        })
    }

    /// Whether a recorded dev target still has a live session (and, in the
    /// local mode, its agent running).
    async fn live(&self, actor: &Actor, record: &DevRecord) -> bool {
        let session_live = self
            .relay
            .get(actor, &record.session)
            .await
            .is_ok_and(|s| s.state != SessionState::Ended);
        let agent_live = record.mode == DevMode::Cluster
            || self
                .local
                .lock()
                .get(&key(&record.space, &record.target))
                .is_some_and(|task| !task.is_finished());
        session_live && agent_live
    }

    /// Puts a workload in dev mode (or finds it there) and returns its dev
    /// session.
    pub async fn up(&self, actor: &Actor, space: &str, req: DevRequest) -> Result<DevView, Error> {
        check_target(&req.target)?;
        let (kind, name) = split_workload(&req.workload)?;
        self.spaces.check_use(actor, space, "dev.up").await?;
        // A space that is asleep, or half so, is woken wholly first: the
        // workload must be back before it can run the agent.
        let wake = self.spaces.wake_fully(space, "berth up", WAKE_WAIT).await?;
        let woke = |view: DevView| DevView { wake, ..view };
        if let Some(record) = self.record(space, &req.target)?
            && record.request == req
            && self.live(actor, &record).await
        {
            return self.view(actor, record).await.map(woke);
        }
        let object = self
            .cluster
            .workload(space, kind, name)
            .await
            .map_err(|e| kube_error("cannot read the workload", berth_core::error::chain(&e)))?
            .ok_or_else(|| {
                Error::not_found("workload", format!("{} in space {space}", req.workload))
            })?;
        // Refused before a session is made; checked again on every write.
        entry(&object, &req)?;
        let (volume_paths, volume_gib, storage_class) = volumes(&req, &self.config)?;
        // A target brought up again with other settings gets a new session;
        // the old one ends (its agent is replaced below).
        if let Some(previous) = self.record(space, &req.target)? {
            let _ = self.relay.terminate(actor, &previous.session).await;
        }
        let created = self
            .relay
            .create(
                actor,
                NewSession {
                    space: space.to_owned(),
                },
            )
            .await?;
        let dev_plan = DevPlan {
            target: req.target.clone(),
            container: req.container.clone(),
            image: req.image.clone(),
            command: req.command.clone(),
            workdir: req.workdir.clone(),
            env: req.env.clone(),
            agent_image: self.config.agent_image.clone(),
            agent_url: self.agent_url.clone(),
            token_secret: plan::token_secret(&req.target),
            volumes: volume_paths,
        };
        // The dev volume and the token's Secret: the space's, the target's.
        let labels = BTreeMap::from([
            (berth_kube::plan::SPACE_LABEL.to_owned(), space.to_owned()),
            (plan::TARGET_ANNOTATION.to_owned(), req.target.clone()),
        ]);
        if !dev_plan.volumes.is_empty() {
            self.cluster
                .put_volume_claim(
                    space,
                    &plan::volume_claim(&req.target),
                    labels.clone(),
                    volume_gib,
                    storage_class.as_deref(),
                )
                .await
                .map_err(|e| {
                    kube_error(
                        "cannot make the dev volume (`berth down --volumes` replaces one whose storage class changed)",
                        berth_core::error::chain(&e),
                    )
                })?;
        }
        self.cluster
            .put_secret(
                space,
                &dev_plan.token_secret,
                labels,
                BTreeMap::from([(plan::TOKEN_KEY.to_owned(), created.agent_token.clone())]),
            )
            .await
            .map_err(|e| {
                kube_error(
                    "cannot store the agent's token",
                    berth_core::error::chain(&e),
                )
            })?;
        // Planned from the workload as it is at each attempt: a controller
        // that wrote it since the last read makes the write a conflict,
        // and the plan is made again.
        let changed = self
            .cluster
            .change_workload(space, kind, name, |object| {
                let (saved, original) = entry(object, &req)?;
                let spec = plan::dev_spec(&original, &dev_plan)
                    .map_err(|e| Error::invalid("workload", e))?;
                Ok(Some(plan::enter_patch(
                    object,
                    spec,
                    &req.target,
                    saved.is_none().then_some(&original),
                )))
            })
            .await;
        match changed {
            Ok(Changed::Missing) => {
                return Err(Error::not_found(
                    "workload",
                    format!("{} in space {space}", req.workload),
                ));
            }
            Ok(_) => {}
            Err(ChangeError::Plan(e)) => return Err(e),
            Err(e) => {
                return Err(kube_error(
                    "cannot put the workload in dev mode",
                    berth_core::error::chain(&e),
                ));
            }
        }
        let local = self.config.local_agents;
        let local_root = local.then(|| self.local_root.join(space).join(&req.target));
        if let Some(root) = &local_root {
            std::fs::create_dir_all(root)
                .map_err(|e| Error::internal(format!("cannot make {}: {e}", root.display())))?;
            let config = berth_agent::AgentConfig {
                url: self.agent_url.clone(),
                token: created.agent_token.clone(),
                root: root.clone(),
                workdir: req.workdir.clone(),
                command: Some(req.command.clone()),
            };
            let label = key(space, &req.target);
            let say_label = label.clone();
            let task = tokio::spawn(async move {
                let say = move |line: &str| tracing::info!(target: "berth_dev::agent", dev = %say_label, "{line}");
                if let Err(e) = berth_agent::run(config, say).await {
                    tracing::info!(target: "berth_dev::agent", "local agent stopped: {e}");
                }
            });
            if let Some(previous) = self.local.lock().insert(label, task) {
                previous.abort();
            }
        }
        let record = DevRecord {
            space: space.to_owned(),
            target: req.target.clone(),
            workload: req.workload.clone(),
            session: created.session.id.clone(),
            mode: if local {
                DevMode::Local
            } else {
                DevMode::Cluster
            },
            started_by: actor.user.username.to_string(),
            started_by_id: actor.user.id.clone(),
            started_at: self.clock.now(),
            image: req.image.clone(),
            command: req.command.clone(),
            local_root: local_root.map(|p| p.display().to_string()),
            request: req.clone(),
        };
        let event = NewEvent::new(
            actor_of(actor),
            "dev.up",
            resource(space, &req.target),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .reason(format!(
            "{} in dev mode, session {}{}",
            req.workload,
            record.session,
            if req.volumes.is_empty() {
                String::new()
            } else {
                format!(
                    ", volume {} ({volume_gib} GiB) at {}",
                    plan::volume_claim(&req.target),
                    req.volumes.join(", ")
                )
            }
        ));
        self.audit
            .commit_durable(&[TARGETS.name], |tx| {
                tx.put(TARGETS, &key(space, &req.target), &record)?;
                Ok(((), event.clone()))
            })
            .await?;
        self.view(actor, record).await.map(woke)
    }

    /// Takes a target out of dev mode: the workload's original spec back,
    /// the token's Secret gone, the session ended.
    pub async fn down(&self, actor: &Actor, space: &str, target: &str) -> Result<DevView, Error> {
        self.spaces.check_use(actor, space, "dev.down").await?;
        let record = self
            .record(space, target)?
            .ok_or_else(|| Error::not_found("dev target", format!("{target} in space {space}")))?;
        let (kind, name) = split_workload(&record.workload)?;
        // A workload that is gone, or no longer in dev mode, is fine; one
        // its controller writes meanwhile is read and planned again.
        let restored = self
            .cluster
            .change_workload(space, kind, name, |object| {
                plan::leave_patch(object).map_err(Error::conflict)
            })
            .await;
        match restored {
            Ok(_) => {}
            Err(ChangeError::Plan(e)) => return Err(e),
            Err(e) => {
                return Err(kube_error(
                    "cannot restore the workload",
                    berth_core::error::chain(&e),
                ));
            }
        }
        self.cluster
            .delete_secret(space, &plan::token_secret(target))
            .await
            .map_err(|e| {
                kube_error(
                    "cannot delete the agent's token",
                    berth_core::error::chain(&e),
                )
            })?;
        if let Some(task) = self.local.lock().remove(&key(space, target)) {
            task.abort();
        }
        let view = self.view(actor, record.clone()).await;
        let _ = self.relay.terminate(actor, &record.session).await;
        let event = NewEvent::new(
            actor_of(actor),
            "dev.down",
            resource(space, target),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .reason(format!("{} restored", record.workload));
        self.audit
            .commit_durable(&[TARGETS.name], |tx| {
                tx.delete(TARGETS, &key(space, target))?;
                Ok(((), event.clone()))
            })
            .await?;
        view
    }

    /// Deletes a dev target's volume (`berth down --volumes`), with what was
    /// on it; refused while the target is in dev mode, whose pod uses it.
    /// A volume that is not there is fine.
    pub async fn delete_volume(
        &self,
        actor: &Actor,
        space: &str,
        target: &str,
    ) -> Result<(), Error> {
        check_target(target)?;
        self.spaces
            .check_use(actor, space, "dev.volume.delete")
            .await?;
        let claim = plan::volume_claim(target);
        let result = async {
            if self.record(space, target)?.is_some() {
                return Err(Error::conflict(format!(
                    "{target} is in dev mode and its pod uses {claim}; run `berth down {target}` first"
                )));
            }
            self.cluster
                .delete_volume_claim(space, &claim)
                .await
                .map_err(|e| {
                    kube_error("cannot delete the dev volume", berth_core::error::chain(&e))
                })
        }
        .await;
        self.auth
            .audited(actor, "dev.volume.delete", resource(space, target), result)
            .await?;
        let event = NewEvent::new(
            actor_of(actor),
            "dev.volume.delete",
            resource(space, target),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .reason(format!("{claim} deleted"));
        self.audit.record_durable(event).await?;
        Ok(())
    }

    /// The space's targets in dev mode.
    pub async fn list(&self, actor: &Actor, space: &str) -> Result<Vec<DevView>, Error> {
        self.spaces.check_use(actor, space, "dev.list").await?;
        let records: Vec<(String, DevRecord)> =
            self.audit.store().scan(TARGETS, &format!("{space}/"))?;
        let mut out = Vec::new();
        for (_, record) in records {
            out.push(self.view(actor, record).await?);
        }
        Ok(out)
    }

    /// The space's Deployments and StatefulSets, for `berth init`.
    pub async fn workloads(&self, actor: &Actor, space: &str) -> Result<Vec<WorkloadView>, Error> {
        self.spaces.check_use(actor, space, "dev.workloads").await?;
        let objects = self
            .cluster
            .list_workloads(space)
            .await
            .map_err(|e| kube_error("cannot list workloads", berth_core::error::chain(&e)))?;
        Ok(objects.iter().map(workload_view).collect())
    }

    /// Ends every local agent (the daemon is stopping).
    pub fn stop(&self) {
        for (_, task) in self.local.lock().drain() {
            task.abort();
        }
    }

    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }
}

fn workload_view(object: &Value) -> WorkloadView {
    let kind = object["kind"]
        .as_str()
        .unwrap_or("Deployment")
        .to_ascii_lowercase();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // In dev mode, the containers as they were.
    let saved: Option<Value> = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(plan::ORIGINAL_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok());
    let spec = saved.as_ref().unwrap_or(&object["spec"]);
    let containers = spec
        .pointer("/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| ContainerView {
                    name: c["name"].as_str().unwrap_or_default().to_owned(),
                    image: c["image"].as_str().unwrap_or_default().to_owned(),
                    ports: c["ports"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| p["containerPort"].as_u64())
                                .filter_map(|p| u16::try_from(p).ok())
                                .collect()
                        })
                        .unwrap_or_default(),
                    workdir: c["workingDir"].as_str().map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default();
    WorkloadView {
        workload: format!("{kind}/{name}"),
        containers,
        dev_target: object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(plan::TARGET_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

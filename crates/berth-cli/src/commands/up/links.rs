//! What `berth up` runs over the dev session: one sync engine per folder,
//! as the coordinator, each on a stream of its own, and the port forwards
//! both ways.

use std::path::PathBuf;

use berth_proto::SyncOpen;
use berth_sync::engine::{self, Settings, SharedStatus};
use berth_sync::{Input, ScanOptions};
use tokio::sync::mpsc;

use super::{Resolved, state_dir};
use crate::manifest::Target;
use crate::output::Failure;

/// A sync folder while `berth up` runs: its engine, what it is doing, and
/// where to tell it to stop.
pub(super) struct Folder {
    pub(super) local: PathBuf,
    pub(super) remote: String,
    pub(super) status: SharedStatus,
    pub(super) input: mpsc::Sender<Input>,
    pub(super) engine: tokio::task::JoinHandle<Result<(), berth_sync::SyncError>>,
}

/// Opens a sync stream per folder and starts its engine.
pub(super) async fn sync_folders(
    relay: &crate::relay::Session,
    resolved: &Resolved,
    spec: &Target,
    folders: Vec<(PathBuf, String)>,
) -> Result<Vec<Folder>, Failure> {
    let state = state_dir(&resolved.project);
    let mut running = Vec::new();
    for (i, (local, remote)) in folders.into_iter().enumerate() {
        let stream = relay
            .mux
            .open_with(&SyncOpen {
                version: u64::from(berth_sync::wire::VERSION),
                path: remote.clone(),
                ignores: spec.ignore.clone(),
            })
            .await
            .map_err(|e| {
                Failure::new(format!("cannot start syncing {remote}: {e}"), "try again")
            })?;
        let (input, inbox) = mpsc::channel(64);
        let (outbox, wire) = berth_sync::link::attach(stream, input.clone());
        let status = SharedStatus::default();
        let settings = Settings {
            root: local.clone(),
            options: ScanOptions {
                ignores: spec.ignore.clone(),
            },
            index_file: Some(
                state
                    .join("sync")
                    .join(format!("{}-{i}.index.json", resolved.target)),
            ),
            watch: true,
        };
        let engine = {
            let status = status.clone();
            let watch = input.clone();
            tokio::task::spawn_blocking(move || {
                engine::coordinate(settings, inbox, Some(watch), outbox, wire, status)
            })
        };
        running.push(Folder {
            local,
            remote,
            status,
            input,
            engine,
        });
    }
    Ok(running)
}

/// Starts the manifest's port forwards and reverse forwards; answers them
/// as `berth up` shows them (`127.0.0.1:LOCAL -> REMOTE`, `container port
/// REMOTE -> 127.0.0.1:LOCAL`).
pub(super) async fn forward_ports(
    relay: &crate::relay::Session,
    spec: &Target,
) -> Result<Vec<String>, Failure> {
    let mut forwards = Vec::new();
    for forward in &spec.forward {
        let to = forward.to();
        let bound = relay.forward(&to).await?;
        forwards.push(format!("127.0.0.1:{bound} -> {}", to.remote()));
    }
    for reverse in &spec.reverse {
        let (remote, local) = reverse.ports();
        relay.reverse(remote, local).await?;
        forwards.push(format!("container port {remote} -> 127.0.0.1:{local}"));
    }
    Ok(forwards)
}

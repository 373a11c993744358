//! Dev mode against the server: `start` has the daemon put the target's
//! workload in dev mode (it patches the workload and starts a dev
//! session); `down` has it put the original spec back and end the
//! session.

use std::path::PathBuf;

use berth_core::dev::{DevMode, DevRequest, DevView, DevVolume};

use super::{DownArgs, Resolved, resolve};
use crate::client::Client;
use crate::manifest::Target;
use crate::output::Failure;

/// Puts the target in dev mode; `folders` are its sync folders (the first
/// one's remote path is the working folder unless the manifest sets one).
pub(super) async fn start(
    client: &Client,
    resolved: &Resolved,
    spec: &Target,
    folders: &[(PathBuf, String)],
) -> Result<DevView, Failure> {
    let workdir = spec
        .workdir
        .clone()
        .or_else(|| folders.first().map(|(_, remote)| remote.clone()));
    let request = DevRequest {
        target: resolved.target.clone(),
        workload: spec.workload.0.clone(),
        container: spec.container.clone(),
        image: spec.image.clone(),
        command: spec.command.as_ref().map(|c| c.argv()).unwrap_or_default(),
        workdir,
        env: spec.environment.clone(),
        volumes: spec.volumes.clone(),
        volume: spec.volume.as_ref().map(|v| DevVolume {
            size_gib: v.size_gib,
            storage_class: v.storage_class.clone(),
        }),
    };
    eprintln!(
        "Putting {} in dev mode in space {}…",
        spec.workload.0, resolved.space
    );
    let dev: DevView = client
        .post(&format!("/api/v1/spaces/{}/dev", resolved.space), &request)
        .await?;
    // The space was asleep, or half so: what waking it first did.
    if let Some(wake) = &dev.wake {
        eprintln!("{wake}");
    }
    eprintln!(
        "Dev session {} ({}).",
        dev.session.id,
        match dev.mode {
            DevMode::Cluster => "agent in the dev container".to_owned(),
            DevMode::Local => format!(
                "agent in berthd on {}",
                dev.local_root.as_deref().unwrap_or("its data folder")
            ),
        }
    );
    Ok(dev)
}

/// `berth down`: the workload's original spec back, the session ended;
/// with `--volumes`, the target's volume deleted too.
pub async fn down(client: &Client, args: DownArgs, context: Option<&str>) -> Result<(), Failure> {
    let resolved = resolve(&args.up, context)?;
    let path = format!("/api/v1/spaces/{}/dev/{}", resolved.space, resolved.target);
    // With --volumes, a target already out of dev mode is fine.
    let in_dev_mode = !args.volumes || {
        let devs: Vec<DevView> = client
            .get(&format!("/api/v1/spaces/{}/dev", resolved.space))
            .await?;
        devs.iter().any(|d| d.target == resolved.target)
    };
    if in_dev_mode {
        let view: DevView = client.delete(&path).await?;
        let _ = std::fs::remove_file(resolved.status_file());
        eprintln!(
            "{} is out of dev mode: its original spec is back, and session {} has ended.",
            view.workload, view.session.id
        );
    }
    if args.volumes {
        client.delete_empty(&format!("{path}/volume")).await?;
        eprintln!(
            "The volume of {} is deleted, with what its folders held.",
            resolved.target
        );
    }
    Ok(())
}

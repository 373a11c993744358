//! `berth up`, `berth down`, `berth init`, `berth sync status|doctor`:
//! the inner loop. `up` puts the manifest's target in dev mode (the daemon
//! patches the workload), attaches to its session, keeps each sync folder
//! in sync both ways and forwards ports, with progress while the first
//! sync runs and one status line after.
//!
//! This module holds the commands' arguments, what they resolve from the
//! manifest, and `up` itself, which reads top to bottom: `dev` (dev mode
//! against the server), `links` (the sync engines and port forwards over
//! the session), `run` (the loop that shows progress until Ctrl-C),
//! `report` (metrics for the daemon, the sleep warning), `status` (`berth
//! sync status|doctor` and the file they read), `init` (`berth init`).

mod dev;
mod init;
mod links;
mod progress;
mod report;
mod run;
mod status;

use std::path::{Path, PathBuf};

use crate::client::Client;
use crate::commands::sessions;
use crate::manifest::{self, Manifest, Target};
use crate::output::Failure;

pub use dev::down;
pub use init::init;
pub use status::{doctor, sync_status};

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The manifest's dev target; the only one when left out.
    target: Option<String>,
    /// The manifest; berth.yaml here or in a parent folder by default.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// The space; the manifest's, or the current one.
    #[arg(long)]
    space: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    #[command(flatten)]
    up: UpArgs,
    /// Also delete the target's volume, with what its `volumes` folders
    /// held (the target need not be in dev mode).
    #[arg(long)]
    volumes: bool,
}

impl UpArgs {
    /// The manifest named with `--file`, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// What `berth up` is doing: state, pending files, last error, conflicts.
    Status(UpArgs),
    /// Why sync is slow or what it leaves out: largest folders, ignored
    /// paths, files that cannot sync and why.
    Doctor(UpArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum ManifestCommand {
    /// Print the JSON Schema of berth.yaml.
    Schema,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The project's state folder, ignored by git and never synced.
fn state_dir(project: &Path) -> PathBuf {
    let dir = project.join(".berth");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(".gitignore"), "*\n");
    }
    dir
}

struct Resolved {
    manifest: Manifest,
    project: PathBuf,
    target: String,
    space: String,
}

fn resolve(args: &UpArgs, context: Option<&str>) -> Result<Resolved, Failure> {
    let (manifest, file) = manifest::load(args.file.as_deref())?;
    let project = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let target = manifest.target(args.target.as_deref())?.0.to_owned();
    let space = crate::commands::spaces::space_or_current(
        args.space.clone().or_else(|| manifest.space.clone()),
        context,
    )?;
    Ok(Resolved {
        manifest,
        project,
        target,
        space,
    })
}

impl Resolved {
    fn spec(&self) -> &Target {
        self.manifest
            .target(Some(&self.target))
            .map(|(_, t)| t)
            .expect("resolved target")
    }

    /// Each sync folder: the local folder (which must exist) and the
    /// remote path.
    fn folders(&self) -> Result<Vec<(PathBuf, String)>, Failure> {
        self.spec()
            .sync
            .iter()
            .map(|folder| {
                let (local, remote) = folder.parts();
                let path = self.project.join(local);
                let path = path.canonicalize().map_err(|e| {
                    Failure::new(
                        format!("the sync folder {} cannot be used: {e}", path.display()),
                        "make the folder, or fix `sync` in the manifest",
                    )
                })?;
                Ok((path, remote.to_owned()))
            })
            .collect()
    }

    fn status_file(&self) -> PathBuf {
        state_dir(&self.project)
            .join("status")
            .join(format!("{}.json", self.target))
    }
}

/// A byte count as people read it: "1.2 MB".
fn bytes(n: u64) -> String {
    bytesize::ByteSize(n).display().si().to_string()
}

pub async fn up(client: &Client, args: UpArgs, context: Option<&str>) -> Result<(), Failure> {
    let resolved = resolve(&args, context)?;
    let spec = resolved.spec().clone();
    let folders = resolved.folders()?;
    let dev = dev::start(client, &resolved, &spec, &folders).await?;
    let relay = sessions::attach(client, &dev.session.id).await?;
    let running = links::sync_folders(&relay, &resolved, &spec, folders).await?;
    let forwards = links::forward_ports(&relay, &spec).await?;
    run::run_until_stopped(client, &resolved, &dev, relay, running, forwards).await
}

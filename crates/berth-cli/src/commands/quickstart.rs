//! `berth quickstart`: the built-in sample web app, ready for `berth up`.
//! It installs the `hello-web` item into the current space (or finds it
//! there), waits until Helm is done, writes the app's source and a
//! `berth.yaml` for it into a folder, and says what to run next.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_core::app::{AppView, InstallRequest, OperationKind, OperationState};
use berth_core::catalog::ItemView;
use berth_core::space::{Phase, SpaceView};
use berth_samples::WEB;
use serde_json::json;

use crate::client::Client;
use crate::commands::spaces::space_or_current;
use crate::manifest;
use crate::output::Failure;

/// The port `berth up` forwards from, on this machine, unless told
/// otherwise: not the app's own, which with the embedded cluster is a
/// port of this same machine.
const LOCAL_PORT: u16 = 3000;

#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// The space; the current one when left out.
    #[arg(long)]
    space: Option<String>,
    /// Where to write the app's source and berth.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The port the app listens on (in its container; with the embedded
    /// cluster, on berthd's machine) [default: the installed app's, else 8000].
    #[arg(long)]
    port: Option<u16>,
    /// The port of this machine that `berth up` forwards to the app.
    #[arg(long, default_value_t = LOCAL_PORT)]
    local_port: u16,
    /// Replace files of the same names that differ from the sample's.
    #[arg(long)]
    force: bool,
}

/// The files quickstart writes: the app's source and `berth.yaml`.
fn files(port: u16, local_port: u16) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = berth_samples::web_source()
        .map(|(name, bytes)| (name.to_owned(), bytes.to_vec()))
        .collect();
    files.push((
        manifest::FILE.to_owned(),
        sample_manifest(port, local_port).into_bytes(),
    ));
    files
}

/// The sample's `berth.yaml`: the dev command is the chart's own.
fn sample_manifest(port: u16, local_port: u16) -> String {
    let command = berth_samples::web_command(port)
        .iter()
        .map(|word| format!("{word:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "# The sample web app of `berth quickstart`; the schema is `berth manifest schema`.\n\
         # `berth up` puts deployment/{WEB} in dev mode, syncs this folder to /app,\n\
         # starts the app's server there once the first sync is done, and forwards\n\
         # 127.0.0.1:{local_port} to it.\n\
         dev:\n  web:\n    workload: deployment/{WEB}\n    command: [{command}]\n    \
         sync:\n      - ./:/app\n    forward:\n      - {local_port}:{port}\n"
    )
}

/// Files of `dir` that the sample would change, by name.
fn in_the_way(dir: &Path, files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .filter(|(name, bytes)| {
            std::fs::read(dir.join(name)).is_ok_and(|existing| &existing != bytes)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

pub async fn quickstart(
    client: &Client,
    args: QuickstartArgs,
    context: Option<&str>,
) -> Result<(), Failure> {
    let space = space_or_current(args.space, context)?;
    let items: Vec<ItemView> = client.get("/api/v1/catalog/items").await?;
    if !items.iter().any(|item| item.spec.name == WEB) {
        return Err(Failure::new(
            format!(
                "the catalog has no item {WEB}: this server does not offer the built-in samples"
            ),
            "ask an admin to turn on [catalog] samples, or run `berth init` in a space with a workload of your own",
        ));
    }
    let apps_path = format!("/api/v1/spaces/{space}/apps");
    let apps: Vec<AppView> = client.get(&apps_path).await?;
    let installed = apps.into_iter().find(|app| app.name == WEB);
    let port = args
        .port
        .or_else(|| {
            installed
                .as_ref()
                .and_then(|app| app.values["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok())
        })
        .unwrap_or(berth_samples::WEB_PORT);
    if port == args.local_port {
        return Err(Failure::new(
            format!("the app's port and the forwarded port are both {port}"),
            "pick another --local-port: with the embedded cluster the app runs on this machine",
        ));
    }
    let files = files(port, args.local_port);
    let clashes = in_the_way(&args.dir, &files);
    if !clashes.is_empty() && !args.force {
        return Err(Failure::new(
            format!("{} already in {}", clashes.join(", "), args.dir.display()),
            "run it in an empty folder (--dir), or pass --force to replace them",
        ));
    }

    wait_for_space(client, &space).await?;
    let app = match installed {
        Some(app) => {
            eprintln!("{WEB} is in space {space} already.");
            app
        }
        None => {
            client
                .post(
                    &apps_path,
                    &InstallRequest {
                        item: WEB.to_owned(),
                        name: None,
                        values: Some(json!({ "port": port })),
                    },
                )
                .await?
        }
    };
    wait_for_app(client, &space, app).await?;

    write(&args.dir, &files)?;
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    let folder = args.dir.canonicalize().unwrap_or_else(|_| args.dir.clone());
    eprintln!(
        "Wrote {} and {} in {}.",
        names[..names.len() - 1].join(", "),
        names[names.len() - 1],
        folder.display()
    );
    let cd = if args.dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", args.dir.display())
    };
    let up = format!("{cd}berth up");
    let open = format!("http://127.0.0.1:{}", args.local_port);
    let width = up.len().max(open.len()) + 2;
    eprintln!(
        "\nNext:\n  {up:<width$}# sync this folder into deployment/{WEB} and start its server\n  \
         {open:<width$}# open it, then edit index.html, save, and reload"
    );
    Ok(())
}

/// Waits while the space is still being made (a personal space right
/// after the first sign-in).
async fn wait_for_space(client: &Client, space: &str) -> Result<(), Failure> {
    let mut said = false;
    loop {
        let view: SpaceView = client.get(&format!("/api/v1/spaces/{space}")).await?;
        match view.status.phase {
            Phase::Pending => {
                if !said {
                    eprintln!("Waiting for space {space} to be made…");
                    said = true;
                }
            }
            Phase::Failed | Phase::Terminating => {
                return Err(Failure::new(
                    format!("space {space} is {:?}", view.status.phase),
                    format!("see `berth space get {space}`, or use another space with --space"),
                ));
            }
            _ => return Ok(()),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Follows the app's operation until Helm is done, on one progress line.
async fn wait_for_app(client: &Client, space: &str, mut app: AppView) -> Result<(), Failure> {
    let path = format!("/api/v1/spaces/{space}/apps/{WEB}");
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let line = format!(
        "Installing {WEB} ({} {}) into space {space}…",
        app.chart, app.operation.chart_version
    );
    let mut shown = false;
    while app.operation.state == OperationState::Running {
        if terminal {
            eprint!("\r{line} {}s", started.elapsed().as_secs());
        } else if !shown {
            eprintln!("{line}");
        }
        shown = true;
        tokio::time::sleep(Duration::from_millis(250)).await;
        app = client.get(&path).await?;
    }
    if shown && terminal {
        eprintln!("\r{line} done in {}s.", started.elapsed().as_secs());
    }
    match (app.operation.kind, app.operation.state) {
        (OperationKind::Uninstall, _) => Err(Failure::new(
            format!("{WEB} was uninstalled from space {space}"),
            "run `berth quickstart` again to install it again",
        )),
        (_, OperationState::Failed) => Err(Failure::new(
            format!(
                "the {:?} of {WEB} failed: {}",
                app.operation.kind,
                app.operation.error.as_deref().unwrap_or("see its log")
            )
            .to_lowercase(),
            format!("see `berth app logs {WEB}`; `berth app uninstall {WEB}` and run it again"),
        )),
        _ => {
            eprintln!("{WEB} is deployed in space {space} (deployment/{WEB}).");
            Ok(())
        }
    }
}

fn write(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), Failure> {
    let fail = |path: &Path, e: std::io::Error| {
        Failure::new(
            format!("cannot write {}: {e}", path.display()),
            "check the folder's permissions",
        )
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_manifest_runs_the_charts_command() {
        let text = sample_manifest(8123, 3001);
        let manifest = manifest::parse(&text, manifest::FILE).expect("valid");
        let (name, target) = manifest.target(None).expect("one target");
        assert_eq!(name, "web");
        assert_eq!(target.workload.0, "deployment/hello-web");
        assert_eq!(
            target.command.as_ref().map(manifest::Command::argv),
            Some(berth_samples::web_command(8123))
        );
        assert_eq!(target.sync[0].parts(), ("./", "/app"));
        assert!(
            text.contains("command: [\"python3\", \"server.py\", \"8123\"]"),
            "{text}"
        );
        assert!(text.contains("- 3001:8123"), "{text}");
    }

    #[test]
    fn only_files_that_differ_are_in_the_way() {
        let dir = tempfile::tempdir().expect("dir");
        let files = files(8000, 3000);
        assert!(in_the_way(dir.path(), &files).is_empty());
        write(dir.path(), &files).expect("write");
        // The same files again: nothing in the way.
        assert!(in_the_way(dir.path(), &files).is_empty());
        std::fs::write(dir.path().join("index.html"), "mine").expect("edit");
        assert_eq!(in_the_way(dir.path(), &files), ["index.html"]);
    }
}

//! `berth deploy` and `berth app list|status|logs|upgrade|uninstall`:
//! catalog items installed into a space by Helm.

use std::path::PathBuf;

use berth_core::app::{AppView, InstallRequest, OperationState, UpgradeRequest, merge, set_values};
use serde_json::Value;

use crate::client::Client;
use crate::commands::spaces::space_or_current;
use crate::output::{self, Failure, Format};

/// Values as Helm takes them: files first, then `--set`, each over the
/// one before.
#[derive(Debug, clap::Args)]
pub struct ValuesArgs {
    /// Set a value: a.b.c=VALUE (true, false, null and whole numbers are
    /// themselves; anything else is text). May be repeated.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// A YAML file of values. May be repeated.
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl ValuesArgs {
    fn given(&self) -> bool {
        !self.set.is_empty() || !self.files.is_empty()
    }

    fn values(&self) -> Result<Value, Failure> {
        let mut values = Value::Object(Default::default());
        for file in &self.files {
            let text = std::fs::read_to_string(file).map_err(|e| {
                Failure::new(
                    format!("cannot read {}: {e}", file.display()),
                    "check the path",
                )
            })?;
            let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
                Failure::new(
                    format!("{} is not YAML values: {e}", file.display()),
                    "fix the file: it holds a map of values, as a chart's values.yaml does",
                )
            })?;
            if !value.is_object() && !value.is_null() {
                return Err(Failure::new(
                    format!("{} is not a map of values", file.display()),
                    "write it as a chart's values.yaml is written",
                ));
            }
            merge(&mut values, &value);
        }
        let pairs = self
            .set
            .iter()
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        Failure::new(
                            format!("--set {pair:?} has no '='"),
                            "write --set PATH=VALUE, such as --set auth.password=s3cret",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        set_values(&mut values, &pairs)
            .map_err(|e| Failure::new(format!("--set: {e}"), "write --set PATH=VALUE"))?;
        Ok(values)
    }
}

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The catalog item (`berth catalog list`).
    item: String,
    /// The application's name in the space; the item's name when left out.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    values: ValuesArgs,
    /// The space; the current one when left out.
    #[arg(long)]
    space: Option<String>,
    /// Show Helm's output and wait until it is done.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum AppCommand {
    /// The space's applications.
    #[command(alias = "ls")]
    List {
        #[arg(long)]
        space: Option<String>,
    },
    /// An application: its latest operation, Helm's release and notes.
    Status {
        name: String,
        #[arg(long)]
        space: Option<String>,
    },
    /// Helm's output of the latest operation.
    Logs {
        name: String,
        /// Keep following while the operation runs.
        #[arg(long, short)]
        follow: bool,
        #[arg(long)]
        space: Option<String>,
    },
    /// Upgrade to the newest chart version the item takes, with changed
    /// values (laid over the earlier ones).
    Upgrade {
        name: String,
        #[command(flatten)]
        values: ValuesArgs,
        /// Start from the item's values, forgetting those given before.
        #[arg(long)]
        reset_values: bool,
        #[arg(long)]
        space: Option<String>,
        #[arg(long)]
        wait: bool,
    },
    /// Uninstall an application from the space.
    #[command(alias = "rm")]
    Uninstall {
        name: String,
        #[arg(long)]
        space: Option<String>,
        #[arg(long)]
        wait: bool,
    },
}

fn base(space: &str) -> String {
    format!("/api/v1/spaces/{space}/apps")
}

const HEADERS: [&str; 7] = [
    "NAME",
    "ITEM",
    "CHART",
    "STATUS",
    "REVISION",
    "LAST OPERATION",
    "BY",
];

fn row(app: &AppView) -> Vec<String> {
    vec![
        app.name.clone(),
        app.item.clone(),
        format!("{} {}", app.chart, app.chart_version),
        app.status.clone(),
        app.release
            .as_ref()
            .map(|r| r.revision.to_string())
            .unwrap_or_default(),
        format!(
            "{:?} #{} {:?}",
            app.operation.kind, app.operation.number, app.operation.state
        )
        .to_lowercase(),
        app.operation.started_by.clone(),
    ]
}

fn status(app: &AppView, format: Format) -> Result<(), Failure> {
    if format != Format::Table {
        return output::structured(format, app);
    }
    let mut text = format!(
        "{} in space {}: {}\n  item {}, chart {} {}\n  {:?} #{} by {} at {}: {:?}\n",
        app.name,
        app.space,
        app.status,
        app.item,
        app.chart,
        app.chart_version,
        app.operation.kind,
        app.operation.number,
        app.operation.started_by,
        app.operation.started_at,
        app.operation.state,
    );
    if let Some(error) = &app.operation.error {
        text.push_str(&format!("  error: {error}\n"));
    }
    match &app.release {
        Some(release) => {
            text.push_str(&format!(
                "  Helm release: revision {}, {}{}\n",
                release.revision,
                release.status,
                release
                    .description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
            if let Some(notes) = &release.notes {
                text.push_str(&format!("\n{notes}\n"));
            }
        }
        None => text.push_str("  Helm has no release of it in the space\n"),
    }
    output::write_stdout(text.as_bytes())
}

/// Writes Helm's output as it comes until the operation ends: to stdout
/// (`berth app logs -f`), or to stderr (`--wait`, whose stdout is the
/// status at the end).
async fn follow(client: &Client, space: &str, name: &str, to_stdout: bool) -> Result<(), Failure> {
    let mut response = client
        .get_stream(&format!("{}/{name}/logs?follow=true", base(space)))
        .await?;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        Failure::new(
            format!("lost Helm's output: {e}"),
            format!("`berth app status {name}` says how it ended"),
        )
    })? {
        if to_stdout {
            output::write_stdout(&chunk)?;
        } else {
            use std::io::Write;
            let _ = std::io::stderr().write_all(&chunk);
        }
    }
    Ok(())
}

/// With `--wait`: follows the operation, then says how it ended (a failure
/// is the command's).
async fn wait_for(
    client: &Client,
    space: &str,
    name: &str,
    format: Format,
    uninstall: bool,
) -> Result<(), Failure> {
    follow(client, space, name, false).await?;
    let path = format!("{}/{name}", base(space));
    // Polled briefly: the end is recorded just after the output ends.
    for _ in 0..50 {
        match client.get::<AppView>(&path).await {
            Ok(app) if app.operation.state == OperationState::Running => {}
            Ok(app) if app.operation.state == OperationState::Failed => {
                return Err(Failure::new(
                    format!(
                        "{:?} of {name} failed: {}",
                        app.operation.kind,
                        app.operation
                            .error
                            .as_deref()
                            .unwrap_or("see `berth app logs`")
                    ),
                    format!(
                        "see `berth app logs {name}`; fix the values or the chart and run it again"
                    ),
                ));
            }
            Ok(app) => return status(&app, format),
            // Uninstalled: gone.
            Err(_) if uninstall => {
                eprintln!("{name} is uninstalled.");
                return Ok(());
            }
            Err(failure) => return Err(failure),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(Failure::new(
        format!("{name}'s operation still runs"),
        format!("`berth app status {name}` says how it ends"),
    ))
}

pub async fn deploy(
    client: &Client,
    args: DeployArgs,
    format: Format,
    context: Option<&str>,
) -> Result<(), Failure> {
    let space = space_or_current(args.space, context)?;
    let values = args.values.values()?;
    let app: AppView = client
        .post(
            &base(&space),
            &InstallRequest {
                item: args.item,
                name: args.name,
                values: Some(values),
            },
        )
        .await?;
    if args.wait {
        return wait_for(client, &space, &app.name, format, false).await;
    }
    eprintln!(
        "Installing {} ({} {}) in space {space}; `berth app status {}` follows it.",
        app.name, app.chart, app.operation.chart_version, app.name
    );
    Ok(())
}

pub async fn run(
    client: &Client,
    command: AppCommand,
    format: Format,
    context: Option<&str>,
) -> Result<(), Failure> {
    match command {
        AppCommand::List { space } => {
            let space = space_or_current(space, context)?;
            let apps: Vec<AppView> = client.get(&base(&space)).await?;
            match format {
                Format::Table => output::table(&HEADERS, apps.iter().map(row).collect()),
                _ => output::structured(format, &apps),
            }
        }
        AppCommand::Status { name, space } => {
            let space = space_or_current(space, context)?;
            status(
                &client.get(&format!("{}/{name}", base(&space))).await?,
                format,
            )
        }
        AppCommand::Logs {
            name,
            follow: true,
            space,
        } => follow(client, &space_or_current(space, context)?, &name, true).await,
        AppCommand::Logs { name, space, .. } => {
            let space = space_or_current(space, context)?;
            let mut response = client
                .get_stream(&format!("{}/{name}/logs", base(&space)))
                .await?;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| Failure::new(format!("lost Helm's output: {e}"), "try again"))?
            {
                output::write_stdout(&chunk)?;
            }
            Ok(())
        }
        AppCommand::Upgrade {
            name,
            values,
            reset_values,
            space,
            wait,
        } => {
            let space = space_or_current(space, context)?;
            let request = UpgradeRequest {
                values: if values.given() {
                    Some(values.values()?)
                } else {
                    None
                },
                reset_values,
            };
            let app: AppView = client
                .post(&format!("{}/{name}/upgrade", base(&space)), &request)
                .await?;
            if wait {
                return wait_for(client, &space, &name, format, false).await;
            }
            eprintln!(
                "Upgrading {name} to {} {}; `berth app status {name}` follows it.",
                app.chart, app.operation.chart_version
            );
            Ok(())
        }
        AppCommand::Uninstall { name, space, wait } => {
            let space = space_or_current(space, context)?;
            let _: AppView = client.delete(&format!("{}/{name}", base(&space))).await?;
            if wait {
                return wait_for(client, &space, &name, format, true).await;
            }
            eprintln!("Uninstalling {name}; `berth app status {name}` follows it.");
            Ok(())
        }
    }
}

//! `berth catalog list|show`: the items developers install;
//! `berth catalog item apply|hide|unhide|delete` (admins) and
//! `berth catalog repo add|list|show|refresh|remove|charts`: the chart
//! repositories the catalog draws from (admins).

use std::path::PathBuf;

use berth_core::catalog::{ChartView, ItemSpec, ItemView, NewRepository, RepositoryView};

use crate::client::Client;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// The applications you can install (`berth deploy ITEM`).
    #[command(alias = "ls")]
    List,
    /// An item, and the values you may set when you install it.
    Show { item: String },
    /// Catalog items (admins).
    #[command(subcommand)]
    Item(ItemCommand),
    /// Chart repositories (admins).
    #[command(subcommand)]
    Repo(RepoCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum ItemCommand {
    /// Create an item, or replace the one of that name, from a YAML file
    /// (name, description, icon, repository, chart, version, values,
    /// parameters, hidden).
    Apply {
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Stop offering an item to developers (what is installed stays).
    Hide { name: String },
    /// Offer a hidden item again.
    Unhide { name: String },
    /// Delete an item (what is installed from it stays, and can be
    /// uninstalled).
    #[command(alias = "rm")]
    Delete { name: String },
}

const ITEM_HEADERS: [&str; 6] = [
    "NAME",
    "CHART",
    "VERSION",
    "APP VERSION",
    "HIDDEN",
    "DESCRIPTION",
];

fn item_row(item: &ItemView) -> Vec<String> {
    vec![
        item.spec.name.clone(),
        format!("{}/{}", item.spec.repository, item.spec.chart),
        item.chart_version.clone(),
        item.app_version.clone().unwrap_or_default(),
        if item.spec.hidden { "yes" } else { "" }.to_owned(),
        if item.spec.description.is_empty() {
            item.chart_description.clone().unwrap_or_default()
        } else {
            item.spec.description.clone()
        },
    ]
}

fn show_item(item: &ItemView, format: Format) -> Result<(), Failure> {
    if format != Format::Table {
        return output::structured(format, item);
    }
    let spec = &item.spec;
    let mut text = format!(
        "{}{}
  {}
  chart {}/{} {} (asks for {}){}
",
        spec.name,
        if spec.hidden { " (hidden)" } else { "" },
        if spec.description.is_empty() {
            item.chart_description.as_deref().unwrap_or("")
        } else {
            &spec.description
        },
        spec.repository,
        spec.chart,
        item.chart_version,
        spec.version,
        item.app_version
            .as_deref()
            .map(|v| format!(", app {v}"))
            .unwrap_or_default(),
    );
    if !item.has_schema {
        text.push_str(
            "  the chart has no values.schema.json: values are not checked before Helm runs
",
        );
    }
    output::write_stdout(text.as_bytes())?;
    output::table(
        &["VALUE", "TYPE", "DEFAULT", "ALLOWED", "DESCRIPTION"],
        item.fields
            .iter()
            .map(|f| {
                vec![
                    format!("{}{}", f.path, if f.required { " *" } else { "" }),
                    f.kind.clone(),
                    if f.secret {
                        "(secret)".to_owned()
                    } else {
                        f.default
                            .as_ref()
                            .map(|d| d.to_string())
                            .unwrap_or_default()
                    },
                    if !f.choices.is_empty() {
                        f.choices
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    } else {
                        match (f.minimum, f.maximum) {
                            (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
                            (Some(lo), None) => format!(">= {lo}"),
                            (None, Some(hi)) => format!("<= {hi}"),
                            (None, None) => String::new(),
                        }
                    },
                    f.description
                        .clone()
                        .or_else(|| f.title.clone())
                        .unwrap_or_default(),
                ]
            })
            .collect(),
    )
}

async fn items(client: &Client, command: ItemCommand, format: Format) -> Result<(), Failure> {
    let base = "/api/v1/catalog/items";
    match command {
        ItemCommand::Apply { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::new(
                    format!("cannot read {}: {e}", file.display()),
                    "check the path",
                )
            })?;
            let spec: ItemSpec = serde_yaml_ng::from_str(&text).map_err(|e| {
                Failure::new(
                    format!("{} is not a catalog item: {e}", file.display()),
                    "see docs/catalog.md for an item's fields",
                )
            })?;
            let path = format!("{base}/{}", spec.name);
            let exists = client.get::<ItemView>(&path).await.is_ok();
            let view: ItemView = if exists {
                client.put(&path, &spec).await?
            } else {
                client.post(base, &spec).await?
            };
            eprintln!(
                "{} {}: chart {}/{} {}, {} values developers may set.",
                if exists { "Replaced" } else { "Created" },
                view.spec.name,
                view.spec.repository,
                view.spec.chart,
                view.chart_version,
                view.fields.len()
            );
            Ok(())
        }
        ItemCommand::Hide { name } => set_hidden(client, &name, true, format).await,
        ItemCommand::Unhide { name } => set_hidden(client, &name, false, format).await,
        ItemCommand::Delete { name } => {
            let view: ItemView = client.delete(&format!("{base}/{name}")).await?;
            eprintln!("Deleted {}.", view.spec.name);
            Ok(())
        }
    }
}

async fn set_hidden(
    client: &Client,
    name: &str,
    hidden: bool,
    format: Format,
) -> Result<(), Failure> {
    let path = format!("/api/v1/catalog/items/{name}");
    let mut item: ItemView = client.get(&path).await?;
    item.spec.hidden = hidden;
    let view: ItemView = client.put(&path, &item.spec).await?;
    match format {
        Format::Table => {
            eprintln!(
                "{} is {}.",
                view.spec.name,
                if hidden {
                    "hidden from developers"
                } else {
                    "offered to developers"
                }
            );
            Ok(())
        }
        _ => output::structured(format, &view),
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum RepoCommand {
    /// Add a chart repository; its index.yaml is fetched first.
    Add {
        name: String,
        url: String,
        /// Files on berthd's machine (a mounted Secret) with the basic
        /// authentication user name and password.
        #[arg(long, requires = "password_file")]
        username_file: Option<String>,
        #[arg(long, requires = "username_file")]
        password_file: Option<String>,
        /// A PEM file on berthd's machine with the CAs to trust.
        #[arg(long)]
        ca_file: Option<String>,
    },
    /// The chart repositories and their last fetch.
    #[command(alias = "ls")]
    List,
    /// One chart repository.
    Show { name: String },
    /// Fetch a repository's index now.
    Refresh { name: String },
    /// Remove a repository from the catalog.
    #[command(alias = "rm")]
    Remove { name: String },
    /// The charts a repository's index lists, newest version first.
    Charts { name: String },
}

fn row(r: &RepositoryView) -> Vec<String> {
    vec![
        r.name.clone(),
        r.url.clone(),
        r.charts.to_string(),
        r.versions.to_string(),
        r.fetched_at.map(|t| t.to_string()).unwrap_or_default(),
        r.last_error.clone().unwrap_or_default(),
    ]
}

const HEADERS: [&str; 6] = ["NAME", "URL", "CHARTS", "VERSIONS", "FETCHED", "LAST ERROR"];

pub async fn run(client: &Client, command: CatalogCommand, format: Format) -> Result<(), Failure> {
    let command = match command {
        CatalogCommand::List => {
            let items: Vec<ItemView> = client.get("/api/v1/catalog/items").await?;
            return match format {
                Format::Table => output::table(&ITEM_HEADERS, items.iter().map(item_row).collect()),
                _ => output::structured(format, &items),
            };
        }
        CatalogCommand::Show { item } => {
            return show_item(
                &client.get(&format!("/api/v1/catalog/items/{item}")).await?,
                format,
            );
        }
        CatalogCommand::Item(command) => return items(client, command, format).await,
        CatalogCommand::Repo(command) => command,
    };
    let base = "/api/v1/catalog/repositories";
    let one = |view: RepositoryView| match format {
        Format::Table => output::table(&HEADERS, vec![row(&view)]),
        _ => output::structured(format, &view),
    };
    match command {
        RepoCommand::Add {
            name,
            url,
            username_file,
            password_file,
            ca_file,
        } => {
            let view: RepositoryView = client
                .post(
                    base,
                    &NewRepository {
                        name,
                        url,
                        username_file,
                        password_file,
                        ca_file,
                    },
                )
                .await?;
            eprintln!(
                "Added {}: {} charts, {} versions.",
                view.name, view.charts, view.versions
            );
            Ok(())
        }
        RepoCommand::List => {
            let views: Vec<RepositoryView> = client.get(base).await?;
            match format {
                Format::Table => output::table(&HEADERS, views.iter().map(row).collect()),
                _ => output::structured(format, &views),
            }
        }
        RepoCommand::Show { name } => one(client.get(&format!("{base}/{name}")).await?),
        RepoCommand::Refresh { name } => {
            let view: RepositoryView = client
                .post(&format!("{base}/{name}/refresh"), &serde_json::json!({}))
                .await?;
            match &view.last_error {
                Some(error) => Err(Failure::new(
                    format!("cannot refresh {name}: {error}"),
                    "check the repository's URL and credentials; the charts of the last good fetch are kept",
                )),
                None => one(view),
            }
        }
        RepoCommand::Remove { name } => {
            let view: RepositoryView = client.delete(&format!("{base}/{name}")).await?;
            eprintln!("Removed {}.", view.name);
            Ok(())
        }
        RepoCommand::Charts { name } => {
            let charts: Vec<ChartView> = client.get(&format!("{base}/{name}/charts")).await?;
            match format {
                Format::Table => output::table(
                    &["CHART", "LATEST", "APP VERSION", "VERSIONS", "DESCRIPTION"],
                    charts
                        .iter()
                        .map(|c| {
                            let latest = c.versions.first();
                            vec![
                                c.name.clone(),
                                latest.map(|v| v.version.clone()).unwrap_or_default(),
                                latest
                                    .and_then(|v| v.app_version.clone())
                                    .unwrap_or_default(),
                                c.versions.len().to_string(),
                                latest
                                    .and_then(|v| v.description.clone())
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect(),
                ),
                _ => output::structured(format, &charts),
            }
        }
    }
}

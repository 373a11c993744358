//! `berth catalog repo add|list|show|refresh|remove|charts`: the chart
//! repositories the catalog draws from (admins).

use berth_core::catalog::{ChartView, NewRepository, RepositoryView};

use crate::client::Client;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Chart repositories (admins).
    #[command(subcommand)]
    Repo(RepoCommand),
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
    let CatalogCommand::Repo(command) = command;
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

//! `berth endpoint list|set|rm`: Services of a space served at their own
//! HTTPS address through Berth.

use berth_core::endpoint::{EndpointAccess, EndpointSpec, EndpointView};

use crate::client::Client;
use crate::commands::spaces::space_or_current;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum EndpointCommand {
    /// The space's endpoints, with their addresses and access levels.
    #[command(alias = "ls")]
    List {
        /// The space; the current one when left out.
        #[arg(long)]
        space: Option<String>,
    },
    /// Serve a Service of the space at https://SERVICE-SPACE.<domain>, or
    /// change its port or access level (owners).
    Set {
        /// The Service, in the space.
        service: String,
        /// The Service's port; its first one when left out.
        #[arg(long)]
        port: Option<u16>,
        /// private (the space's members), team (anyone signed in to
        /// Berth) or public (anyone with the address).
        #[arg(long, default_value = "private", value_parser = parse_access)]
        access: EndpointAccess,
        #[arg(long)]
        space: Option<String>,
    },
    /// Stop serving a Service as an endpoint.
    #[command(alias = "remove")]
    Rm {
        service: String,
        #[arg(long)]
        space: Option<String>,
    },
}

fn parse_access(value: &str) -> Result<EndpointAccess, String> {
    value.parse().map_err(|e: berth_core::Error| e.message)
}

fn base(space: &str) -> String {
    format!("/api/v1/spaces/{space}/endpoints")
}

const HEADERS: [&str; 5] = ["SERVICE", "PORT", "ACCESS", "URL", "SET BY"];

fn row(endpoint: &EndpointView) -> Vec<String> {
    vec![
        endpoint.service.clone(),
        endpoint
            .port
            .map_or_else(|| "first".to_owned(), |p| p.to_string()),
        endpoint.access.to_string(),
        endpoint.url.clone(),
        endpoint.set_by.clone(),
    ]
}

pub async fn run(
    client: &Client,
    command: EndpointCommand,
    format: Format,
    context: Option<&str>,
) -> Result<(), Failure> {
    match command {
        EndpointCommand::List { space } => {
            let space = space_or_current(space, context)?;
            let endpoints: Vec<EndpointView> = client.get(&base(&space)).await?;
            match format {
                Format::Table => output::table(&HEADERS, endpoints.iter().map(row).collect()),
                _ => output::structured(format, &endpoints),
            }
        }
        EndpointCommand::Set {
            service,
            port,
            access,
            space,
        } => {
            let space = space_or_current(space, context)?;
            let endpoint: EndpointView = client
                .put(
                    &format!("{}/{service}", base(&space)),
                    &EndpointSpec { port, access },
                )
                .await?;
            match format {
                Format::Table => output::write_stdout(
                    format!(
                        "{} ({}): {}\n",
                        endpoint.url,
                        endpoint.access,
                        match endpoint.access {
                            EndpointAccess::Private => "the space's members, signed in to Berth",
                            EndpointAccess::Team => "anyone signed in to Berth",
                            EndpointAccess::Public => "anyone with the address",
                        }
                    )
                    .as_bytes(),
                ),
                _ => output::structured(format, &endpoint),
            }
        }
        EndpointCommand::Rm { service, space } => {
            let space = space_or_current(space, context)?;
            client
                .delete_empty(&format!("{}/{service}", base(&space)))
                .await?;
            eprintln!("{service} is no longer an endpoint of space {space}.");
            Ok(())
        }
    }
}

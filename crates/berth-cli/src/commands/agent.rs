//! `berth agent`: runs the agent of a dev session (see `berth_agent`).

use std::path::PathBuf;

use crate::output::Failure;

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The Berth server.
    #[arg(long, env = "BERTH_AGENT_URL")]
    url: String,
    /// The session's agent token (`berth session create` prints it).
    #[arg(long, env = "BERTH_AGENT_TOKEN", hide_env_values = true)]
    token: String,
    /// Run commands in this folder; sync folders are under it.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The dev command, started once the first sync is done.
    #[arg(last = true)]
    command: Vec<String>,
}

pub async fn run(args: AgentArgs) -> Result<(), Failure> {
    let config = berth_agent::AgentConfig {
        url: args.url,
        token: args.token,
        root: args.root,
        command: Some(args.command),
    };
    berth_agent::run(config, |line: &str| eprintln!("berth agent: {line}"))
        .await
        .map_err(|e| match e {
            berth_agent::AgentError::Root { .. } => {
                Failure::new(e.to_string(), "give an existing folder with --root")
            }
            berth_agent::AgentError::Refused(_) => Failure::new(
                e.to_string(),
                "start the agent again with a live session's token (`berth session create`)",
            ),
        })
}

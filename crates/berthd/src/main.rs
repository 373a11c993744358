//! `berthd`, the Berth daemon: parses the command line and configuration, sets
//! up telemetry, and wires the store and the HTTP server together.

mod config;
mod serve;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "berthd",
    version,
    about = "The Berth daemon: spaces, catalog, sync relay and audit in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Validate or print configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print this build's version.
    Version,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration file (with the BERTH_* environment applied) and exit.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Print a complete, commented default configuration.
    Default,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { overrides } => serve(overrides),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => Config::load(&Overrides::from_file(file)).map(|config| {
            println!(
                "configuration is valid (data_dir = {}, listen = {})",
                config.data_dir.display(),
                config.listen
            );
        }),
        Command::Config {
            command: ConfigCommand::Default,
        } => {
            print!("{}", config::DEFAULT_TOML);
            Ok(())
        }
        Command::Version => {
            println!("berthd {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("berthd: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(overrides: Overrides) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let config = Config::load(&overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()?;
    runtime.block_on(async move {
        let telemetry = telemetry::init(&config)?;
        let result = serve::run(config, &telemetry, started).await;
        if let Err(err) = &result {
            tracing::error!(error = format!("{err:#}"), "berthd stopped on an error");
        }
        telemetry.shutdown().await;
        result
    })
}

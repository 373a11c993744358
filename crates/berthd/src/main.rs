//! `berthd`, the Berth daemon: parses the command line and configuration, sets
//! up telemetry, and wires the store and the HTTP server together.

mod config;
mod data_dir;
mod kube_check;
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
    /// Work with the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Make a data directory and everything in it owned by berthd's user,
    /// for storage that ignores the pod's fsGroup. Runs as root with
    /// CAP_CHOWN and CAP_FOWNER (the Helm chart's
    /// persistence.chownInitContainer).
    ChownDataDir {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The user and group berthd runs as, numeric.
        #[arg(long, value_name = "UID:GID", default_value = "65532:65532", value_parser = data_dir::parse_owner)]
        owner: (u32, u32),
    },
    /// Print this build's version.
    Version,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain and the signed checkpoints of a data directory.
    /// While a daemon runs on it, a snapshot is verified.
    Verify {
        /// The data directory [default: ./.berth].
        #[arg(long, value_name = "DIR", default_value = "./.berth")]
        data_dir: PathBuf,
        /// The checkpoint public key (hex) exported earlier with
        /// `berth audit public-key`. Without it, the key in the data
        /// directory is used, which proves the log consistent but not that
        /// the data directory's key was not replaced.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
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
        Command::Audit {
            command:
                AuditCommand::Verify {
                    data_dir,
                    public_key,
                    json,
                },
        } => audit_verify(&data_dir, public_key, json),
        Command::ChownDataDir {
            data_dir,
            owner: (uid, gid),
        } => data_dir::chown(&data_dir, uid, gid).map(|done| {
            println!(
                "{} is owned by {uid}:{gid}: {} entries changed, {} directories already were",
                data_dir.display(),
                done.changed,
                done.kept
            );
        }),
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

fn audit_verify(
    data_dir: &std::path::Path,
    public_key: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    if !data_dir.join("store").exists() {
        anyhow::bail!("{} holds no Berth store", data_dir.display());
    }
    let holder = berth_store::Holder::this_process("berthd audit verify");
    // A running daemon holds the directory's lock. Verify a copy instead:
    // sled recovers a copy taken mid-write as it would after a crash, so the
    // copy holds every event flushed before it was taken.
    let snapshot;
    // Verifying must not rewrite what it checks: no compaction.
    let options = berth_store::StoreOptions {
        compaction: berth_store::Compaction::Never,
        ..berth_store::StoreOptions::default()
    };
    let store = match berth_store::Store::open_with(data_dir, &holder, &options) {
        Ok(store) => store,
        Err(berth_store::StoreError::Locked {
            holder: running, ..
        }) => {
            snapshot = tempfile::tempdir()
                .context("cannot make a temporary directory for the snapshot")?;
            eprintln!(
                "{} is in use by {running}: verifying a snapshot of it",
                data_dir.display()
            );
            copy_dir(&data_dir.join("store"), &snapshot.path().join("store"))?;
            copy_dir(&data_dir.join("keys"), &snapshot.path().join("keys"))?;
            berth_store::Store::open_with(snapshot.path(), &holder, &options)
                .context("cannot open the snapshot of the live store (try again)")?
        }
        Err(other) => return Err(anyhow::Error::new(other)),
    };
    let store = std::sync::Arc::new(store);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let audit = berth_audit::Audit::open(store.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let key = public_key.unwrap_or_else(|| audit.public_key());
        anyhow::Ok(berth_audit::verify_store(&store, &key))
    })?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).context("encoding the result")?
        );
    } else if result.ok {
        println!(
            "ok: {} events ({}..{}), {} signed checkpoints verify with key {}",
            result.events,
            result.first_seq.unwrap_or(0),
            result.last_seq.unwrap_or(0),
            result.checkpoints,
            result.public_key
        );
    }
    if result.ok {
        Ok(())
    } else {
        anyhow::bail!(
            "the audit log is damaged at event {}: {:?}: {}",
            result.first_broken_seq.unwrap_or(0),
            result.problem,
            result.detail.unwrap_or_default()
        )
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

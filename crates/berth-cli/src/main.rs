//! `berth`, the developer's command line: talks to `berthd` over HTTPS only,
//! so developers need no kubeconfig and no reach to the Kubernetes API.

mod client;
mod commands;
mod context;
mod manifest;
mod output;
mod relay;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use crate::context::Contexts;
use crate::output::{Failure, Format};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Develop in production-like Kubernetes spaces with a fast inner loop"
)]
struct Cli {
    /// The context to use instead of the current one.
    #[arg(long, global = true, env = "BERTH_CONTEXT", value_name = "NAME")]
    context: Option<String>,
    /// Output format of listing commands.
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in to a Berth server (single sign-on by device code, --web, a
    /// local account, or --token for CI).
    Login(commands::auth::LoginArgs),
    /// Sign out: revoke this context's token and forget it.
    Logout,
    /// Who you are signed in as.
    Whoami,
    /// Spaces: your isolated namespaces in the cluster.
    #[command(subcommand)]
    Space(commands::spaces::SpaceCommand),
    /// Develop in a workload of your space: dev mode, two-way file sync
    /// and port forwards, from berth.yaml.
    Up(commands::up::UpArgs),
    /// Take a target out of dev mode: the workload's original spec back.
    Down(commands::up::DownArgs),
    /// Write a starting berth.yaml from a workload of your space.
    Init {
        /// The space; the current one when left out.
        #[arg(long)]
        space: Option<String>,
        /// The workload (deployment/NAME, or NAME); the first when left out.
        #[arg(long)]
        workload: Option<String>,
        /// Replace an existing berth.yaml.
        #[arg(long)]
        force: bool,
    },
    /// Install the sample web app into your space and write its source and
    /// berth.yaml here, ready for `berth up`.
    Quickstart(commands::quickstart::QuickstartArgs),
    /// The file sync of `berth up`.
    #[command(subcommand)]
    Sync(commands::up::SyncCommand),
    /// berth.yaml itself.
    #[command(subcommand)]
    Manifest(commands::up::ManifestCommand),
    /// The catalog of applications: its items, and (admins) its chart
    /// repositories.
    #[command(subcommand)]
    Catalog(commands::catalog::CatalogCommand),
    /// Install a catalog item into a space (Helm runs it in the space).
    Deploy(commands::apps::DeployArgs),
    /// Applications installed into a space from the catalog.
    #[command(subcommand)]
    App(commands::apps::AppCommand),
    /// Endpoints: Services of a space served at their own HTTPS address,
    /// to its members, the team or everyone.
    #[command(subcommand)]
    Endpoint(commands::endpoints::EndpointCommand),
    /// Dev sessions: a CLI and an agent paired through the relay.
    #[command(subcommand)]
    Session(commands::sessions::SessionCommand),
    /// Run a command in a dev session's container, with this terminal's
    /// input and output; exits with the command's code.
    Exec {
        /// Run it on a pseudo-terminal (for interactive programs).
        #[arg(long, short)]
        tty: bool,
        session: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// An interactive shell in a dev session's container; the terminal is
    /// restored on exit.
    Shell { session: String },
    /// Forward local ports into a dev session's space: LOCAL:REMOTE (a
    /// port of the dev container), one port, or LOCAL:SERVICE:PORT (a
    /// service of the space); LOCAL 0 picks a free port.
    PortForward {
        session: String,
        ports: Vec<String>,
        /// REMOTE:LOCAL (or one port): the dev container's loopback port
        /// REMOTE leads to LOCAL on this machine. Repeat for more.
        #[arg(long, short = 'R', value_name = "REMOTE:LOCAL")]
        reverse: Vec<String>,
    },
    /// SSH into a dev container: a login shell, or the command after `--`.
    /// NAME is a dev session id, a dev target of the space, or a host of
    /// `berth ssh-config` (TARGET.SPACE.berth). Runs your `ssh`; `--stdio`
    /// is its ProxyCommand.
    Ssh(commands::ssh::SshArgs),
    /// Write a `Host *.berth` entry into ~/.ssh/config, so that `ssh`, `scp`,
    /// `sftp`, `rsync` and IDEs reach dev containers as TARGET.SPACE.berth.
    SshConfig(commands::ssh::SshConfigArgs),
    /// The dev container's side of a session (runs inside the container, or
    /// locally with --root).
    Agent(commands::agent::AgentArgs),
    /// Copy this binary into DIR (a dev pod's init container runs it).
    #[command(hide = true)]
    AgentInstall { dir: std::path::PathBuf },
    /// Point kubectl and helm at your spaces: a kubeconfig context per
    /// space, through Berth's Kubernetes API proxy.
    Kubeconfig(commands::kube::KubeconfigArgs),
    /// The credential plugin kubectl runs (`client.authentication.k8s.io/v1`):
    /// prints a short-lived token for the proxy, made from your login.
    KubeCredential,
    /// Personal access tokens.
    #[command(subcommand)]
    Token(commands::tokens::TokenCommand),
    /// Users (admins).
    #[command(subcommand)]
    User(commands::users::UserCommand),
    /// The audit log (admins and auditors).
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Show the client's and the server's version.
    Version,
    /// Manage the Berth servers this CLI knows (contexts).
    #[command(subcommand)]
    Context(ContextCommand),
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Subcommand)]
enum ContextCommand {
    /// Add a context: a name for a Berth server URL.
    Add {
        name: String,
        url: String,
        /// Make it the current context.
        #[arg(long = "use")]
        make_current: bool,
    },
    /// Make a context the current one.
    Use { name: String },
    /// List the contexts.
    #[command(alias = "ls")]
    List,
    /// Forget a context.
    #[command(alias = "rm")]
    Remove { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Two workers: sync encodes and decodes on the runtime while files are
    // read and written on blocking threads.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            output::report(&Failure::new(
                format!("cannot start: {err}"),
                "check the system's limits on threads and file descriptors",
            ));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::report(&failure);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Login(args) => commands::auth::login(args, cli.context.as_deref()).await,
        Command::Logout => commands::auth::logout(cli.context.as_deref()).await,
        Command::Whoami => {
            commands::auth::whoami(&commands::client(cli.context.as_deref())?, cli.output).await
        }
        Command::Space(command) => {
            commands::spaces::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Session(command) => {
            commands::sessions::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Exec {
            tty,
            session,
            command,
        } => {
            let code = commands::sessions::exec(
                &commands::client(cli.context.as_deref())?,
                &session,
                command,
                tty,
            )
            .await?;
            std::process::exit(code);
        }
        Command::Shell { session } => {
            let shell = ["sh", "-c", "exec \"${SHELL:-/bin/sh}\" -l"]
                .map(str::to_owned)
                .to_vec();
            let code = commands::sessions::exec(
                &commands::client(cli.context.as_deref())?,
                &session,
                shell,
                true,
            )
            .await?;
            std::process::exit(code);
        }
        Command::PortForward {
            session,
            ports,
            reverse,
        } => {
            commands::sessions::port_forward(
                &commands::client(cli.context.as_deref())?,
                &session,
                ports,
                reverse,
            )
            .await
        }
        Command::Ssh(args) => {
            commands::ssh::ssh(
                &commands::client(cli.context.as_deref())?,
                args,
                cli.context.as_deref(),
            )
            .await
        }
        Command::SshConfig(args) => commands::ssh::ssh_config(args, cli.context.as_deref()),
        Command::Kubeconfig(args) => {
            commands::kube::kubeconfig(
                &commands::client(cli.context.as_deref())?,
                args,
                cli.context.as_deref(),
            )
            .await
        }
        Command::KubeCredential => commands::kube::credential(cli.context.as_deref()).await,
        Command::Agent(args) => commands::agent::run(args).await,
        Command::AgentInstall { dir } => commands::agent::install(dir),
        Command::Catalog(command) => {
            commands::catalog::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
            )
            .await
        }
        Command::Deploy(args) => {
            commands::apps::deploy(
                &commands::client(cli.context.as_deref())?,
                args,
                cli.output,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Endpoint(command) => {
            commands::endpoints::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
                cli.context.as_deref(),
            )
            .await
        }
        Command::App(command) => {
            commands::apps::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Up(args) => {
            // A mistake in the manifest is said before anything else.
            manifest::load(args.file())?;
            commands::up::up(
                &commands::client(cli.context.as_deref())?,
                args,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Down(args) => {
            commands::up::down(
                &commands::client(cli.context.as_deref())?,
                args,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Init {
            space,
            workload,
            force,
        } => {
            commands::up::init(
                &commands::client(cli.context.as_deref())?,
                space,
                workload,
                force,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Quickstart(args) => {
            commands::quickstart::quickstart(
                &commands::client(cli.context.as_deref())?,
                args,
                cli.context.as_deref(),
            )
            .await
        }
        Command::Sync(commands::up::SyncCommand::Status(args)) => {
            commands::up::sync_status(args, cli.output, cli.context.as_deref())
        }
        Command::Sync(commands::up::SyncCommand::Doctor(args)) => {
            commands::up::doctor(args, cli.output, cli.context.as_deref())
        }
        Command::Manifest(commands::up::ManifestCommand::Schema) => {
            let schema = serde_json::to_string_pretty(&manifest::schema()).unwrap_or_default();
            output::write_stdout(format!("{schema}\n").as_bytes())
        }
        Command::Token(command) => {
            commands::tokens::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
            )
            .await
        }
        Command::Audit(command) => {
            commands::audit::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
            )
            .await
        }
        Command::User(command) => {
            commands::users::run(
                &commands::client(cli.context.as_deref())?,
                command,
                cli.output,
            )
            .await
        }
        Command::Version => {
            let contexts = Contexts::load()?;
            let client_version = berth_core::BuildInfo::current();
            let server = match contexts.select(cli.context.as_deref()) {
                Ok(context) => Some(client::Client::new(&context.url, None)?.version().await),
                Err(_) => None,
            };
            output::version(cli.output, &client_version, server)
        }
        Command::Context(command) => context_command(command, cli.output),
        Command::Completion { shell } => {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "berth", &mut script);
            output::write_stdout(&script)
        }
    }
}

fn context_command(command: ContextCommand, format: Format) -> Result<(), Failure> {
    let mut contexts = Contexts::load()?;
    match command {
        ContextCommand::Add {
            name,
            url,
            make_current,
        } => {
            contexts.add(&name, &url)?;
            if make_current || contexts.current.is_none() {
                contexts.current = Some(name.clone());
            }
            contexts.save()?;
            println!("context {name} added ({url})");
        }
        ContextCommand::Use { name } => {
            contexts.make_current(&name)?;
            contexts.save()?;
            println!("now using context {name}");
        }
        ContextCommand::List => output::contexts(format, &contexts)?,
        ContextCommand::Remove { name } => {
            contexts.remove(&name)?;
            contexts.save()?;
            println!("context {name} removed");
        }
    }
    Ok(())
}

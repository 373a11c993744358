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
    /// Sync folders are under this folder (`/` in a dev container).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Run commands and the dev command here, under the root; the root
    /// when left out.
    #[arg(long)]
    workdir: Option<String>,
    /// The dev command, started once the first sync is done.
    #[arg(last = true)]
    command: Vec<String>,
}

/// Runs the agent until the relay refuses it or a stop signal comes, then
/// exits with the dev command's exit code (0 for a clean stop). As PID 1
/// (a dev container's entry point) it first splits in two: PID 1 runs the
/// agent as its child, passes signals on and reaps orphans (see
/// `berth_agent::init`).
pub async fn run(args: AgentArgs) -> Result<(), Failure> {
    if berth_agent::init::is_pid1() {
        let me = std::env::current_exe().map_err(|e| {
            Failure::new(
                format!("cannot find this binary to run the agent: {e}"),
                "mount /proc in the container",
            )
        })?;
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        let code = berth_agent::init::supervise(&me, &args, say)
            .await
            .map_err(|e| {
                Failure::new(
                    format!("cannot run the agent under PID 1: {e}"),
                    "check the container's limits on processes and the binary at /berth/bin/berth",
                )
            })?;
        std::process::exit(code);
    }
    let config = berth_agent::AgentConfig {
        url: args.url,
        token: args.token,
        root: args.root,
        workdir: args.workdir,
        command: Some(args.command),
    };
    let stopped = berth_agent::run_until_stopped(config, berth_agent::STOP_GRACE, say)
        .await
        .map_err(|e| match e {
            berth_agent::AgentError::Root { .. } => {
                Failure::new(e.to_string(), "give an existing folder with --root")
            }
            berth_agent::AgentError::Refused(_) => Failure::new(
                e.to_string(),
                "start the agent again with a live session's token (`berth session create`)",
            ),
            berth_agent::AgentError::Signals(_) => Failure::new(
                e.to_string(),
                "check the system's limits on file descriptors",
            ),
        })?;
    std::process::exit(stopped.exit_code());
}

fn say(line: &str) {
    eprintln!("berth agent: {line}");
}

/// `berth agent-install DIR`: copies this binary to `DIR/berth`. A dev
/// pod's init container runs it, from Berth's image (which has no shell or
/// coreutils), into the volume the dev container runs the agent from.
pub fn install(dir: PathBuf) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |what: String| Failure::new(what, "check the volume mounted for the agent");
    let me = std::env::current_exe().map_err(|e| fail(format!("cannot find this binary: {e}")))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(format!("cannot make {}: {e}", dir.display())))?;
    let target = dir.join("berth");
    let temporary = dir.join(".berth.tmp");
    std::fs::copy(&me, &temporary)
        .and_then(|_| std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::rename(&temporary, &target))
        .map_err(|e| {
            fail(format!(
                "cannot copy {} to {}: {e}",
                me.display(),
                target.display()
            ))
        })?;
    eprintln!("berth: installed the agent at {}", target.display());
    Ok(())
}

//! The agent as a container's PID 1. Dev mode makes `berth agent` the dev
//! container's entry point, and the kernel treats PID 1 of a PID namespace
//! specially: a signal it has no handler for is dropped, not acted on, and
//! every process whose parent dies is handed to it to reap.
//!
//! So when it finds itself PID 1, `berth agent` splits in two, as `tini`
//! and `docker run --init` do: PID 1 runs the agent again as its only
//! child, forwards the signals a container is stopped or reloaded with to
//! it, reaps every child that ends (`waitpid(-1)`), and exits with the
//! agent's exit code. The agent, not being PID 1, spawns and waits for its
//! own children (the dev command, `berth exec` commands) as any program
//! does.
//!
//! Reaping is kept out of the agent's process because `waitpid(-1)` takes
//! whichever child ended, and the agent's children have owners that wait
//! for them by pid: tokio's `Child::wait` calls `waitpid(pid)` once the
//! child's pidfd (or SIGCHLD, on older kernels) says it ended and fails with
//! ECHILD when someone else took the status; portable-pty's child waits the
//! same way; and std's `Command::spawn` waits for a child whose exec failed
//! and panics when that wait finds nothing. A process whose one spawned
//! child is the agent has no such owner to race: every status
//! `waitpid(-1)` returns is the agent's, which it wants, or an orphan's.

use std::ffi::OsString;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

/// The signals PID 1 passes on to the agent: those a container is stopped
/// with (SIGTERM by default, SIGINT or SIGQUIT as an image's STOPSIGNAL)
/// and those a dev command may reload on.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Whether this process is PID 1 of its PID namespace.
pub fn is_pid1() -> bool {
    nix::unistd::getpid() == Pid::from_raw(1)
}

/// Runs `program args` (the agent) as this process's only child, passes
/// the [`FORWARDED`] signals on to it and reaps every child that ends,
/// until the agent ends; answers the agent's exit code (128 + the signal
/// when a signal ended it). Meant for PID 1 only: it reaps all of this
/// process's children.
pub async fn supervise(
    program: &Path,
    args: &[OsString],
    say: impl Fn(&str),
) -> std::io::Result<i32> {
    // Handlers first: a signal that comes before them would be dropped,
    // and the SIGCHLD of an agent that ends at once would be missed.
    let mut ended = signal(SignalKind::child())?;
    let mut forwarded = Vec::with_capacity(FORWARDED.len());
    for which in FORWARDED {
        forwarded.push((which, signal(SignalKind::from_raw(which as i32))?));
    }
    let agent = std::process::Command::new(program).args(args).spawn()?;
    let agent = i32::try_from(agent.id())
        .map(Pid::from_raw)
        .map_err(std::io::Error::other)?;
    say(&format!(
        "running as PID 1: the agent is process {agent}; signals are passed on to it and ended processes reaped"
    ));
    for (which, mut stream) in forwarded {
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                let _ = kill(agent, which);
            }
        });
    }
    loop {
        if let Some(code) = reap(agent) {
            return Ok(code);
        }
        if ended.recv().await.is_none() {
            return Err(std::io::Error::other("SIGCHLD can no longer be received"));
        }
    }
}

/// Reaps every child that has ended (signals coalesce: one SIGCHLD may
/// stand for many); the agent's exit code once it is among them.
fn reap(agent: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(Option::<Pid>::None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, status)) if pid == agent => code = Some(status),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == agent => {
                code = Some(128 + signal as i32);
            }
            // Nothing more has ended, or there is no child left.
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return code,
            Err(Errno::EINTR) => {}
            // An orphan, reaped.
            Ok(_) => {}
            Err(_) => return code,
        }
    }
}

//! The dev command: started once, when the first sync is done, as the
//! leader of a process group of its own; stopped by sending a signal to
//! that group (so a shell's children get it too), waiting a bounded time
//! for the group to end, then killing what is left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long [`DevCommand::stop`] waits for the dev command's group after
/// the signal before it kills what is left: well inside Kubernetes'
/// default termination grace period of 30 s.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often a stop looks whether the group's other processes are gone
/// (the leader's end is awaited, not polled).
const GROUP_POLL: Duration = Duration::from_millis(20);

/// What an agent keeps across its connections: the dev command (started
/// once, in the first folder that finished its first sync, and stopped
/// when the agent is done with it) and each sync folder's last index, so a
/// reconnecting CLI costs a rescan of what changed only.
pub struct DevCommand {
    command: Option<Vec<String>>,
    /// Where the dev command runs; the first synced folder when none.
    workdir: Option<PathBuf>,
    state: parking_lot::Mutex<State>,
    pub(crate) say: Arc<dyn Fn(&str) + Send + Sync>,
    pub(crate) indexes: parking_lot::Mutex<HashMap<PathBuf, berth_sync::Index>>,
}

enum State {
    /// Waiting for the first sync.
    Waiting,
    Started(Running),
    /// Stopped before it started, or it could not start: it never will.
    Over,
}

/// A started dev command.
struct Running {
    /// Its process group, which it leads: its pid.
    group: Pid,
    /// Its exit status once it has been reaped; the sender is gone without
    /// one when waiting for it failed.
    exited: watch::Receiver<Option<ExitStatus>>,
    /// The task that waits for it.
    task: tokio::task::AbortHandle,
}

impl Drop for Running {
    /// An agent that ends without a stop (a local one in `berthd`, at
    /// `berth down`) takes the dev command's whole group with it.
    fn drop(&mut self) {
        // While the leader is not reaped its pid, the group's id, cannot
        // name another group.
        if self.exited.borrow().is_none() {
            let _ = killpg(self.group, Signal::SIGKILL);
        }
        self.task.abort();
    }
}

/// How a dev command ended when the agent stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevStopped {
    /// The signal the agent forwarded to the dev command's group.
    pub signal: Signal,
    /// The dev command's exit status; none when it could not be told.
    pub status: Option<ExitStatus>,
    /// Whether the group outlived the grace period and was killed.
    pub killed: bool,
    /// Whether it had exited on its own before the stop.
    pub exited_before: bool,
}

impl DevStopped {
    /// The agent's exit code for this stop: 137 (128 + SIGKILL) when
    /// anything of the group outlived the grace period and was killed;
    /// otherwise 0 when the dev command ended as asked (by the signal, with
    /// 0, or with the 128 + signal a shell exits with) or had exited on
    /// its own before, what it exited with, 128 + the signal that ended it,
    /// or 1 when that is unknown.
    pub fn exit_code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let asked = self.signal as i32;
        if self.killed {
            return 128 + Signal::SIGKILL as i32;
        }
        if self.exited_before {
            return 0;
        }
        match self.status.map(|s| (s.code(), s.signal())) {
            Some((Some(code), _)) if code == 0 || code == 128 + asked => 0,
            Some((Some(code), _)) => code,
            Some((None, Some(signal))) if signal == asked => 0,
            Some((None, Some(signal))) => 128 + signal,
            Some((None, None)) | None => 1,
        }
    }
}

impl std::fmt::Debug for DevCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCommand")
            .field("command", &self.command)
            .finish()
    }
}

impl DevCommand {
    pub(crate) fn new(
        command: Option<Vec<String>>,
        workdir: Option<PathBuf>,
        say: impl Fn(&str) + Send + Sync + 'static,
    ) -> DevCommand {
        DevCommand {
            command: command.filter(|c| !c.is_empty()),
            workdir,
            state: parking_lot::Mutex::new(State::Waiting),
            say: Arc::new(say),
            indexes: parking_lot::Mutex::default(),
        }
    }

    /// Starts the dev command in `folder` (or the workdir) unless it was
    /// started, or stopped, before.
    pub(crate) fn start_once(&self, folder: &Path, runtime: &tokio::runtime::Handle) {
        let Some(command) = self.command.clone() else {
            return;
        };
        // Held while spawning, so a stop either comes first (and nothing
        // starts) or finds the command running.
        let mut state = self.state.lock();
        if !matches!(*state, State::Waiting) {
            return;
        }
        (self.say)(&format!(
            "the first sync is done; starting {}",
            command.join(" ")
        ));
        let _guard = runtime.enter();
        let spawned = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .current_dir(self.workdir.as_deref().unwrap_or(folder))
            // Its own group, so that a stop reaches what it starts.
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                (self.say)(&format!(
                    "the dev command {} did not start: {e}",
                    command[0]
                ));
                *state = State::Over;
                return;
            }
        };
        let Some(group) = child.id().and_then(|id| i32::try_from(id).ok()) else {
            // A child that has no id was reaped already: nothing to stop.
            *state = State::Over;
            return;
        };
        let (tx, exited) = watch::channel(None);
        let say = self.say.clone();
        let task = runtime.spawn(async move {
            match child.wait().await {
                Ok(status) => {
                    say(&format!("the dev command ended ({status})"));
                    let _ = tx.send(Some(status));
                }
                Err(e) => say(&format!("cannot tell how the dev command ended: {e}")),
            }
        });
        *state = State::Started(Running {
            group: Pid::from_raw(group),
            exited,
            task: task.abort_handle(),
        });
    }

    /// Sends `signal` to the dev command's group, as a stop does, without
    /// waiting (the signals a dev command may use to reload).
    pub fn signal(&self, signal: Signal) {
        if let State::Started(running) = &*self.state.lock() {
            let _ = killpg(running.group, signal);
        }
    }

    /// Stops the dev command: `signal` to its group, then waits up to
    /// `grace` for the command and every other process of its group to
    /// end, and kills the group with SIGKILL when they have not. None when
    /// it never started; after a stop it never starts.
    pub async fn stop(&self, signal: Signal, grace: Duration) -> Option<DevStopped> {
        let mut running = match std::mem::replace(&mut *self.state.lock(), State::Over) {
            State::Started(running) => running,
            State::Waiting | State::Over => return None,
        };
        let exited_before = running.exited.borrow().is_some();
        let deadline = Instant::now() + grace;
        let _ = killpg(running.group, signal);
        let leader = tokio::time::timeout_at(deadline, ended(&mut running.exited)).await;
        // The leader is gone; its group may not be (a shell's background
        // jobs). Pids are handed out in turn, so the group's id names no
        // other group within the grace period.
        let killed = leader.is_err() || !group_ends_by(running.group, deadline).await;
        if killed {
            let _ = killpg(running.group, Signal::SIGKILL);
        }
        let status = match leader {
            Ok(status) => status,
            // SIGKILL cannot be caught: the leader ends now unless the
            // kernel holds it in an uninterruptible wait.
            Err(_) => tokio::time::timeout(Duration::from_secs(2), ended(&mut running.exited))
                .await
                .ok()
                .flatten(),
        };
        Some(DevStopped {
            signal,
            status,
            killed,
            exited_before,
        })
    }
}

/// The dev command's exit status once reaped; none when waiting failed.
async fn ended(exited: &mut watch::Receiver<Option<ExitStatus>>) -> Option<ExitStatus> {
    match exited.wait_for(Option::is_some).await {
        Ok(status) => *status,
        Err(_) => None,
    }
}

/// Whether every process of the group is gone by `deadline` (a zombie
/// counts until its parent, or PID 1, reaps it).
async fn group_ends_by(group: Pid, deadline: Instant) -> bool {
    loop {
        if matches!(killpg(group, None), Err(Errno::ESRCH)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn sh(script: &str) -> DevCommand {
        let command = ["sh", "-c", script].map(str::to_owned).to_vec();
        DevCommand::new(Some(command), None, |_: &str| {})
    }

    /// Waits for a file the dev command writes; fails after 20 s.
    async fn file(path: &Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(path)
                && text.ends_with('\n')
            {
                return text.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "{} never came", path.display());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn alive(pid: i32) -> bool {
        !matches!(
            nix::sys::signal::kill(Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        )
    }

    #[tokio::test]
    async fn a_stop_reaches_the_whole_group_and_is_clean() {
        let folder = tempfile::tempdir().expect("folder");
        // A shell's background job and the process it then becomes.
        let dev = sh("sleep 1000 & echo $! > background; exec sleep 1000");
        dev.start_once(folder.path(), &tokio::runtime::Handle::current());
        let background: i32 = file(&folder.path().join("background"))
            .await
            .parse()
            .expect("a pid");
        let stopped = dev
            .stop(Signal::SIGTERM, Duration::from_secs(20))
            .await
            .expect("it was running");
        assert_eq!(
            stopped.status.map(|s| s.signal()),
            Some(Some(Signal::SIGTERM as i32))
        );
        assert!(!stopped.killed, "{stopped:?}");
        assert_eq!(stopped.exit_code(), 0);
        assert!(!alive(background), "the background job got the signal too");
    }

    #[tokio::test]
    async fn sigint_stops_it_as_sigterm_does() {
        let folder = tempfile::tempdir().expect("folder");
        let dev =
            sh("trap 'echo INT > stopped; exit 0' INT; echo > ready; while :; do sleep 1; done");
        dev.start_once(folder.path(), &tokio::runtime::Handle::current());
        file(&folder.path().join("ready")).await;
        let stopped = dev
            .stop(Signal::SIGINT, Duration::from_secs(20))
            .await
            .expect("it was running");
        assert_eq!(stopped.status.and_then(|s| s.code()), Some(0));
        assert_eq!(stopped.exit_code(), 0);
        assert_eq!(file(&folder.path().join("stopped")).await, "INT");
    }

    #[tokio::test]
    async fn a_group_that_ignores_the_signal_is_killed_after_the_grace_period() {
        let folder = tempfile::tempdir().expect("folder");
        // An ignored signal stays ignored in the children too.
        let dev = sh("trap '' TERM; echo > ready; while :; do sleep 1; done");
        dev.start_once(folder.path(), &tokio::runtime::Handle::current());
        file(&folder.path().join("ready")).await;
        let stopped = dev
            .stop(Signal::SIGTERM, Duration::from_millis(300))
            .await
            .expect("it was running");
        assert!(stopped.killed, "{stopped:?}");
        assert_eq!(
            stopped.status.map(|s| s.signal()),
            Some(Some(Signal::SIGKILL as i32))
        );
        assert_eq!(stopped.exit_code(), 137);
    }

    #[tokio::test]
    async fn stopped_before_the_first_sync_it_never_starts() {
        let folder = tempfile::tempdir().expect("folder");
        let dev = sh("echo > started");
        assert_eq!(dev.stop(Signal::SIGTERM, STOP_GRACE).await, None);
        dev.start_once(folder.path(), &tokio::runtime::Handle::current());
        assert!(matches!(*dev.state.lock(), State::Over));
        assert!(!folder.path().join("started").exists());
    }

    #[test]
    fn the_exit_code_is_0_for_a_stop_as_asked_and_the_dev_command_s_otherwise() {
        let exited = |code: i32| Some(ExitStatus::from_raw(code << 8));
        let signalled = |signal: Signal| Some(ExitStatus::from_raw(signal as i32));
        let stop = |status, killed, exited_before| DevStopped {
            signal: Signal::SIGTERM,
            status,
            killed,
            exited_before,
        };
        for (stopped, code) in [
            (stop(signalled(Signal::SIGTERM), false, false), 0),
            (stop(exited(0), false, false), 0),
            (stop(exited(143), false, false), 0),
            (stop(exited(3), false, false), 3),
            (stop(exited(130), false, false), 130),
            (stop(signalled(Signal::SIGSEGV), false, false), 139),
            (stop(signalled(Signal::SIGKILL), true, false), 137),
            (stop(None, true, false), 137),
            (stop(signalled(Signal::SIGTERM), true, false), 137),
            (stop(None, false, false), 1),
            (stop(exited(3), false, true), 0),
        ] {
            assert_eq!(stopped.exit_code(), code, "{stopped:?}");
        }
    }
}

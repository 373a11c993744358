//! Runs Berth's binaries as real processes, or its router in-process, for
//! tests and benchmarks.
//!
//! Invariant: everything it starts binds to loopback (or to an emulated
//! link's namespace it made, [`wan`]) on a port the OS picks,
//! lives in a temporary directory, and is killed when its handle drops.

pub mod charts;
mod in_process;
mod oidc;
pub mod relay;
pub mod wan;

/// Polls until a condition holds; tests wait this way instead of sleeping.
pub use berth_kube_sim::testing::{eventually, helm, kubectl};
pub use in_process::TestServer;
pub use oidc::{
    CLIENT_SECRET as OIDC_CLIENT_SECRET, OidcProvider, fixture_dir as oidc_fixture_dir,
};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
pub use nix::sys::signal::Signal;

/// Generous, because a debug build on a loaded 2-core machine is slow; a
/// healthy daemon is ready in milliseconds.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A `berthd serve` child process on `127.0.0.1:0` (or an address of
/// an emulated link, [`wan`]), found ready through the
/// JSON log line that announces it.
pub struct DaemonProcess {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    setup_url: Arc<Mutex<Option<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl DaemonProcess {
    /// A daemon on a fresh data directory that is removed with the handle.
    pub fn start(berthd: &Path) -> anyhow::Result<DaemonProcess> {
        let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
        let mut daemon = DaemonProcess::start_in(berthd, &temp.path().join("data"), &[])?;
        daemon._temp = Some(temp);
        Ok(daemon)
    }

    /// A daemon on `data_dir`, with `extra` arguments after `serve`.
    pub fn start_in(
        berthd: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<DaemonProcess> {
        DaemonProcess::start_with_env(berthd, data_dir, extra, &[])
    }

    /// As [`DaemonProcess::start_in`], with `env` added to the daemon's
    /// environment.
    pub fn start_with_env(
        berthd: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<DaemonProcess> {
        DaemonProcess::start_until(berthd, data_dir, "127.0.0.1:0", extra, env, "berthd ready")
    }

    /// As [`DaemonProcess::start_in`], listening on `listen` instead of
    /// loopback (the server's end of an emulated link).
    pub fn start_on(
        berthd: &Path,
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
    ) -> anyhow::Result<DaemonProcess> {
        DaemonProcess::start_until(berthd, data_dir, listen, extra, &[], "berthd ready")
    }

    /// As [`DaemonProcess::start_with_env`], returning once the daemon
    /// listens, ready or not: for a daemon that is not meant to become
    /// ready.
    pub fn start_listening(
        berthd: &Path,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<DaemonProcess> {
        DaemonProcess::start_until(
            berthd,
            data_dir,
            "127.0.0.1:0",
            extra,
            env,
            "berthd listening",
        )
    }

    /// Starts the daemon and waits for the log line `announce`, which
    /// carries its URL.
    fn start_until(
        berthd: &Path,
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        announce: &'static str,
    ) -> anyhow::Result<DaemonProcess> {
        let mut child = Command::new(berthd)
            .args(["serve", "--listen", listen, "--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", berthd.display()))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        let setup_url = Arc::new(Mutex::new(None));
        let setup = setup_url.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Printed on stdout, outside the log, while no user exists.
                if let Some(at) = line.find(" at: ")
                    && line.starts_with("berthd: no user exists yet")
                    && let Ok(mut setup) = setup.lock()
                {
                    *setup = Some(line[at + 5..].trim().to_owned());
                }
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == announce
                {
                    let url = event["url"].as_str().unwrap_or_default().to_owned();
                    let _ = url_tx.send(url);
                }
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        });
        let mut daemon = DaemonProcess {
            child,
            url: String::new(),
            data_dir: data_dir.to_owned(),
            log,
            setup_url,
            reader: Some(reader),
            _temp: None,
        };
        match url_rx.recv_timeout(READY_DEADLINE) {
            Ok(url) => {
                daemon.url = url;
                Ok(daemon)
            }
            Err(_) => bail!(
                "berthd did not log {announce:?} within {READY_DEADLINE:?}; its log:\n{}",
                daemon.log_text()
            ),
        }
    }

    /// The first-admin setup link the daemon printed, if it printed one.
    pub fn setup_url(&self) -> Option<String> {
        self.setup_url.lock().ok().and_then(|s| s.clone())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid())?);
        nix::sys::signal::kill(pid, signal).context("cannot signal berthd")
    }

    /// Waits for the process to exit within `deadline`, then for its log to
    /// be read to the end.
    pub fn wait_exit(&mut self, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let status = wait_with_deadline(&mut self.child, deadline)?;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Ok(status)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit; kills it and fails after `deadline`.
pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("cannot wait on the child")? {
            return Ok(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            bail!("process {} did not exit within {deadline:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

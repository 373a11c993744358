//! Starts `berthd serve` as a child process on a free loopback port and finds
//! its URL in the JSON log line that announces readiness.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");

/// Generous, because a debug build on a loaded 2-core CI machine is slow; a
/// healthy daemon is ready in milliseconds.
const READY_DEADLINE: Duration = Duration::from_secs(30);

pub struct Daemon {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// A daemon on a fresh data directory.
    pub fn start() -> Daemon {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut daemon = Daemon::start_in(&temp.path().join("data"), &[]);
        daemon._temp = Some(temp);
        daemon
    }

    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Daemon {
        let mut child = Command::new(BERTHD)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("berthd starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "berthd ready"
                {
                    let url = event["url"].as_str().unwrap_or_default().to_owned();
                    let _ = url_tx.send(url);
                }
                lines.lock().expect("log lock").push(line);
            }
        });
        let url = match url_rx.recv_timeout(READY_DEADLINE) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "berthd did not announce readiness; its log:\n{}",
                    log.lock().expect("log lock").join("\n")
                );
            }
        };
        Daemon {
            child,
            url,
            data_dir: data_dir.to_owned(),
            log,
            reader: Some(reader),
            _temp: None,
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal delivered");
    }

    /// Waits for the process to exit, failing the test after `deadline`.
    /// Waits for the process to exit, failing the test after `deadline`, then
    /// for its log to be read to the end.
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let status = wait_with_deadline(&mut self.child, deadline);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader thread");
        }
        status
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }
}

pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait on child") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

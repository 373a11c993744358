//! The `berth` binary as a user runs it, against a real server where one is
//! needed, with its configuration in a temporary XDG_CONFIG_HOME.

mod agent;
mod apps;
mod auth;
mod catalog;
mod contexts;
mod endpoints;
mod forwards;
mod kube;
mod quickstart;
mod sessions;
mod spaces;
mod ssh;
mod up;
mod version;
mod wan;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Waits for a process in a test that also serves it (an in-process
/// server on the test's runtime): the runtime is told this thread blocks,
/// so the server's tasks move to another worker instead of waiting behind
/// it (a task woken here could otherwise sit in this worker's slot until the
/// process ends, and the process waits on the task).
pub fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

pub struct Cli {
    config_home: tempfile::TempDir,
}

impl Cli {
    #[allow(clippy::new_without_default)] // each call makes a new temporary home
    pub fn new() -> Cli {
        Cli {
            config_home: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn config_file(&self) -> std::path::PathBuf {
        self.config_home.path().join("berth/config.toml")
    }

    /// `berth ARGS` with this home and none of the caller's Berth or proxy
    /// settings.
    pub fn command(&self, args: &[&str]) -> Command {
        self.tool(std::path::Path::new(env!("CARGO_BIN_EXE_berth")), args)
    }

    /// `program ARGS` (berth, or kubectl and helm, which run berth as
    /// their credential plugin) with this home and none of the caller's
    /// Berth, Kubernetes or proxy settings.
    pub fn tool(&self, program: &std::path::Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("XDG_CONFIG_HOME", self.config_home.path())
            .env("HOME", self.config_home.path())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("KUBECONFIG")
            .env_remove("BERTH_CONTEXT")
            .env_remove("BERTH_URL")
            .env_remove("BERTH_TOKEN")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("ALL_PROXY");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        blocking(|| self.command(args).output().expect("berth runs"))
    }

    /// Runs a command with `input` on its standard input, as a user types a
    /// password.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        blocking(|| child.wait_with_output().expect("berth exits"))
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command that must fail and returns its stderr, which must be
    /// one line of what went wrong and one of what to do.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "berth {args:?} succeeded");
        let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "berth {args:?}: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(lines[1].starts_with("  to fix: "), "{stderr}");
        assert!(
            !stderr.contains('\x1b'),
            "no colour when stderr is not a terminal"
        );
        stderr
    }
}

//! The README's "Try it", step by step, as processes: `berthd` on its
//! embedded default (what `cargo xtask serve` runs), the first-admin setup
//! link, `berth login`, `berth quickstart` and `berth up` (whose agent
//! `berthd` runs itself), then an edit of the sample's `index.html`,
//! served on the forwarded port. Only two ports differ from the README's,
//! picked free so the test runs beside anything else on the machine.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::{DaemonProcess, Signal};

use crate::Cli;
use crate::auth::PASSWORD;

/// `berthd` as built from this tree, beside this package's `berth`
/// (`BERTH_TEST_BERTHD` names another). Cargo gives a test only its own
/// package's binaries: a workspace run builds `berthd` too, and when it is
/// missing or older than a source it is built here first, so the test never
/// runs a stale daemon.
fn berthd() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_TEST_BERTHD") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = Path::new(env!("CARGO_BIN_EXE_berth")).with_file_name("berthd");
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    // What berthd is built from: the sources of the crates it links (not
    // the CLI's, the tests' or the benchmarks'), the console it embeds,
    // and the lock file.
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for source in ["web/dist", "Cargo.toml", "Cargo.lock"] {
        newest_in(&workspace.join(source), &mut newest);
    }
    for krate in std::fs::read_dir(workspace.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if ["berth-cli", "berth-testkit", "berth-bench"]
            .iter()
            .any(|n| krate.file_name() == *n)
        {
            continue;
        }
        for part in ["src", "Cargo.toml", "charts"] {
            newest_in(&krate.path().join(part), &mut newest);
        }
    }
    if built.is_none_or(|built| built < newest) {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .args(["build", "--quiet", "--package", "berthd", "--bin", "berthd"])
            .current_dir(&workspace)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build berthd");
    }
    binary
}

/// The latest modification time of `path` and what is under it.
fn newest_in(path: &Path, newest: &mut std::time::SystemTime) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            newest_in(&entry.path(), newest);
        }
    } else if let Ok(modified) = meta.modified() {
        *newest = (*newest).max(modified);
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on 127.0.0.1:port, as `curl` does; none while nothing
/// answers.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.starts_with("HTTP/1.0 200").then_some(answer)
}

/// Awaits `check` (no fixed sleeps): polls it until it holds, failing with
/// `what` and the logs after a deadline far past any healthy run.
fn eventually(what: &str, logs: &dyn Fn() -> String, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_readme_steps_end_with_an_edit_served_on_the_forwarded_port() {
    // 1. `cargo xtask serve`: berthd on its embedded default, with the
    // Helm `cargo xtask setup` installs (xtask serve passes it so too).
    let work = tempfile::tempdir().expect("work");
    let config = work.path().join("berthd.toml");
    std::fs::write(
        &config,
        format!(
            "[apps]\nhelm = {:?}\n",
            berth_testkit::helm().to_str().expect("utf-8 path")
        ),
    )
    .expect("config");
    let mut daemon = DaemonProcess::start_in(
        &berthd(),
        &work.path().join("data"),
        &["--config", config.to_str().expect("utf-8 path")],
    )
    .expect("berthd starts");
    let setup = daemon
        .setup_url()
        .expect("a fresh daemon prints a setup link");

    // 2. The setup link: what the console's setup page sends.
    let token = setup
        .split("#token=")
        .nth(1)
        .expect("the link carries the token");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/api/v1/setup", daemon.url))
            .json(&serde_json::json!({
                "setup_token": token, "username": "admin", "password": PASSWORD,
            }))
            .send()
            .await
            .expect("setup")
            .status()
    });
    assert!(status.is_success(), "setup answered {status}");

    // 3. `berth login`: signed in, in the personal space.
    let cli = Cli::new();
    let out = cli.run_with_stdin(
        &[
            "login",
            &daemon.url,
            "--username",
            "admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("as admin (admin)"), "{said}");
    assert!(said.contains("Using your personal space admin"), "{said}");

    // 4. `berth quickstart` in an empty folder: the sample installed, its
    // source and berth.yaml written, the next commands said.
    let project = work.path().join("hello");
    std::fs::create_dir_all(&project).expect("project");
    let (port, local_port) = (free_port(), free_port());
    let out = cli
        .command(&[
            "quickstart",
            "--port",
            &port.to_string(),
            "--local-port",
            &local_port.to_string(),
        ])
        .current_dir(&project)
        .output()
        .expect("quickstart");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{said}\nberthd said:\n{}",
        daemon.log_text()
    );
    assert!(
        said.contains("hello-web is deployed in space admin"),
        "{said}"
    );
    assert!(said.contains("  berth up "), "{said}");
    assert!(
        said.contains(&format!("  http://127.0.0.1:{local_port} ")),
        "{said}"
    );
    for file in ["index.html", "server.py", "berth.yaml"] {
        assert!(project.join(file).exists(), "no {file}");
    }

    // 5. `berth up`, then the page on the forwarded port; an edit is
    // served as soon as it is synced.
    let log = work.path().join("berth-up.log");
    let up = Running {
        child: cli
            .command(&["up"])
            .current_dir(&project)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("berth up"),
        log,
    };
    let logs = || {
        format!(
            "berth up said:\n{}\nberthd said:\n{}",
            up.log(),
            daemon.log_text()
        )
    };
    eventually("the sample page on the forwarded port", &logs, || {
        get(local_port, "/").is_some_and(|page| page.contains("<h1>Hello from Berth</h1>"))
    });
    let page = project.join("index.html");
    let edited = std::fs::read_to_string(&page)
        .expect("index.html")
        .replace("<h1>Hello from Berth</h1>", "<h1>Hello from my edit</h1>");
    std::fs::write(&page, edited).expect("edit");
    eventually("the edit on the forwarded port", &logs, || {
        get(local_port, "/").is_some_and(|page| page.contains("<h1>Hello from my edit</h1>"))
    });
    // The summary with the forwards is printed at the status line's next
    // tick, which a fast first sync can beat the edit to.
    eventually("the forward in berth up's summary", &logs, || {
        up.log().contains(&format!("127.0.0.1:{local_port}"))
    });

    // `berth down` puts the workload back, and the dev command, which the
    // local agent ran, stops with the agent.
    drop(up);
    let out = cli
        .command(&["down"])
        .current_dir(&project)
        .output()
        .expect("down");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("deployment/hello-web is out of dev mode"),
        "{said}"
    );
    eventually("the dev command to stop", &|| daemon.log_text(), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    daemon.signal(Signal::SIGTERM).expect("SIGTERM");
    let exited = daemon
        .wait_exit(Duration::from_secs(30))
        .expect("berthd exits");
    assert!(exited.success(), "{exited}");
}

//! `berth agent` as a dev container runs it: PID 1 of a PID namespace of
//! its own (`unshare --pid --fork --mount-proc`, from util-linux, which
//! needs root, as CI has). The test attaches to the agent's session as
//! `berth up` does and makes the first sync, so the agent starts its dev
//! command; that command leaves orphans, which PID 1 must reap, and a
//! SIGTERM to PID 1, as the kubelet sends at `berth down`, must reach
//! every process of the dev command and end the agent cleanly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_dial::Role;
use berth_proto::SyncOpen;
use berth_sync::engine::{self, Phase, Settings, SharedStatus};
use berth_sync::{Input, ScanOptions};

use crate::Cli;
use crate::auth::server_with_admin;

/// How many orphans the dev command leaves.
const ORPHANS: usize = 5;

/// The dev command, in `ROOT/app`. Each of its [`ORPHANS`] orphans is a
/// double fork: the subshell ends at once, so its child is handed to PID 1;
/// it waits for the test's `release` file, leaves a mark and ends, to be
/// reaped. Then a background job and the shell itself wait to be stopped,
/// each saying which signal stopped it, outside the synced folder.
fn dev_command() -> String {
    format!(
        r#"
i=0
while [ $i -lt {ORPHANS} ]; do
  i=$((i + 1))
  (sh -c 'while [ ! -e ../release ]; do sleep 0.05; done; echo > ../orphan-'$i &)
done
sh -c 'trap "echo TERM > ../background-stopped; exit 0" TERM; while :; do sleep 0.05; done' &
trap 'echo TERM > ../stopped; wait; exit 0' TERM
echo $$ > ../started
wait
"#
    )
}

/// A process seen in the host's /proc.
#[derive(Debug, Clone)]
struct Process {
    parent: u32,
    state: char,
    name: String,
}

fn processes() -> BTreeMap<u32, Process> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // A process that ended since the listing is simply not there.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `PID (NAME) STATE PPID ...`; the name may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let parent = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        all.insert(
            pid,
            Process {
                parent,
                state,
                name: stat[open + 1..close].to_owned(),
            },
        );
    }
    all
}

/// `pid` and every process under it.
fn tree(pid: u32) -> BTreeMap<u32, Process> {
    let all = processes();
    let mut found = BTreeMap::new();
    let mut next = vec![pid];
    while let Some(pid) = next.pop() {
        if let Some(process) = all.get(&pid) {
            found.insert(pid, process.clone());
        }
        next.extend(
            all.iter()
                .filter(|(_, p)| p.parent == pid)
                .map(|(child, _)| *child),
        );
    }
    found
}

struct Namespace(Child);

impl Drop for Namespace {
    fn drop(&mut self) {
        // Killing `unshare` kills its child, PID 1, and so the namespace.
        if let Some(pid1) = self.pid1() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid1.to_string()])
                .status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Namespace {
    /// PID 1 of the namespace as the host numbers it: `unshare`'s child.
    fn pid1(&self) -> Option<u32> {
        processes()
            .into_iter()
            .find(|(_, p)| p.parent == self.0.id())
            .map(|(pid, _)| pid)
    }
}

fn wait_for(what: &str, log: &Path, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the agent said:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        crate::blocking(|| std::thread::sleep(Duration::from_millis(20)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_pid_1_the_agent_reaps_orphans_and_stops_its_dev_command_on_sigterm() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    let agent_token = cli.ok(&["session", "create", "admin"]).trim().to_owned();
    let sessions: serde_json::Value =
        serde_json::from_str(&cli.ok(&["session", "list", "-o", "json"])).expect("json");
    let session = sessions[0]["id"].as_str().expect("a session id").to_owned();
    let token = cli.ok(&["token", "create", "agent-pid1"]).trim().to_owned();

    let root = tempfile::tempdir().expect("root");
    let root = root.path();
    let log = root.join("agent.log");
    let agent = Namespace(
        Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                env!("CARGO_BIN_EXE_berth"),
            ])
            .args(["agent", "--root", &root.display().to_string()])
            .args(["--workdir", "app", "--", "sh", "-c", &dev_command()])
            .env("BERTH_AGENT_URL", &server.url)
            .env("BERTH_AGENT_TOKEN", &agent_token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("unshare runs (util-linux, as root)"),
    );
    let mut pid1 = None;
    wait_for("the agent as PID 1", &log, || {
        pid1 = agent.pid1();
        pid1.is_some()
    });
    let pid1 = pid1.expect("PID 1");

    // The first sync, as `berth up` makes it: then the dev command starts.
    let connected = berth_dial::first(&server.url, Role::Client, &token, Some(&session), &|_| {})
        .await
        .expect("the relay pairs the test with the agent");
    let relay = berth_dial::run(
        server.url.clone(),
        Role::Client,
        token.clone(),
        Some(session.clone()),
        connected,
        |_: &str| {},
    );
    let local = tempfile::tempdir().expect("local");
    std::fs::write(local.path().join("main.py"), "print('hello')\n").expect("a file");
    let stream = relay
        .mux
        .open_with(&SyncOpen {
            version: u64::from(berth_sync::wire::VERSION),
            path: "/app".to_owned(),
            ignores: Vec::new(),
        })
        .await
        .expect("a sync stream");
    let (input, inbox) = tokio::sync::mpsc::channel(64);
    let (outbox, wire) = berth_sync::link::attach(stream, input.clone());
    let status = SharedStatus::default();
    let settings = Settings {
        root: local.path().to_owned(),
        options: ScanOptions::default(),
        index_file: None,
        watch: false,
    };
    let sync = {
        let status = status.clone();
        tokio::task::spawn_blocking(move || {
            engine::coordinate(settings, inbox, None, outbox, wire, status)
        })
    };
    wait_for("the first sync", &log, || {
        engine::snapshot(&status).phase == Phase::Watching
    });
    assert!(root.join("app/main.py").exists());
    wait_for("the dev command", &log, || root.join("started").exists());

    // The orphans are PID 1's children now, beside the agent.
    let orphans = || {
        tree(pid1)
            .into_iter()
            .filter(|(_, p)| p.parent == pid1 && p.name != "berth")
            .count()
    };
    wait_for("the orphans, handed to PID 1", &log, || {
        orphans() == ORPHANS
    });
    std::fs::write(root.join("release"), "").expect("release");
    // They end, and PID 1 reaps them: no zombie is left in the namespace.
    wait_for("the orphans to end and be reaped", &log, || {
        let marks = (1..=ORPHANS)
            .filter(|i| root.join(format!("orphan-{i}")).exists())
            .count();
        let zombies: Vec<(u32, Process)> = tree(pid1)
            .into_iter()
            .filter(|(_, p)| p.state == 'Z')
            .collect();
        marks == ORPHANS && zombies.is_empty() && orphans() == 0
    });

    // SIGTERM to PID 1, as the kubelet stops a container.
    let namespace: BTreeSet<u32> = tree(pid1).into_keys().collect();
    assert!(
        namespace.len() >= 4,
        "PID 1, the agent, the shell and its job: {namespace:?}"
    );
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid1.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut agent = agent;
    let deadline = signalled + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = agent.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop; it said:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        crate::blocking(|| std::thread::sleep(Duration::from_millis(5)));
    };
    let took = signalled.elapsed();
    eprintln!("the agent as PID 1 stopped {took:?} after SIGTERM");
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        exit.code(),
        Some(0),
        "a clean stop exits 0; the agent said:\n{said}"
    );
    assert!(said.contains("SIGTERM: stopping"), "{said}");
    // The signal reached the dev command and its background job, which
    // ended by themselves (a SIGKILL would have left no file).
    assert_eq!(
        std::fs::read_to_string(root.join("stopped"))
            .ok()
            .as_deref(),
        Some("TERM\n")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("background-stopped"))
            .ok()
            .as_deref(),
        Some("TERM\n")
    );
    let left: Vec<u32> = namespace
        .iter()
        .copied()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    assert!(left.is_empty(), "still running: {left:?}");

    let _ = input.send(Input::Stop).await;
    drop(relay);
    let _ = sync.await;
}

//! Forwards both ways through a dev session, with processes: `berth
//! port-forward` to a service the container reaches by name, a reverse
//! forward from a container port back to this machine, and the errors that
//! name what refused. The agent runs locally (`berth agent --root`), so
//! "the container" is this machine and the service is `localhost`, which
//! the agent resolves and dials exactly as it would a service's name in a
//! pod.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::Cli;
use crate::auth::server_with_admin;

pub(crate) struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Answers each connection's one line with `NAME heard LINE`, then closes.
pub(crate) fn line_server(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(conn.try_clone().expect("clone")).read_line(&mut line);
            let mut conn = conn;
            let _ = write!(conn, "{name} heard {}", line.trim());
        }
    });
    port
}

/// One exchange with a line server through `port`.
pub(crate) fn exchange(port: u16, line: &str) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    conn.write_all(format!("{line}\n").as_bytes())
        .expect("write");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A signed-in CLI, a dev session, and a local agent serving a folder as
/// the container (the test server is the caller's, which keeps it).
pub(crate) struct Attached {
    pub cli: Cli,
    pub session: String,
    pub root: tempfile::TempDir,
    pub agent: Killed,
}

pub(crate) fn attach_agent(server: &berth_testkit::TestServer) -> Attached {
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    let token = cli.ok(&["session", "create", "admin"]).trim().to_owned();
    assert!(token.starts_with("berth_agt_"), "{token}");
    let listed: serde_json::Value =
        serde_json::from_str(&cli.ok(&["session", "list", "-o", "json"])).expect("json");
    let session = listed[0]["id"].as_str().expect("id").to_owned();
    let root = tempfile::tempdir().expect("root");
    let agent = Killed(
        cli.command(&["agent", "--root", &root.path().display().to_string()])
            .env("BERTH_AGENT_URL", &server.url)
            .env("BERTH_AGENT_TOKEN", &token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("agent"),
    );
    Attached {
        cli,
        session,
        root,
        agent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_reach_services_and_come_back_from_the_container() {
    let server = server_with_admin().await;
    let Attached {
        cli,
        session,
        root: _root,
        agent: _agent,
    } = attach_agent(&server);

    let service = line_server("the service");
    let laptop = line_server("the laptop");
    let container_port = free_port();
    let mut forward = Killed(
        cli.command(&[
            "port-forward",
            &session,
            &format!("0:localhost:{service}"),
            "0:no-such-service.invalid:80",
            "--reverse",
            &format!("{container_port}:{laptop}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("port-forward"),
    );
    let mut lines = BufReader::new(forward.0.stderr.take().expect("stderr")).lines();
    // The next line but the one that says the agent is slow to attach.
    let mut next = move || loop {
        let line = lines.next().expect("a line").expect("utf-8");
        if !line.starts_with("berth: waiting for the other side") {
            return line;
        }
    };
    let bound = |line: &str, to: &str| -> u16 {
        line.strip_prefix("Forwarding 127.0.0.1:")
            .and_then(|rest| rest.strip_suffix(&format!(" -> {to}")))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no forwarding line to {to}: {line}"))
    };
    let to_service = bound(&next(), &format!("localhost:{service}"));
    let to_nowhere = bound(&next(), "no-such-service.invalid:80");
    assert_eq!(
        next(),
        format!("Forwarding container port {container_port} -> 127.0.0.1:{laptop}")
    );

    // Into the space: the agent dials the service by its name.
    for attempt in 0..2 {
        assert_eq!(
            crate::blocking(|| exchange(to_service, &format!("ping {attempt}"))),
            format!("the service heard ping {attempt}")
        );
    }
    // Out of the container: its loopback port leads to this machine.
    assert_eq!(
        crate::blocking(|| exchange(container_port, "webhook")),
        "the laptop heard webhook"
    );
    // A service that does not exist closes the connection, and the CLI
    // names it.
    assert_eq!(crate::blocking(|| exchange(to_nowhere, "hello")), "");
    let said = crate::blocking(&mut next);
    assert!(
        said.starts_with("berth: cannot forward to no-such-service.invalid:80: no service named no-such-service.invalid in the space"),
        "{said}"
    );
    drop(forward);

    // A container port that is taken is refused by name.
    let err = cli.fails(&[
        "port-forward",
        &session,
        "--reverse",
        &format!("{service}:{laptop}"),
    ]);
    assert!(
        err.contains(&format!("cannot listen on port {service} in the container")),
        "{err}"
    );
    let err = cli.fails(&["port-forward", &session, "0:Postgres:5432"]);
    assert!(err.contains("not a service name"), "{err}");

    // Every stream is audited with where it led.
    let audited = cli.ok(&["audit", "export", "--action", "session.stream"]);
    for described in [
        format!("client opened port-forward to localhost:{service}"),
        format!("client opened reverse forward from container port {container_port}"),
        format!("agent opened connection from container port {container_port}"),
    ] {
        assert!(audited.contains(&described), "{described}: {audited}");
    }
}

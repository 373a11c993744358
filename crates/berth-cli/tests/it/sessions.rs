//! A dev session end to end with processes: `berth session create`, `berth
//! agent --root DIR`, `berth exec` and `berth port-forward`, through the
//! relay of a real server.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::auth::server_with_admin;
use crate::forwards::{Attached, Killed, attach_agent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_and_port_forward_through_the_relay() {
    let server = server_with_admin().await;
    let Attached {
        cli,
        session,
        root,
        agent,
    } = attach_agent(&server);
    std::fs::write(
        root.path().join("greeting.txt"),
        "hello from the container\n",
    )
    .expect("file");

    // A command runs in the root, with exit code and stdin passed through.
    let out = cli.run(&["exec", &session, "--", "cat", "greeting.txt"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the container\n"
    );
    let out = cli.run_with_stdin(
        &[
            "exec",
            &session,
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; echo oops >&2; exit 3",
        ],
        "shout\n",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"));
    let err = cli.fails(&["exec", &session, "--", "no-such-command-here"]);
    assert!(err.contains("no-such-command-here"), "{err}");

    // On a pseudo-terminal: the command sees a terminal of the CLI's size
    // (80x24 when the CLI itself has none), and its exit code comes back.
    let out = cli.run(&[
        "exec",
        "--tty",
        &session,
        "--",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && stty size; exit 4",
    ]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "24 80");

    // Through an HTTP proxy (CONNECT), as behind a company's firewall.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy");
    let proxy_port = proxy.local_addr().expect("addr").port();
    let tunnels = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let tunnels = tunnels.clone();
        std::thread::spawn(move || {
            for conn in proxy.incoming().flatten() {
                let tunnels = tunnels.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("request line");
                    let target = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    tunnels.lock().expect("lock").push(target.clone());
                    let upstream = std::net::TcpStream::connect(&target).expect("upstream");
                    let mut conn = conn;
                    conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .expect("answer");
                    let (mut up_read, mut up_write) =
                        (upstream.try_clone().expect("clone"), upstream);
                    let mut down_write = conn.try_clone().expect("clone");
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut up_read, &mut down_write);
                    });
                    let _ = std::io::copy(&mut reader, &mut up_write);
                });
            }
        });
    }
    let out = cli
        .command(&["exec", &session, "--", "echo", "via the proxy"])
        .env("HTTP_PROXY", format!("http://127.0.0.1:{proxy_port}"))
        .env("NO_PROXY", "")
        .output()
        .expect("berth runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via the proxy\n");
    let host = server.url.trim_start_matches("http://").to_owned();
    assert_eq!(
        tunnels.lock().expect("lock").as_slice(),
        [host],
        "one tunnel, to the server"
    );

    // A CA bundle that is not one is named.
    let bogus = root.path().join("not-a-bundle.pem");
    std::fs::write(&bogus, "hello").expect("file");
    let config = std::fs::read_to_string(cli.config_file()).expect("config");
    let user_token = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("token = "))
        .map(|t| t.trim_matches('"').to_owned())
        .expect("a token in the config");
    let out = cli
        .command(&["exec", &session, "--", "true"])
        .env("BERTH_URL", server.url.replace("http://", "https://"))
        .env("BERTH_TOKEN", &user_token)
        .env("BERTH_CA_FILE", &bogus)
        .output()
        .expect("berth runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BERTH_CA_FILE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A port in the container, reached through a local port.
    let service = std::net::TcpListener::bind("127.0.0.1:0").expect("service");
    let port = service.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in service.incoming().flatten() {
            // The request is one line; it may come in several reads.
            let mut request = String::new();
            let _ = BufReader::new(conn.try_clone().expect("clone")).read_line(&mut request);
            let mut conn = conn;
            let body = format!("you said {}", request.trim());
            let _ = write!(
                conn,
                "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let mut forward = Killed(
        cli.command(&["port-forward", &session, &format!("0:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("port-forward"),
    );
    let stderr = forward.0.stderr.take().expect("stderr");
    // The forwarding line (after a note that the agent is slow to attach,
    // on a loaded machine).
    let line = BufReader::new(stderr)
        .lines()
        .map(|line| line.expect("utf-8"))
        .find(|line| !line.starts_with("berth: waiting for the other side"))
        .expect("a line");
    let local: u16 = line
        .strip_prefix("Forwarding 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no forwarding line: {line}"));
    for attempt in 0..3 {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", local)).expect("local port");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        conn.write_all(format!("ping {attempt}\n").as_bytes())
            .expect("write");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read");
        assert!(
            answer.ends_with(&format!("you said ping {attempt}")),
            "{answer}"
        );
    }
    drop(forward);
    drop(agent);

    // The session shows what went through; ending it stops the agent.
    let shown = cli.ok(&["session", "list"]);
    assert!(shown.contains(&session), "{shown}");
    cli.ok(&["session", "end", &session]);
    let err = cli.fails(&["exec", &session, "--", "true"]);
    assert!(err.contains("ended"), "{err}");
}

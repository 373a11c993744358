//! SSH into a dev container with the real OpenSSH client (`ssh`, `scp`,
//! `sftp`) through `berth ssh-config`'s entry and `berth ssh`: a command
//! with its exit code and stderr, a pseudo-terminal, files both ways over
//! SFTP, and a local port forward, all carried by the relay to the agent's
//! SSH server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::auth::server_with_admin;
use crate::forwards::{Attached, Killed, attach_agent, exchange, line_server};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_scp_sftp_and_forwards_reach_the_container() {
    let server = server_with_admin().await;
    let Attached {
        cli,
        session,
        root,
        agent: _agent,
    } = attach_agent(&server);
    std::fs::write(root.path().join("greeting.txt"), "hello over ssh\n").expect("file");

    // The entry: written once, the same when written again.
    let config = root.path().join("ssh_config");
    let config_arg = config.display().to_string();
    cli.ok(&["ssh-config", "--file", &config_arg]);
    let written = std::fs::read_to_string(&config).expect("written");
    assert!(written.contains("Host *.berth"), "{written}");
    assert!(written.contains("ssh --stdio %h"), "{written}");
    cli.ok(&["ssh-config", "--file", &config_arg]);
    assert_eq!(std::fs::read_to_string(&config).expect("kept"), written);

    let host = format!("{session}.berth");
    let tool = |program: &str, args: &[&str]| -> Output {
        let mut all = vec!["-F", config_arg.as_str(), "-o", "BatchMode=yes"];
        all.extend_from_slice(args);
        crate::blocking(|| {
            cli.tool(Path::new(program), &all)
                .stdin(Stdio::null())
                .output()
                .expect("the OpenSSH client runs")
        })
    };

    // A command: its output, its stderr, its exit code.
    let out = tool("ssh", &[&host, "cat greeting.txt; echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello over ssh\n");
    assert!(text(&out.stderr).contains("oops"), "{}", text(&out.stderr));
    // On a pseudo-terminal.
    let out = tool("ssh", &["-tt", &host, "test -t 0 && echo on a terminal"]);
    assert!(
        text(&out.stdout).contains("on a terminal"),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // `berth ssh` runs ssh the same way.
    let out = crate::blocking(|| {
        cli.command(&["ssh", &session, "--", "echo", "from berth ssh"])
            .stdin(Stdio::null())
            .output()
            .expect("berth ssh")
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from berth ssh\n");

    // Files both ways over SFTP (scp speaks it), and sftp's own commands.
    let local = root.path().join("outside");
    std::fs::create_dir(&local).expect("folder");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(local.join("up.bin"), &payload).expect("payload");
    let out = tool(
        "scp",
        &[
            &local.join("up.bin").display().to_string(),
            &format!("{host}:copied.bin"),
        ],
    );
    assert!(out.status.success(), "scp up: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read(root.path().join("copied.bin")).expect("copied"),
        payload
    );
    let out = tool(
        "scp",
        &[
            &format!("{host}:greeting.txt"),
            &local.join("down.txt").display().to_string(),
        ],
    );
    assert!(out.status.success(), "scp down: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(local.join("down.txt")).expect("down"),
        "hello over ssh\n"
    );
    let batch = local.join("batch");
    std::fs::write(
        &batch,
        "mkdir made\nrename copied.bin made/moved.bin\nls made\n",
    )
    .expect("batch");
    let out = tool("sftp", &["-b", &batch.display().to_string(), &host]);
    assert!(out.status.success(), "sftp: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("moved.bin"),
        "{}",
        text(&out.stdout)
    );
    assert!(root.path().join("made/moved.bin").is_file());
    // Nothing outside the agent's root is reached.
    let out = tool(
        "scp",
        &[
            &format!("{host}:/../../etc/hostname"),
            &local.join("x").display().to_string(),
        ],
    );
    assert!(!out.status.success(), "the root's parent is the root");

    // A local forward (-L) to a port the container reaches.
    let service = line_server("the service");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        probe.local_addr().expect("addr").port()
    };
    let mut forwarding = Killed(
        cli.tool(
            Path::new("ssh"),
            &[
                "-F",
                &config_arg,
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-N",
                "-v",
                "-L",
                &format!("{port}:127.0.0.1:{service}"),
                &host,
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh -L"),
    );
    // ssh -v says when it listens; the connection is then ready.
    let stderr = forwarding.0.stderr.take().expect("stderr");
    let ready = crate::blocking(|| {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("Entering interactive session"))
    });
    assert!(ready, "ssh -L never connected");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        crate::blocking(|| exchange(port, "through ssh")),
        "the service heard through ssh"
    );
    drop(forwarding);

    // Every SSH connection is a stream the relay audited.
    let audited = cli.ok(&["audit", "export", "--action", "session.stream"]);
    assert!(audited.contains("client opened ssh"), "{audited}");
}

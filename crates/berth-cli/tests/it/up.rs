//! `berth up` end to end with processes: the CLI, a real server whose
//! agent runs locally (as with the embedded cluster), sync both ways, a
//! connection cut during the first sync, `berth sync status|doctor`, and
//! `berth down` restoring the workload exactly.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use crate::Cli;
use crate::auth::server_with_admin;

struct Up {
    child: Child,
    log: PathBuf,
}

impl Up {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, up: &Up, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; berth up said:\n{}",
            up.log()
        );
        crate::blocking(|| std::thread::sleep(Duration::from_millis(50)));
    }
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, content).expect("write");
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// An HTTP proxy whose first CONNECT tunnel (the relay's WebSocket) is cut
/// once `cut_after` bytes went through it, as a flaky network does.
fn cutting_proxy(cut_after: u64) -> (u16, Arc<AtomicBool>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy");
    let port = listener.local_addr().expect("addr").port();
    let cut = Arc::new(AtomicBool::new(false));
    let flag = cut.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                let mut conn = conn;
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let mut words = text.split_whitespace();
                let method = words.next().unwrap_or_default().to_owned();
                let target = words.next().unwrap_or_default().to_owned();
                // Plain HTTP requests (the API calls) pass through uncut.
                let (address, tunnel) = if method == "CONNECT" {
                    (target.clone(), true)
                } else {
                    let rest = target.trim_start_matches("http://");
                    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                    // The origin form of the request line.
                    head = text
                        .replacen(
                            &format!("{method} {target}"),
                            &format!("{method} /{path}"),
                            1,
                        )
                        .into_bytes();
                    (host.to_owned(), false)
                };
                let Ok(mut upstream) = std::net::TcpStream::connect(&address) else {
                    return;
                };
                if tunnel {
                    let _ = conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                } else if upstream.write_all(&head).is_err() {
                    return;
                }
                let cut_after = if tunnel { cut_after } else { u64::MAX };
                let moved = Arc::new(AtomicU64::new(0));
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    let moved = moved.clone();
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buffer) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                            let total = moved.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                            if total > cut_after && !flag.swap(true, Ordering::SeqCst) {
                                let _ = from.shutdown(std::net::Shutdown::Both);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    })
                };
                let a = pipe(
                    conn.try_clone().expect("clone"),
                    upstream.try_clone().expect("clone"),
                );
                let b = pipe(upstream, conn);
                let _ = a.join();
                let _ = b.join();
            });
        }
    });
    (port, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_up_syncs_both_ways_and_berth_down_restores_the_workload() {
    let server = server_with_admin().await;
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    cli.ok(&["space", "use", "admin"]);
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        server.sim.client().expect("client"),
        "admin",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    );
    let deployment: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1",
                    "ports": [{"containerPort": 8080}]}]}
            }
        }
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");
    let original = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json");

    let project = tempfile::tempdir().expect("project");
    let local = project.path();
    // `berth init` starts the manifest from the space's workloads.
    let out = cli
        .command(&["init"])
        .current_dir(local)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(local.join("berth.yaml")).expect("manifest");
    assert!(written.contains("workload: deployment/api"), "{written}");
    assert!(written.contains("8080:8080"), "{written}");
    // The project's own manifest: the dev command writes a file, which
    // comes back.
    std::fs::write(
        local.join("berth.yaml"),
        "dev:\n  api:\n    workload: deployment/api\n    command: echo started > started.txt\n    sync:\n      - ./:/app\n    volumes:\n      - .cache\n    ignore:\n      - \"*.log\"\n",
    )
    .expect("manifest");
    write(local, "src/main.rs", b"fn main() {}\n");
    write(local, "run.sh", b"#!/bin/sh\necho run\n");
    std::fs::set_permissions(local.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("src/main.rs", local.join("main-link")).expect("symlink");
    write(local, ".gitignore", b"build/\n");
    write(local, "build/out.bin", b"ignored by .gitignore");
    write(local, "debug.log", b"ignored by the manifest");
    // Enough content that the first sync is still running when the proxy
    // cuts the connection.
    let mut blob = Vec::with_capacity(24 << 20);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    while blob.len() < 24 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        blob.extend_from_slice(&state.to_le_bytes());
    }
    write(local, "assets/blob.bin", &blob);

    let (proxy, cut) = cutting_proxy(4 << 20);
    let log = local.join(".berth-up.log");
    let up = Up {
        child: cli
            .command(&["up"])
            .current_dir(local)
            .env("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("berth up"),
        log,
    };
    wait_for("the first sync", &up, || up.log().contains("In sync:"));
    wait_for("the SSH hint", &up, || {
        up.log()
            .contains("SSH: `ssh api.admin.berth` (after `berth ssh-config`")
    });
    assert!(cut.load(Ordering::SeqCst), "the proxy cut the connection");
    let said = up.log();
    let remote_root = said
        .split("agent in berthd on ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no local root in: {said}"));
    let remote = remote_root.join("app");
    assert_eq!(
        read(&remote.join("assets/blob.bin")).as_deref(),
        Some(&blob[..])
    );
    assert_eq!(
        read(&remote.join("src/main.rs")).as_deref(),
        Some(&b"fn main() {}\n"[..])
    );
    assert_eq!(
        std::fs::metadata(remote.join("run.sh"))
            .expect("run.sh")
            .permissions()
            .mode()
            & 0o111,
        0o111
    );
    assert_eq!(
        std::fs::read_link(remote.join("main-link")).expect("link"),
        Path::new("src/main.rs")
    );
    assert!(!remote.join("build").exists());
    assert!(!remote.join("debug.log").exists());
    // The dev command ran after the first sync; what it wrote came back.
    wait_for("the dev command's file", &up, || {
        read(&local.join("started.txt")).as_deref() == Some(&b"started\n"[..])
    });

    // Edits, new folders, deletes and renames go over.
    write(
        local,
        "src/main.rs",
        b"fn main() { println!(\"edited\"); }\n",
    );
    write(local, "src/lib/util.rs", b"pub fn util() {}\n");
    std::fs::remove_file(local.join("run.sh")).expect("rm");
    std::fs::rename(
        local.join("assets/blob.bin"),
        local.join("assets/moved.bin"),
    )
    .expect("mv");
    wait_for("the edits", &up, || {
        read(&remote.join("src/main.rs")).as_deref()
            == Some(&b"fn main() { println!(\"edited\"); }\n"[..])
            && remote.join("src/lib/util.rs").exists()
            && !remote.join("run.sh").exists()
            && remote.join("assets/moved.bin").exists()
            && !remote.join("assets/blob.bin").exists()
    });
    // The container's changes come back.
    write(&remote, "generated/schema.json", b"{}");
    wait_for("the container's file", &up, || {
        local.join("generated/schema.json").exists()
    });

    let status = cli
        .command(&["sync", "status", "-o", "json"])
        .current_dir(local)
        .output()
        .expect("status");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status is JSON");
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(
        status["status"]["folders"][0]["status"]["phase"], "watching",
        "{status}"
    );
    let doctor = cli
        .command(&["sync", "doctor"])
        .current_dir(local)
        .output()
        .expect("doctor");
    let doctor = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.contains("build"), "{doctor}");
    assert!(doctor.contains("debug.log"), "{doctor}");
    assert!(doctor.contains("largest folders"), "{doctor}");

    // Ctrl-C stops syncing; dev mode stays until `berth down`.
    let pid = up.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    let mut up = up;
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = up.child.try_wait().expect("wait") {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "berth up did not stop: {}",
            up.log()
        );
        crate::blocking(|| std::thread::sleep(Duration::from_millis(50)));
    };
    assert!(code.success(), "{}", up.log());
    assert!(up.log().contains("berth down"), "{}", up.log());
    let during = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json");
    assert_eq!(during["spec"]["replicas"], 1);

    // The target by name: `berth ssh`, and the host `berth ssh-config` names.
    for name in ["api", "api.admin.berth"] {
        let out = crate::blocking(|| {
            cli.command(&["ssh", name, "--", "cat", "started.txt"])
                .stdin(std::process::Stdio::null())
                .output()
                .expect("berth ssh")
        });
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "started\n",
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let err = cli.fails(&["ssh", "nothing-here", "--", "true"]);
    assert!(
        err.contains("no dev target nothing-here in space admin"),
        "{err}"
    );

    let out = cli
        .command(&["down", "--volumes"])
        .current_dir(local)
        .output()
        .expect("down");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("The volume of api is deleted"), "{said}");
    let after = serde_json::to_value(deployments.get("api").await.expect("get")).expect("json");
    assert_eq!(after["spec"], original["spec"]);
    let audit = cli.ok(&["audit", "list", "--action", "dev.", "-o", "json"]);
    let events: serde_json::Value = serde_json::from_str(&audit).expect("json");
    let actions: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"dev.up")
            && actions.contains(&"dev.down")
            && actions.contains(&"dev.volume.delete"),
        "{actions:?}"
    );
    // Out of dev mode already, `--volumes` still takes the volume.
    let out = cli
        .command(&["down", "--volumes"])
        .current_dir(local)
        .output()
        .expect("down");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_manifest_is_named_before_anything_else() {
    let cli = Cli::new();
    let project = tempfile::tempdir().expect("project");
    std::fs::write(
        project.path().join("berth.yaml"),
        "dev:\n  api:\n    workload: deployment/api\n    sync:\n      - nocolon\n",
    )
    .expect("manifest");
    let out = cli
        .command(&["up"])
        .current_dir(project.path())
        .output()
        .expect("berth up");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 5") && err.contains("`dev.api.sync[0]`") && err.contains("LOCAL:REMOTE"),
        "{err}"
    );
}

#[test]
fn agent_install_copies_the_binary_for_a_dev_pod() {
    let cli = Cli::new();
    let volume = tempfile::tempdir().expect("volume");
    let dir = volume.path().join("bin");
    cli.ok(&["agent-install", &dir.display().to_string()]);
    let installed = dir.join("berth");
    let mode = std::fs::metadata(&installed)
        .expect("installed")
        .permissions()
        .mode();
    assert_eq!(mode & 0o755, 0o755);
    let out = std::process::Command::new(&installed)
        .arg("--version")
        .output()
        .expect("the copy runs");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("berth "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_up_warns_before_the_space_sleeps() {
    let server = berth_testkit::TestServer::start_all(
        berth_auth::config::AuthConfig::default(),
        berth_spaces::SpacesConfig {
            idle_sleep: Duration::from_secs(600),
            ..berth_spaces::SpacesConfig::default()
        },
        Arc::new(berth_core::SystemClock),
    )
    .await
    .expect("server");
    server.admin_token().await.expect("admin");
    let cli = Cli::new();
    cli.login_with_password(&server.url);
    cli.ok(&["space", "use", "admin"]);
    server
        .sim
        .create_object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "admin"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
        }))
        .await
        .expect("deployment");
    let project = tempfile::tempdir().expect("project");
    std::fs::write(
        project.path().join("berth.yaml"),
        "dev:\n  web:\n    workload: deployment/web\n    sync:\n      - ./:/srv\n",
    )
    .expect("manifest");
    let log = project.path().join(".up.log");
    let up = Up {
        child: cli
            .command(&["up"])
            .current_dir(project.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("berth up"),
        log,
    };
    // Ten minutes of idleness allowed: the warning comes at once.
    wait_for("the sleep warning", &up, || {
        up.log().contains("Space admin sleeps at") && up.log().contains("berth space wake admin")
    });
}

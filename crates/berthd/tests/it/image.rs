//! The image `cargo xtask image` builds, run under a real OCI runtime
//! (runc) the way the chart's rendered StatefulSet runs it: its args, user,
//! groups (fsGroup), read-only root, no capabilities, no privilege
//! escalation, a seccomp filter, the rendered ConfigMap at its path, the
//! data volume, /tmp, the service account's files and the chart's memory
//! limit as a cgroup limit. The container shares the host's network (its
//! own would need a bridge; nothing here depends on it) and reaches a
//! Kubernetes API over TLS: the simulator behind a TLS front whose CA is
//! the service account's `ca.crt`.
//!
//! `cargo xtask test` builds the image first and names it in
//! `BERTH_TEST_IMAGE`; run alone, the test looks in `target/image/`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_kube_sim::{SimOptions, Simulator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The image's user and the chart's fsGroup.
const NONROOT: u32 = 65532;
/// What the chart's `resources.limits.memory` gives berthd by default.
const MEMORY_LIMIT: u64 = 512 << 20;
const RUNC: &str = "/usr/sbin/runc";
const DEADLINE: Duration = Duration::from_secs(90);

/// Syscalls that Docker's documentation lists as blocked by its default
/// seccomp profile (the runtime's default, RuntimeDefault): berthd must
/// not need any of them.
const BLOCKED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "personality",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapon",
    "swapoff",
    "sysfs",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
];

fn image_archive() -> PathBuf {
    let archive = std::env::var_os("BERTH_TEST_IMAGE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/image/berthd.oci.tar"),
        PathBuf::from,
    );
    assert!(
        archive.exists(),
        "no image at {}: build it with `cargo xtask image` (`cargo xtask test` does)",
        archive.display()
    );
    assert!(
        Path::new(RUNC).exists(),
        "no runc at {RUNC}: run `cargo xtask setup`"
    );
    archive
}

/// The image's root filesystem, unpacked from the OCI archive after its
/// digests are checked, and the image's config.
fn unpack(archive: &Path, into: &Path) -> Value {
    let mut files = std::collections::HashMap::new();
    let mut tar = tar::Archive::new(std::fs::File::open(archive).expect("open the archive"));
    for entry in tar.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        files.insert(path, bytes);
    }
    let blob = |digest: &str| -> &Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let bytes = files
            .get(&format!("blobs/sha256/{hex}"))
            .unwrap_or_else(|| panic!("the archive lacks blob {digest}"));
        assert_eq!(
            format!("{:x}", Sha256::digest(bytes)),
            hex,
            "blob {digest} does not match its digest"
        );
        bytes
    };
    let index: Value = serde_json::from_slice(&files["index.json"]).expect("index.json");
    let manifest: Value = serde_json::from_slice(blob(
        index["manifests"][0]["digest"].as_str().expect("digest"),
    ))
    .expect("manifest");
    let config: Value =
        serde_json::from_slice(blob(manifest["config"]["digest"].as_str().expect("digest")))
            .expect("config");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = blob(layers[0]["digest"].as_str().expect("digest"));
    let mut rootfs = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    rootfs.set_preserve_permissions(true);
    rootfs.set_preserve_ownerships(true);
    rootfs.unpack(into).expect("unpack the layer");
    config
}

/// The chart rendered with `values`; the StatefulSet and berthd.toml.
fn render_chart(values: &[&str]) -> (Value, String) {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/berth");
    let mut helm = Command::new(berth_testkit::helm());
    helm.args(["template", "berth"]).arg(&chart);
    for value in values {
        helm.args(["--set", value]);
    }
    let out = helm.output().expect("helm template");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut statefulset = None;
    let mut config = None;
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let object: Value = serde::Deserialize::deserialize(document).expect("YAML");
        match object["kind"].as_str() {
            Some("StatefulSet") => statefulset = Some(object),
            Some("ConfigMap") => {
                config = object["data"]["berthd.toml"].as_str().map(str::to_owned);
            }
            _ => {}
        }
    }
    (
        statefulset.expect("a StatefulSet"),
        config.expect("a ConfigMap with berthd.toml"),
    )
}

/// A Kubernetes API over TLS in front of the simulator, and the service
/// account's folder (`token`, `ca.crt`, `namespace`) that trusts it.
struct ApiServer {
    _sim: Simulator,
    port: u16,
    secrets: PathBuf,
}

async fn api_server(dir: &Path) -> ApiServer {
    let sim = Simulator::start(SimOptions::default())
        .await
        .expect("simulator");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("certificate");
    let secrets = dir.join("serviceaccount");
    std::fs::create_dir_all(&secrets).expect("secrets");
    std::fs::write(secrets.join("ca.crt"), ca.pem()).expect("ca.crt");
    std::fs::write(secrets.join("token"), "berthd-service-account").expect("token");
    std::fs::write(secrets.join("namespace"), "berth").expect("namespace");
    for file in ["ca.crt", "token", "namespace"] {
        std::fs::set_permissions(secrets.join(file), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let upstream = sim.addr();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    ApiServer {
        _sim: sim,
        port,
        secrets,
    }
}

/// How one container runs.
struct Run<'a> {
    rootfs: &'a Path,
    image: &'a Value,
    statefulset: &'a Value,
    /// The pod's init container instead of berthd's.
    init: bool,
    /// Whether the storage honours fsGroup (the kubelet then adds it to
    /// the container's groups).
    fs_group: bool,
    config_dir: &'a Path,
    data_dir: &'a Path,
    env: Vec<String>,
    secrets: Option<&'a Path>,
}

/// runc's config.json for `run`, from the rendered StatefulSet.
fn runtime_spec(run: &Run<'_>) -> Value {
    let pod = &run.statefulset["spec"]["template"]["spec"];
    let container = if run.init {
        &pod["initContainers"][0]
    } else {
        &pod["containers"][0]
    };
    let security = &container["securityContext"];
    let uid = security["runAsUser"].as_u64().expect("runAsUser");
    let gid = security["runAsGroup"].as_u64().expect("runAsGroup");
    assert_eq!(security["runAsNonRoot"], !run.init, "{security}");
    assert_eq!(security["readOnlyRootFilesystem"], true, "{security}");
    assert_eq!(security["allowPrivilegeEscalation"], false, "{security}");
    assert_eq!(
        security["capabilities"]["drop"],
        json!(["ALL"]),
        "{security}"
    );
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    let capabilities: Vec<String> = security["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("CAP_{}", c.as_str().expect("a capability")))
        .collect();
    // The kubelet adds fsGroup to the container's groups.
    let groups: Vec<u64> = pod["securityContext"]["fsGroup"]
        .as_u64()
        .filter(|_| run.fs_group)
        .into_iter()
        .collect();
    // Kubernetes' args follow the image's entry point.
    let mut args: Vec<Value> = run.image["config"]["Entrypoint"]
        .as_array()
        .expect("an entry point")
        .clone();
    args.extend(container["args"].as_array().expect("args").iter().cloned());
    let mut env: Vec<Value> = run.image["config"]["Env"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for var in container["env"].as_array().into_iter().flatten() {
        env.push(json!(format!(
            "{}={}",
            var["name"].as_str().expect("name"),
            var["value"].as_str().expect("value")
        )));
    }
    env.extend(run.env.iter().map(|v| json!(v)));
    let bind = |destination: &str, source: &Path, readonly: bool| {
        let mut options = vec!["rbind", "nosuid", "nodev"];
        if readonly {
            options.push("ro");
        }
        json!({"destination": destination, "type": "bind",
               "source": source, "options": options})
    };
    let mount_path = |volume: &str| {
        container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["name"] == volume)
            .and_then(|m| m["mountPath"].as_str())
            .map(str::to_owned)
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        // The container's own cgroup, read-only, as the kubelet's runtime
        // shows it: where berthd (and sled) find the memory limit.
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    if let Some(tmp) = mount_path("tmp") {
        mounts.push(
            json!({"destination": tmp, "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "mode=1777"]}),
        );
    }
    if let Some(config) = mount_path("config") {
        mounts.push(bind(&config, run.config_dir, true));
    }
    let data = mount_path("data").expect("the chart mounts the data volume");
    mounts.push(bind(&data, run.data_dir, false));
    if let Some(secrets) = run.secrets {
        mounts.push(bind(
            "/var/run/secrets/kubernetes.io/serviceaccount",
            secrets,
            true,
        ));
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid, "additionalGids": groups},
            "args": args,
            "env": env,
            "cwd": "/",
            "capabilities": {"bounding": capabilities, "effective": capabilities,
                             "inheritable": [], "permitted": capabilities, "ambient": []},
            "noNewPrivileges": true,
        },
        "root": {"path": run.rootfs, "readonly": true},
        "hostname": "berth-0",
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                           {"type": "cgroup"}],
            "resources": {"memory": {"limit": MEMORY_LIMIT}},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": BLOCKED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
            },
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                            "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                              "/proc/sys", "/proc/sysrq-trigger"],
        },
    })
}

/// A dev image's container at its barest: `args` as root in `rootfs`,
/// with /proc and /dev, as any runtime gives them.
fn bare_spec(rootfs: &Path, args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/bin"], "cwd": "/"},
        "root": {"path": rootfs, "readonly": false},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        ],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                 {"type": "mount"}]},
    })
}

/// A running container; killed and deleted when dropped.
struct Container {
    id: String,
    state: PathBuf,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Container {
    fn start(run: &Run<'_>, bundle: &Path) -> Container {
        Container::start_spec(&runtime_spec(run), bundle)
    }

    /// Runs `spec` to its end; its exit status and output.
    fn run_to_end(spec: &Value, bundle: &Path) -> (std::process::ExitStatus, String) {
        let mut container = Container::start_spec(spec, bundle);
        let status = container.wait_exit();
        (status, container.output())
    }

    fn start_spec(spec: &Value, bundle: &Path) -> Container {
        std::fs::create_dir_all(bundle).expect("bundle");
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(spec).expect("spec"),
        )
        .expect("config.json");
        let id = format!("berth-image-{}-{}", std::process::id(), rand_suffix());
        let state = bundle.join("state");
        let mut child = Command::new(RUNC)
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runc run");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().expect("lock").push(line);
                }
            });
        }
        Container {
            id,
            state,
            child,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().expect("lock").join("\n")
    }

    /// Waits for a line `found` accepts; what it answers.
    fn wait_for<T>(&mut self, what: &str, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(hit) = self
                .output
                .lock()
                .expect("lock")
                .iter()
                .find_map(|l| found(l))
            {
                return hit;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the container ended ({status}) before {what}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {DEADLINE:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// berthd's URL, from the line that says where it listens.
    fn base(&mut self) -> String {
        let listen = self.wait_for("berthd listening", |line| {
            let event: Value = serde_json::from_str(line).ok()?;
            (event["message"] == "berthd listening")
                .then(|| event["listen"].as_str().map(str::to_owned))
                .flatten()
        });
        format!("http://{listen}")
    }

    /// Waits for the container to end by itself.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let status = berth_testkit::wait_with_deadline(&mut self.child, DEADLINE)
            .unwrap_or_else(|e| panic!("{e}:\n{}", self.output()));
        // The readers drain what is left.
        std::thread::sleep(Duration::from_millis(200));
        status
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new(RUNC)
            .arg("--root")
            .arg(&self.state)
            .args(["kill", &self.id, signal])
            .status();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
        let _ = Command::new(RUNC)
            .arg("--root")
            .arg(&self.state)
            .args(["delete", "--force", &self.id])
            .status();
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A data volume as the kubelet leaves it with fsGroup: the group is
/// fsGroup and set-group-ID, group-writable, the folder owned by root.
fn fs_group_volume(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    chown(&data, Some(0), Some(NONROOT)).expect("chown");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o2775)).expect("chmod");
    data
}

fn config_dir(dir: &Path, toml: &str) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).expect("config");
    std::fs::write(config.join("berthd.toml"), toml).expect("berthd.toml");
    std::fs::set_permissions(
        config.join("berthd.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    config
}

/// The image unpacked and the chart rendered (with `values`) for one test.
struct Setup {
    work: tempfile::TempDir,
    rootfs: PathBuf,
    image: Value,
    statefulset: Value,
    config: PathBuf,
}

impl Setup {
    fn new(values: &[&str]) -> Setup {
        let archive = image_archive();
        let work = tempfile::tempdir().expect("work");
        let rootfs = work.path().join("rootfs");
        let image = unpack(&archive, &rootfs);
        // The container shares the host's network: berthd takes a port the
        // system picks (the chart's `extraEnv`), and says which.
        let mut values = values.to_vec();
        values.extend([
            "extraEnv[0].name=BERTH_LISTEN",
            "extraEnv[0].value=127.0.0.1:0",
        ]);
        let (statefulset, toml) = render_chart(&values);
        let config = config_dir(work.path(), &toml);
        Setup {
            work,
            rootfs,
            image,
            statefulset,
            config,
        }
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    /// berthd's container on `data`, in a pod whose API server is `api`.
    fn run<'a>(&'a self, data: &'a Path, api: Option<(&'a ApiServer, u16)>) -> Run<'a> {
        Run {
            rootfs: &self.rootfs,
            image: &self.image,
            statefulset: &self.statefulset,
            init: false,
            fs_group: true,
            config_dir: &self.config,
            data_dir: data,
            env: api
                .iter()
                .flat_map(|(_, port)| {
                    [
                        "KUBERNETES_SERVICE_HOST=127.0.0.1".to_owned(),
                        format!("KUBERNETES_SERVICE_PORT={port}"),
                    ]
                })
                .collect(),
            secrets: api.map(|(api, _)| api.secrets.as_path()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_the_chart_runs_it_and_signs_a_user_in() {
    let setup = Setup::new(&[]);
    let api = api_server(setup.dir()).await;
    let data = fs_group_volume(setup.dir());
    let run = setup.run(&data, Some((&api, api.port)));
    let mut container = Container::start(&run, &setup.dir().join("bundle"));
    let setup_link = container.wait_for("the first-admin setup link", |line| {
        line.strip_prefix("berthd: no user exists yet")
            .and_then(|l| l.split(" at: ").nth(1))
            .map(|url| url.trim().to_owned())
    });
    let base = container.base();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ready: {:?}\n{}",
            match ready {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            },
            container.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let console = http.get(format!("{base}/")).send().await.expect("console");
    assert_eq!(console.status(), 200);
    assert!(
        console
            .text()
            .await
            .expect("page")
            .contains("<div id=\"root\"></div>"),
        "the console's page"
    );
    let secret = setup_link.rsplit("token=").next().expect("secret");
    let answer = http
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"setup_token": secret, "username": "admin",
                      "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("setup");
    assert_eq!(answer.status(), 201, "{}", container.output());
    let signed_in: Value = http
        .post(format!("{base}/api/v1/auth/cli/password"))
        .json(&json!({"username": "admin", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    let token = signed_in["secret"].as_str().expect("a token");
    // The personal space became a namespace through the API over TLS.
    let spaces = http
        .get(format!("{base}/api/v1/spaces"))
        .bearer_auth(token)
        .send()
        .await
        .expect("spaces");
    assert_eq!(spaces.status(), 200);

    // What berthd wrote is the image user's, in the fsGroup's group.
    let lock = std::fs::metadata(data.join("berthd.lock")).expect("the store's lock file");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&lock), NONROOT);

    // SIGTERM, as the kubelet sends it: berthd drains and exits 0.
    container.signal("TERM");
    let status = container.wait_exit();
    assert!(status.success(), "{status}:\n{}", container.output());
    let log = container.output();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|event| event["level"] == "ERROR"))
        .collect();
    assert!(
        errors.is_empty(),
        "a start under a {MEMORY_LIMIT}-byte memory limit logged errors:\n{}",
        errors.join("\n")
    );
}

/// The agent binary runs in dev images with no glibc: one with busybox
/// alone, one with musl's loader alone. A dynamically linked `berth` fails
/// both ("no such file or directory": its loader is missing).
#[test]
fn the_agent_in_the_image_runs_in_a_busybox_and_a_musl_root_filesystem() {
    let archive = image_archive();
    let work = tempfile::tempdir().expect("work");
    let rootfs = work.path().join("rootfs");
    unpack(&archive, &rootfs);
    let agent = rootfs.join("usr/local/bin/berth");
    let busybox = work.path().join("busybox");
    let musl = work.path().join("musl");
    for (root, files) in [
        (
            &busybox,
            vec![("bin/busybox", PathBuf::from("/bin/busybox"))],
        ),
        (
            &musl,
            vec![(
                "lib/ld-musl-x86_64.so.1",
                std::fs::canonicalize("/lib/ld-musl-x86_64.so.1")
                    .expect("musl's loader (Debian's musl, which `cargo xtask setup` installs)"),
            )],
        ),
    ] {
        for (path, source) in files
            .into_iter()
            .chain([("berth/bin/berth", agent.clone())])
        {
            let target = root.join(path);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("dirs");
            std::fs::copy(&source, &target).expect("copy");
        }
        // Nothing else: no /lib64, no libc.so.6.
        assert!(!root.join("lib64").exists());
        // The agent's own installer, as the dev pod's init container runs
        // it, then the installed agent, as the dev container does.
        for (n, args) in [
            &["/berth/bin/berth", "agent-install", "/berth/installed"][..],
            &["/berth/installed/berth", "--version"],
        ]
        .iter()
        .enumerate()
        {
            let (status, output) = Container::run_to_end(
                &bare_spec(root, args),
                &root.with_extension(format!("bundle{n}")),
            );
            assert!(
                status.success(),
                "{args:?} did not run in {}: {output}",
                root.display()
            );
            if args[1] == "--version" {
                assert!(output.contains(env!("CARGO_PKG_VERSION")), "{output}");
            }
        }
    }
    // And through busybox's shell, as a dev command would start it.
    let (status, output) = Container::run_to_end(
        &bare_spec(
            &busybox,
            &["/bin/busybox", "sh", "-c", "/berth/bin/berth --version"],
        ),
        &work.path().join("bundle-sh"),
    );
    assert!(status.success(), "{output}");
}

/// Polls `/readyz` until `done` accepts its status and body.
async fn readyz_until(
    container: &Container,
    base: &str,
    what: &str,
    done: impl Fn(u16, &str) -> bool,
) -> String {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(answer) = http.get(format!("{base}/readyz")).send().await {
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            if done(status, &body) {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never said {what}:\n{}",
            container.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// berthd's in-cluster failures, named as the image runs: no pod
/// environment, and an API server that does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_failures_name_their_cause() {
    let setup = Setup::new(&[]);
    let data = fs_group_volume(setup.dir());
    let run = setup.run(&data, None);
    // Not in a pod: no KUBERNETES_SERVICE_HOST.
    let (status, output) = Container::run_to_end(&runtime_spec(&run), &setup.dir().join("b1"));
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("KUBERNETES_SERVICE_HOST is not set"),
        "{output}"
    );

    // A pod whose API server does not answer: /readyz says where and why,
    // and nothing says ready.
    let api = api_server(setup.dir()).await;
    let closed = free_port();
    let run = setup.run(&data, Some((&api, closed)));
    let mut container = Container::start(&run, &setup.dir().join("b2"));
    let url = format!("https://127.0.0.1:{closed}");
    let base = container.base();
    let body = readyz_until(&container, &base, "why it is not ready", |status, body| {
        status == 503 && body.contains(&url)
    })
    .await;
    assert!(body.contains("cannot reach the Kubernetes API"), "{body}");
    assert!(body.contains("connection refused"), "{body}");
    assert!(
        !container.output().contains("\"berthd ready\""),
        "{}",
        container.output()
    );
}

/// Storage that ignores fsGroup hands the volume over owned by root:
/// berthd says what to do, and the chart's opt-in init container (run as
/// the rendered StatefulSet says: root with CHOWN and FOWNER alone) makes
/// the volume berthd's, data already in it included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_owned_volume_is_named_and_the_chown_init_container_fixes_it() {
    let setup = Setup::new(&["persistence.chownInitContainer.enabled=true"]);
    let api = api_server(setup.dir()).await;
    let data = setup.dir().join("data");
    // Root's, and not readable by others at all below: what a restore
    // onto an NFS export can leave.
    std::fs::create_dir_all(data.join("restored/deep")).expect("data");
    std::fs::write(data.join("restored/old"), "kept").expect("file");
    std::fs::set_permissions(
        data.join("restored"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    let mut run = setup.run(&data, Some((&api, api.port)));
    run.fs_group = false;
    let (status, output) = Container::run_to_end(&runtime_spec(&run), &setup.dir().join("b1"));
    assert!(!status.success(), "{output}");
    assert!(output.contains("Permission denied"), "{output}");
    assert!(
        output.contains("persistence.chownInitContainer.enabled=true"),
        "{output}"
    );

    run.init = true;
    let (status, output) = Container::run_to_end(&runtime_spec(&run), &setup.dir().join("b2"));
    assert!(status.success(), "the init container: {output}");
    let owner = |path: &Path| {
        std::os::unix::fs::MetadataExt::uid(&std::fs::symlink_metadata(path).expect("stat"))
    };
    assert_eq!(owner(&data), NONROOT);
    assert_eq!(owner(&data.join("restored/old")), NONROOT);

    run.init = false;
    let mut container = Container::start(&run, &setup.dir().join("b3"));
    let base = container.base();
    readyz_until(&container, &base, "ready", |status, _| status == 200).await;
    assert_eq!(
        std::fs::read_to_string(data.join("restored/old")).expect("kept"),
        "kept"
    );
}

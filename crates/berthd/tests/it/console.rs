//! The admin console in a real browser: the Node test in `web/e2e` drives
//! headless Chromium against a live daemon.

use std::path::Path;
use std::process::Command;

use crate::daemon::start;

#[test]
fn the_console_shows_version_and_readiness_in_a_browser() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules/playwright-core").exists(),
        "the console is not built or its packages are missing: run `cargo xtask setup` and `cargo xtask web`"
    );
    let daemon = start();
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    let out = Command::new("node")
        .args(["--test", "e2e/"])
        .current_dir(&web)
        .env("BERTH_URL", &daemon.url)
        .env("BERTH_E2E_ARTIFACTS", &artifacts)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "browser test failed (screenshot in {}):\n{}\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

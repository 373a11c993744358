//! The admin console in a real browser: the Node tests in `web/e2e` drive
//! headless Chromium against a live daemon.

use std::path::Path;
use std::process::Command;

use crate::daemon::{BERTHD, start};

fn web() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn run_browser_test(file: &str, env: &[(&str, &str)]) {
    let web = web();
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules/playwright-core").exists(),
        "the console is not built or its packages are missing: run `cargo xtask setup` and `cargo xtask web`"
    );
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    let out = Command::new("node")
        .args(["--test", file])
        .current_dir(&web)
        .envs(env.iter().copied())
        .env("BERTH_E2E_ARTIFACTS", &artifacts)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "browser test {file} failed (screenshots in {}):\n{}\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn first_admin_setup_then_the_console_in_a_browser() {
    let daemon = start();
    let setup = daemon
        .setup_url()
        .expect("a fresh daemon prints a setup link");
    run_browser_test(
        "e2e/console.test.mjs",
        &[("BERTH_URL", &daemon.url), ("BERTH_SETUP_URL", &setup)],
    );
}

#[derive(serde::Serialize)]
struct AuthOnly {
    auth: berth_auth::config::AuthConfig,
}

#[test]
fn single_sign_on_in_a_browser() {
    let provider = berth_testkit::OidcProvider::start_standard().expect("identity provider");
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = provider.auth_config(dir.path()).expect("config");
    let config = dir.path().join("berthd.toml");
    std::fs::write(&config, toml::to_string(&AuthOnly { auth }).expect("toml"))
        .expect("write config");
    let daemon = berth_testkit::DaemonProcess::start_in(
        Path::new(BERTHD),
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf-8 path")],
    )
    .expect("berthd starts with single sign-on");
    run_browser_test(
        "e2e/sso.test.mjs",
        &[
            ("BERTH_URL", &daemon.url),
            ("OIDC_LOGIN", "alice"),
            ("OIDC_EXPECT_ROLE", "admin"),
        ],
    );
}

//! The admin console in a real browser: the Node tests in `web/e2e` drive
//! headless Chromium against a live daemon.

use std::path::Path;
use std::process::Command;

use crate::daemon::BERTHD;

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
    // A chart repository for the catalog steps, served from a runtime of
    // its own while the browser test runs; berthd installs with the tests'
    // Helm.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let work = tempfile::tempdir().expect("work");
    let charts = work.path().join("charts");
    std::fs::create_dir_all(&charts).expect("charts");
    let charts_url = runtime.block_on(berth_testkit::charts::serve_dir(charts.clone()));
    berth_testkit::charts::publish_demo(work.path(), &charts, &charts_url, "0.1.0");
    let config = work.path().join("berthd.toml");
    std::fs::write(
        &config,
        format!(
            "[apps]\nhelm = {:?}\n",
            berth_testkit::helm().to_str().expect("utf-8 path")
        ),
    )
    .expect("config");
    let daemon = berth_testkit::DaemonProcess::start_in(
        Path::new(BERTHD),
        &work.path().join("data"),
        &["--config", config.to_str().expect("utf-8 path")],
    )
    .expect("berthd starts");
    let setup = daemon
        .setup_url()
        .expect("a fresh daemon prints a setup link");
    run_browser_test(
        "e2e/console.test.mjs",
        &[
            ("BERTH_URL", &daemon.url),
            ("BERTH_SETUP_URL", &setup),
            ("BERTH_CHARTS_URL", &charts_url),
        ],
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

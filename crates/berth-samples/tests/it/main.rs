//! The packaged samples as Helm reads them: each archive passes `helm lint
//! --strict` and renders with its default values, and the web app's
//! container runs the dev command `berth quickstart` writes.

use std::path::PathBuf;
use std::process::Command;

/// The tests' Helm: `BERTH_TEST_HELM`, or the one `cargo xtask setup`
/// installs.
fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_TEST_HELM") {
        return PathBuf::from(path);
    }
    let installed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/helm");
    assert!(
        installed.exists(),
        "no helm at {}: run `cargo xtask setup`, or set BERTH_TEST_HELM",
        installed.display()
    );
    installed
}

fn helm_ok(args: &[&str], home: &std::path::Path) -> String {
    let out = Command::new(helm())
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn every_sample_lints_and_renders() {
    let work = tempfile::tempdir().expect("temp");
    let repository = berth_samples::repository();
    for name in repository.names() {
        let path = work.path().join(name);
        std::fs::write(&path, repository.file(name).expect("file")).expect("write");
    }
    for chart in berth_samples::CHARTS {
        let archive = work.path().join(format!("{}-0.1.0.tgz", chart.name));
        let archive = archive.to_str().expect("utf-8");
        helm_ok(&["lint", "--strict", archive], work.path());
        let rendered = helm_ok(&["template", chart.name, archive], work.path());
        for kind in ["kind: Deployment", "kind: Service", "kind: ConfigMap"] {
            assert!(rendered.contains(kind), "{} renders no {kind}", chart.name);
        }
    }
    let web = work.path().join("hello-web-0.1.0.tgz");
    let rendered = helm_ok(
        &[
            "template",
            "hello-web",
            web.to_str().expect("utf-8"),
            "--set",
            "port=8123",
        ],
        work.path(),
    );
    // The container runs what `berth up` runs, in the folder the source is
    // copied to, and its source is the files quickstart writes.
    let command = berth_samples::web_command(8123)
        .iter()
        .map(|w| format!("{w:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        rendered.contains(&format!("command: [{command}]")),
        "{rendered}"
    );
    assert!(rendered.contains("workingDir: /app"), "{rendered}");
    for (name, _) in berth_samples::web_source() {
        assert!(
            rendered.contains(&format!("  {name}: ")),
            "no {name} in\n{rendered}"
        );
    }
    // The schema refuses what the chart cannot run.
    let out = Command::new(helm())
        .args(["template", "hello-web", web.to_str().expect("utf-8")])
        .args(["--set", "port=80"])
        .env("HELM_CACHE_HOME", work.path().join("cache"))
        .env("HELM_CONFIG_HOME", work.path().join("config"))
        .env("HELM_DATA_HOME", work.path().join("data"))
        .output()
        .expect("helm runs");
    assert!(!out.status.success(), "port 80 is refused");
}

//! The built-in samples: a fresh daemon serves them and has them in its
//! catalog before it says it is ready; `[catalog] samples = false` does
//! neither.

use std::path::Path;

use crate::daemon::{BERTHD, Daemon, start};

#[tokio::test]
async fn a_fresh_daemon_serves_and_adds_the_samples_unless_turned_off() {
    let daemon = start();
    let index = reqwest::get(format!("{}/samples/charts/index.yaml", daemon.url))
        .await
        .expect("index");
    assert_eq!(index.status(), 200);
    let index = index.text().await.expect("body");
    assert!(index.contains("hello-web-0.1.0.tgz"), "{index}");
    let added = |daemon: &Daemon| {
        daemon
            .log_text()
            .contains("the built-in samples are in the catalog")
    };
    assert!(added(&daemon), "{}", daemon.log_text());

    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("berthd.toml");
    std::fs::write(&config, "[catalog]\nsamples = false\n").expect("config");
    let off = Daemon::start_in(
        Path::new(BERTHD),
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf-8 path")],
    )
    .expect("berthd starts");
    let index = reqwest::get(format!("{}/samples/charts/index.yaml", off.url))
        .await
        .expect("index");
    assert_eq!(index.status(), 404);
    assert!(!added(&off), "{}", off.log_text());
}

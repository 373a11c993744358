//! Keeps the architecture honest: Berth crates depend only on the crates below
//! them, and the libraries that define a layer are used only in that layer.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Each Berth crate and the Berth crates it may depend on. A new crate must
/// be added here (and to docs/ARCHITECTURE.md) before it builds in CI.
const LAYERS: &[(&str, &[&str])] = &[
    ("berth-core", &[]),
    ("berth-store", &["berth-core"]),
    ("berth-audit", &["berth-core", "berth-store"]),
    ("berth-auth", &["berth-core", "berth-store", "berth-audit"]),
    (
        "berth-server",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-spaces",
            "berth-relay",
            "berth-dev",
            "berth-catalog",
            "berth-apps",
            "berth-proto",
            "berth-samples",
        ],
    ),
    (
        "berthd",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-server",
            "berth-spaces",
            "berth-relay",
            "berth-dev",
            "berth-catalog",
            "berth-apps",
            "berth-kube",
            "berth-kube-sim",
        ],
    ),
    ("berth-kube", &["berth-core"]),
    (
        "berth-spaces",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-kube",
        ],
    ),
    (
        "berth-cli",
        &[
            "berth-core",
            "berth-proto",
            "berth-dial",
            "berth-agent",
            "berth-sync",
            "berth-samples",
        ],
    ),
    ("berth-agent", &["berth-proto", "berth-dial", "berth-sync"]),
    ("berth-dial", &["berth-proto"]),
    (
        "berth-catalog",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-samples",
        ],
    ),
    (
        "berth-apps",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-spaces",
            "berth-kube",
            "berth-catalog",
        ],
    ),
    (
        "berth-dev",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-spaces",
            "berth-relay",
            "berth-kube",
            "berth-agent",
        ],
    ),
    ("berth-proto", &[]),
    ("berth-samples", &[]),
    ("berth-sync", &["berth-proto"]),
    (
        "berth-relay",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-spaces",
            "berth-proto",
        ],
    ),
    ("berth-kube-sim", &[]),
    (
        "berth-testkit",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-auth",
            "berth-server",
            "berth-spaces",
            "berth-relay",
            "berth-dev",
            "berth-catalog",
            "berth-apps",
            "berth-proto",
            "berth-kube",
            "berth-kube-sim",
        ],
    ),
    (
        "berth-bench",
        &[
            "berth-core",
            "berth-store",
            "berth-audit",
            "berth-testkit",
            "berth-kube-sim",
            "berth-proto",
            "berth-dial",
            "berth-agent",
            "berth-sync",
        ],
    ),
    ("xtask", &[]),
];

/// External libraries that only one layer may touch.
const OWNED: &[(&str, &[&str])] = &[
    ("sled", &["berth-store"]),
    // The simulator serves the Kubernetes API, not Berth's, so it has its own
    // HTTP server.
    // berth-testkit serves chart repositories to tests over loopback;
    // berth-bench serves the page its endpoint benchmark sends requests to.
    (
        "axum",
        &[
            "berth-server",
            "berth-kube-sim",
            "berth-testkit",
            "berth-bench",
        ],
    ),
    ("utoipa-axum", &["berth-server"]),
    ("rust-embed", &["berth-server"]),
    // berth-bench drives the simulator with the same client reconcilers use.
    ("kube", &["berth-kube", "berth-kube-sim", "berth-bench"]),
    ("kube-runtime", &["berth-kube", "berth-kube-sim"]),
    ("openidconnect", &["berth-auth"]),
];

pub fn check(root: &Path) -> anyhow::Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let packages = metadata["packages"]
        .as_array()
        .context("no packages in cargo metadata")?;
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(allowed) = layers.get(name) else {
            problems.push(format!(
                "{name} is not in the layer table of xtask/src/layering.rs"
            ));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let dev = dep["kind"].as_str() == Some("dev");
            if layers.contains_key(dep_name) && !dev && !allowed.contains(&dep_name) {
                problems.push(format!(
                    "{name} depends on {dep_name}, which is not below it"
                ));
            }
            // Tests may use any library; what ships may not.
            if let Some((_, owners)) = OWNED.iter().find(|(lib, _)| *lib == dep_name)
                && !dev
                && !owners.contains(&name)
            {
                problems.push(format!(
                    "{name} depends on {dep_name}; only {} may",
                    owners.join(", ")
                ));
            }
        }
    }
    if problems.is_empty() {
        eprintln!(
            "layering: {} crates checked, dependencies point the right way",
            packages.len()
        );
        Ok(())
    } else {
        bail!("layering check failed:\n  {}", problems.join("\n  "))
    }
}

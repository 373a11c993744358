//! `berth init`: writes a first `berth.yaml` for one of the space's
//! workloads, with the settings to fill in as comments.

use std::path::PathBuf;

use berth_core::dev::WorkloadView;

use crate::client::Client;
use crate::manifest;
use crate::output::Failure;

pub async fn init(
    client: &Client,
    space: Option<String>,
    workload: Option<String>,
    force: bool,
    context: Option<&str>,
) -> Result<(), Failure> {
    let file = PathBuf::from(manifest::FILE);
    if file.exists() && !force {
        return Err(Failure::new(
            format!("{} already exists", manifest::FILE),
            "edit it, or pass --force to write a new one",
        ));
    }
    let space = crate::commands::spaces::space_or_current(space, context)?;
    let workloads: Vec<WorkloadView> = client
        .get(&format!("/api/v1/spaces/{space}/workloads"))
        .await?;
    let chosen = match &workload {
        Some(name) => workloads
            .iter()
            .find(|w| &w.workload == name || w.workload.ends_with(&format!("/{name}"))),
        None => workloads.first(),
    }
    .ok_or_else(|| {
        Failure::new(
            match &workload {
                Some(name) => format!("space {space} has no workload {name}"),
                None => format!("space {space} has no Deployments or StatefulSets yet"),
            },
            "deploy your application into the space first (`berth quickstart` installs a sample), or name a workload with --workload",
        )
    })?;
    let text = starting_manifest(chosen);
    manifest::parse(&text, manifest::FILE)?;
    std::fs::write(&file, &text).map_err(|e| {
        Failure::new(
            format!("cannot write {}: {e}", manifest::FILE),
            "check the folder's permissions",
        )
    })?;
    eprintln!(
        "Wrote {} for {} (one of {} workloads in {space}). Set the image and command, then run `berth up`.",
        manifest::FILE,
        chosen.workload,
        workloads.len()
    );
    Ok(())
}

/// A first manifest for a workload, with the settings to fill in as
/// comments.
fn starting_manifest(workload: &WorkloadView) -> String {
    let name = workload.workload.split('/').nth(1).unwrap_or("app");
    let target: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(40)
        .collect();
    let container = workload.containers.first();
    let workdir = container
        .and_then(|c| c.workdir.clone())
        .unwrap_or_else(|| "/app".to_owned());
    let mut text = format!(
        "# Dev targets for `berth up`; the schema is `berth manifest schema`.\n\
         dev:\n  {target}:\n    workload: {}\n",
        workload.workload
    );
    if let Some(container) = container {
        text.push_str(&format!(
            "    # The container's image is {}; a dev image brings your toolchain.\n    # image: {}\n",
            container.image, container.image
        ));
    }
    text.push_str("    # Started once the first sync is done:\n    # command: npm run dev\n");
    text.push_str(&format!("    sync:\n      - ./:{workdir}\n"));
    let ports: Vec<u16> = container.map(|c| c.ports.clone()).unwrap_or_default();
    if !ports.is_empty() {
        text.push_str("    forward:\n");
        for port in ports {
            text.push_str(&format!("      - {port}:{port}\n"));
        }
    }
    text.push_str("    ignore:\n      - node_modules/\n      - target/\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::dev::ContainerView;

    #[test]
    fn the_starting_manifest_is_valid() {
        let workload = WorkloadView {
            workload: "deployment/web.api".into(),
            containers: vec![ContainerView {
                name: "api".into(),
                image: "api:1".into(),
                ports: vec![8080, 9229],
                workdir: Some("/srv".into()),
            }],
            dev_target: None,
        };
        let text = starting_manifest(&workload);
        let manifest = manifest::parse(&text, "berth.yaml").expect("valid");
        let (name, target) = manifest.target(None).expect("one target");
        assert_eq!(name, "web-api");
        assert_eq!(target.sync[0].parts(), ("./", "/srv"));
        assert_eq!(target.forward.len(), 2);
    }
}

//! Dev mode for a workload, as a pure change of its spec: the original is
//! kept whole in an annotation, and the dev spec runs the agent (copied in
//! from Berth's image by an init container) as the container's entry
//! point. No IO.
//!
//! What dev mode promises about annotations: it writes its own two
//! ([`ORIGINAL_ANNOTATION`], [`TARGET_ANNOTATION`]) and no other. The rest
//! are the workload's and its controllers' (those under `kubernetes.io` and
//! `k8s.io`, [`controller_owned`], such as `deployment.kubernetes.io/revision`,
//! which moves on with every rollout dev mode causes): dev mode neither
//! saves nor restores them, and carries each through as the cluster holds it
//! at the moment of each write. The patches here rewrite the annotations
//! whole, so they must be sent guarded by the resourceVersion they were
//! planned from (`Cluster::change_workload` does), which makes any
//! concurrent change a conflict to plan again rather than one to overwrite.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The workload's spec before dev mode, as JSON; `berth down` puts it
/// back exactly.
pub const ORIGINAL_ANNOTATION: &str = "berth.dev/dev-original";
/// The dev target a workload is in dev mode for.
pub const TARGET_ANNOTATION: &str = "berth.dev/dev-target";
/// The shared volume the agent binary is copied into.
pub const AGENT_VOLUME: &str = "berth-agent";
pub const AGENT_DIR: &str = "/berth/bin";
/// The key of the agent's token in the dev Secret.
pub const TOKEN_KEY: &str = "token";
/// The init container that copies the agent in.
pub const INSTALL_CONTAINER: &str = "berth-agent-install";
/// The nonroot user and group of Berth's image.
pub const IMAGE_USER: i64 = 65532;

/// The install container's security context: what Pod Security's
/// `restricted` level asks of every container, whatever the workload's
/// pod sets, so dev mode never makes a pod inadmissible. It writes only
/// to the `emptyDir` (made world-writable by the kubelet, or group-owned
/// with fsGroup), and the copy it makes is mode 0755, so the dev container
/// runs it as whichever user its image or pod names.
pub fn install_security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": IMAGE_USER,
        "runAsGroup": IMAGE_USER,
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "readOnlyRootFilesystem": true,
    })
}

/// What dev mode needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevPlan {
    /// The dev target, from the manifest.
    pub target: String,
    /// The container to turn into the dev container; the first when none.
    pub container: Option<String>,
    /// The dev image; the container's own when none.
    pub image: Option<String>,
    /// The dev command, started by the agent after the first sync.
    pub command: Vec<String>,
    pub workdir: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Berth's image, holding the `berth` binary.
    pub agent_image: String,
    /// How the agent reaches `berthd`.
    pub agent_url: String,
    /// The Secret holding the agent's token.
    pub token_secret: String,
    /// Absolute paths in the dev container mounted from the target's
    /// PersistentVolumeClaim ([`volume_claim`]), each at its own sub-path.
    #[serde(default)]
    pub volumes: Vec<String>,
}

/// Kinds that dev mode can take over, as `kind/name` writes them.
pub const DEV_KINDS: [(&str, &str, &str); 2] = [
    ("deployment", "Deployment", "deployments"),
    ("statefulset", "StatefulSet", "statefulsets"),
];

/// The Secret name for a target's agent token.
pub fn token_secret(target: &str) -> String {
    format!("berth-dev-{target}")
}

/// The pod volume dev folders are mounted from.
pub const DATA_VOLUME: &str = "berth-dev-data";

/// The PersistentVolumeClaim of a target's dev folders; it outlives the
/// pod and `berth down` (`berth down --volumes` deletes it).
pub fn volume_claim(target: &str) -> String {
    format!("berth-dev-{target}-data")
}

/// A dev folder as a path in the container: absolute ones as they are,
/// relative ones under the working folder. `..` and empty paths are
/// refused, by name.
pub fn volume_path(path: &str, workdir: Option<&str>) -> Result<String, String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|p| p == "..") {
        return Err(format!(
            "{path:?} is not a dev volume folder: write an absolute path or one under the working folder, without `..`"
        ));
    }
    if trimmed.starts_with('/') {
        return Ok(trimmed.to_owned());
    }
    match workdir {
        Some(workdir) if workdir.starts_with('/') => Ok(format!(
            "{}/{}",
            workdir.trim_end_matches('/'),
            trimmed.trim_start_matches("./")
        )),
        _ => Err(format!(
            "the dev volume folder {path:?} is relative, and the target has no absolute working folder: write it as an absolute path"
        )),
    }
}

/// The dev spec for `original` (a Deployment's or StatefulSet's spec).
pub fn dev_spec(original: &Value, plan: &DevPlan) -> Result<Value, String> {
    let mut spec = original.clone();
    spec["replicas"] = json!(1);
    // One dev pod at a time: the old one goes before the new one starts.
    if spec.get("strategy").is_some() || spec.get("updateStrategy").is_none() {
        spec["strategy"] = json!({"type": "Recreate"});
    }
    let pod = spec
        .pointer_mut("/template/spec")
        .ok_or("the workload has no pod template")?;
    let containers = pod["containers"]
        .as_array_mut()
        .ok_or("the workload's pod has no containers")?;
    let index = match &plan.container {
        Some(name) => containers
            .iter()
            .position(|c| c["name"] == json!(name))
            .ok_or_else(|| format!("the workload has no container named {name}"))?,
        None => 0,
    };
    let container = containers
        .get_mut(index)
        .ok_or("the workload's pod has no containers")?;
    if let Some(image) = &plan.image {
        container["image"] = json!(image);
    }
    let mut command = vec![
        format!("{AGENT_DIR}/berth"),
        "agent".to_owned(),
        "--root".to_owned(),
        "/".to_owned(),
    ];
    if let Some(workdir) = &plan.workdir {
        command.push("--workdir".to_owned());
        command.push(workdir.clone());
    }
    if !plan.command.is_empty() {
        command.push("--".to_owned());
        command.extend(plan.command.iter().cloned());
    }
    container["command"] = json!(command);
    if let Some(map) = container.as_object_mut() {
        map.remove("args");
        // A dev container is not ready until the developer says so.
        map.remove("livenessProbe");
        map.remove("readinessProbe");
        map.remove("startupProbe");
    }
    if let Some(workdir) = &plan.workdir {
        container["workingDir"] = json!(workdir);
    }
    let mut env: Vec<Value> = container["env"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            let name = e["name"].as_str().unwrap_or_default();
            !plan.env.contains_key(name) && !name.starts_with("BERTH_AGENT_")
        })
        .collect();
    env.extend(
        plan.env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value})),
    );
    env.push(json!({"name": "BERTH_AGENT_URL", "value": plan.agent_url}));
    env.push(
        json!({"name": "BERTH_AGENT_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": plan.token_secret, "key": TOKEN_KEY}}}),
    );
    container["env"] = json!(env);
    let mut mounts = container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    mounts.push(json!({"name": AGENT_VOLUME, "mountPath": AGENT_DIR}));
    // Each dev folder on the target's claim, at a sub-path named by it.
    mounts.extend(plan.volumes.iter().map(|path| {
        json!({
            "name": DATA_VOLUME,
            "mountPath": path,
            "subPath": path.trim_start_matches('/'),
        })
    }));
    container["volumeMounts"] = json!(mounts);

    let mut init = pod["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    init.push(json!({
        "name": INSTALL_CONTAINER,
        "image": plan.agent_image,
        // The image has no shell or coreutils: `berth` copies itself.
        "command": ["/usr/local/bin/berth", "agent-install", AGENT_DIR],
        "volumeMounts": [{"name": AGENT_VOLUME, "mountPath": AGENT_DIR}],
        "securityContext": install_security_context(),
    }));
    pod["initContainers"] = json!(init);
    let mut volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    volumes.push(json!({"name": AGENT_VOLUME, "emptyDir": {}}));
    if !plan.volumes.is_empty() {
        volumes.push(json!({
            "name": DATA_VOLUME,
            "persistentVolumeClaim": {"claimName": volume_claim(&plan.target)},
        }));
    }
    pod["volumes"] = json!(volumes);
    let template_annotations = spec
        .pointer_mut("/template/metadata")
        .and_then(|m| m.as_object_mut())
        .map(|m| m.entry("annotations").or_insert_with(|| json!({})));
    match template_annotations {
        Some(annotations) => annotations[TARGET_ANNOTATION] = json!(plan.target),
        None => {
            spec["template"]["metadata"] = json!({"annotations": {TARGET_ANNOTATION: plan.target}})
        }
    }
    Ok(spec)
}

/// Whether an annotation key is in the domains Kubernetes reserves for
/// itself (`kubernetes.io`, `k8s.io` and their subdomains): written by
/// controllers and tools, such as `deployment.kubernetes.io/revision`. Dev
/// mode never saves or restores them.
pub fn controller_owned(key: &str) -> bool {
    let Some((prefix, _)) = key.split_once('/') else {
        return false;
    };
    ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|domain| prefix == *domain || prefix.ends_with(&format!(".{domain}")))
}

fn annotations(object: &Value) -> serde_json::Map<String, Value> {
    object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A JSON Patch (RFC 6902) that sets `spec` and the dev annotations, every
/// other annotation as `object` has it: `original` is saved only when
/// given (a workload already in dev mode keeps the spec it had before the
/// first `berth up`). Send it guarded by `object`'s resourceVersion.
pub fn enter_patch(object: &Value, spec: Value, target: &str, original: Option<&Value>) -> Value {
    let mut kept = annotations(object);
    if let Some(original) = original {
        kept.insert(ORIGINAL_ANNOTATION.to_owned(), json!(original.to_string()));
    }
    kept.insert(TARGET_ANNOTATION.to_owned(), json!(target));
    json!([
        {"op": "add", "path": "/metadata/annotations", "value": kept},
        {"op": "replace", "path": "/spec", "value": spec},
    ])
}

/// A JSON Patch that puts the original spec back and removes the dev
/// annotations, every other annotation as `object` has it; none when the
/// workload is not in dev mode. Send it guarded by `object`'s
/// resourceVersion.
pub fn leave_patch(object: &Value) -> Result<Option<Value>, String> {
    let mut kept = annotations(object);
    let Some(saved) = kept.remove(ORIGINAL_ANNOTATION) else {
        return Ok(None);
    };
    let original: Value = serde_json::from_str(saved.as_str().unwrap_or_default())
        .map_err(|e| format!("the saved spec in {ORIGINAL_ANNOTATION} is damaged: {e}"))?;
    kept.remove(TARGET_ANNOTATION);
    Ok(Some(json!([
        {"op": "add", "path": "/metadata/annotations", "value": kept},
        {"op": "replace", "path": "/spec", "value": original},
    ])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> DevPlan {
        DevPlan {
            target: "api".into(),
            container: None,
            image: Some("node:22".into()),
            command: vec!["npm".into(), "run".into(), "dev".into()],
            workdir: Some("/app".into()),
            env: BTreeMap::from([("DEBUG".into(), "1".into())]),
            agent_image: "berth:test".into(),
            agent_url: "http://berth.berth:8080".into(),
            token_secret: token_secret("api"),
            volumes: Vec::new(),
        }
    }

    fn deployment_spec() -> Value {
        json!({
            "replicas": 3,
            "selector": {"matchLabels": {"app": "api"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{
                    "name": "api", "image": "api:1.2", "args": ["serve"],
                    "env": [{"name": "DEBUG", "value": "0"}, {"name": "PORT", "value": "8080"}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }]}
            }
        })
    }

    #[test]
    fn dev_folders_are_mounted_from_the_targets_claim() {
        let plan = DevPlan {
            volumes: vec!["/root/.cache".into(), "/app/node_modules".into()],
            ..plan()
        };
        let spec = dev_spec(&deployment_spec(), &plan).expect("dev spec");
        let pod = &spec["template"]["spec"];
        assert_eq!(
            pod["volumes"][1],
            json!({"name": "berth-dev-data", "persistentVolumeClaim": {"claimName": "berth-dev-api-data"}})
        );
        let mounts = pod["containers"][0]["volumeMounts"]
            .as_array()
            .expect("mounts");
        assert_eq!(
            mounts[1..],
            [
                json!({"name": "berth-dev-data", "mountPath": "/root/.cache", "subPath": "root/.cache"}),
                json!({"name": "berth-dev-data", "mountPath": "/app/node_modules", "subPath": "app/node_modules"}),
            ]
        );
        // Without dev folders, no claim.
        let spec = dev_spec(&deployment_spec(), &self::plan()).expect("dev spec");
        assert_eq!(
            spec["template"]["spec"]["volumes"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn dev_folder_paths_are_absolute_or_under_the_working_folder() {
        assert_eq!(
            volume_path("/root/.cache/", None),
            Ok("/root/.cache".into())
        );
        assert_eq!(
            volume_path("./node_modules", Some("/app/")),
            Ok("/app/node_modules".into())
        );
        for (path, workdir) in [("", Some("/app")), ("../x", Some("/app")), ("cache", None)] {
            assert!(volume_path(path, workdir).is_err(), "{path}");
        }
    }

    #[test]
    fn the_dev_spec_runs_the_agent_with_the_manifest_settings() {
        let spec = dev_spec(&deployment_spec(), &plan()).expect("dev spec");
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["strategy"], json!({"type": "Recreate"}));
        let container = &spec["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "node:22");
        assert_eq!(
            container["command"],
            json!([
                "/berth/bin/berth",
                "agent",
                "--root",
                "/",
                "--workdir",
                "/app",
                "--",
                "npm",
                "run",
                "dev"
            ])
        );
        assert!(container.get("args").is_none());
        assert!(container.get("readinessProbe").is_none());
        assert!(container.get("livenessProbe").is_none());
        assert_eq!(container["workingDir"], "/app");
        let env = container["env"].as_array().expect("env");
        let value = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
        assert_eq!(value("DEBUG").expect("DEBUG")["value"], "1");
        assert_eq!(value("PORT").expect("PORT")["value"], "8080");
        assert_eq!(
            value("BERTH_AGENT_TOKEN").expect("token")["valueFrom"]["secretKeyRef"]["name"],
            "berth-dev-api"
        );
        let init = &spec["template"]["spec"]["initContainers"][0];
        assert_eq!(init["name"], "berth-agent-install");
        assert_eq!(init["image"], "berth:test");
        assert_eq!(
            init["command"],
            json!(["/usr/local/bin/berth", "agent-install", "/berth/bin"])
        );
        // What Pod Security's `restricted` level asks of a container.
        assert_eq!(
            init["securityContext"],
            json!({
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
                "readOnlyRootFilesystem": true,
            })
        );
        assert_eq!(
            init["volumeMounts"],
            json!([{"name": AGENT_VOLUME, "mountPath": AGENT_DIR}])
        );
        assert_eq!(
            spec["template"]["spec"]["volumes"][0],
            json!({"name": AGENT_VOLUME, "emptyDir": {}})
        );
        assert_eq!(spec["template"]["spec"]["volumes"][0]["name"], AGENT_VOLUME);
        assert_eq!(
            spec["template"]["metadata"]["annotations"][TARGET_ANNOTATION],
            "api"
        );
    }

    /// What Pod Security's `restricted` level refuses in a pod spec (the
    /// checks of its latest version that a pod template can fail).
    fn restricted_violations(pod: &Value) -> Vec<String> {
        let mut found = Vec::new();
        let pod_context = &pod["securityContext"];
        let containers = pod["initContainers"]
            .as_array()
            .into_iter()
            .chain(pod["containers"].as_array())
            .flatten();
        for container in containers {
            let name = container["name"].as_str().unwrap_or_default();
            let context = &container["securityContext"];
            let either = |key: &str| {
                Some(&context[key])
                    .filter(|v| !v.is_null())
                    .unwrap_or(&pod_context[key])
            };
            if context["privileged"] == json!(true) {
                found.push(format!("{name}: privileged"));
            }
            if context["allowPrivilegeEscalation"] != json!(false) {
                found.push(format!("{name}: allowPrivilegeEscalation is not false"));
            }
            let capabilities = &context["capabilities"];
            if !capabilities["drop"]
                .as_array()
                .is_some_and(|d| d.contains(&json!("ALL")))
            {
                found.push(format!("{name}: capabilities do not drop ALL"));
            }
            if capabilities["add"]
                .as_array()
                .is_some_and(|a| a.iter().any(|c| c != "NET_BIND_SERVICE"))
            {
                found.push(format!("{name}: capabilities added"));
            }
            if either("runAsNonRoot") != &json!(true) {
                found.push(format!("{name}: runAsNonRoot is not true"));
            }
            if either("runAsUser") == &json!(0) {
                found.push(format!("{name}: runs as root"));
            }
            if !matches!(
                either("seccompProfile")["type"].as_str(),
                Some("RuntimeDefault" | "Localhost")
            ) {
                found.push(format!(
                    "{name}: no RuntimeDefault or Localhost seccomp profile"
                ));
            }
        }
        for volume in pod["volumes"].as_array().into_iter().flatten() {
            let allowed = [
                "name",
                "configMap",
                "csi",
                "downwardAPI",
                "emptyDir",
                "ephemeral",
                "persistentVolumeClaim",
                "projected",
                "secret",
            ];
            let kinds = volume.as_object().into_iter().flat_map(|v| v.keys());
            for kind in kinds.filter(|k| !allowed.contains(&k.as_str())) {
                found.push(format!("volume {}: {kind}", volume["name"]));
            }
        }
        found
    }

    #[test]
    fn a_workload_that_pod_security_restricted_admits_is_admitted_in_dev_mode() {
        let hardened = json!({
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        });
        let nonroot = json!({
            "runAsNonRoot": true,
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        let mut both = hardened.clone();
        both.as_object_mut()
            .expect("an object")
            .extend(nonroot.as_object().cloned().expect("an object"));
        // Where the workload says so: in the pod's security context, or in
        // each container's only (then nothing covers an added container).
        for (pod_context, container_context) in [(nonroot.clone(), hardened), (json!(null), both)] {
            let mut original = deployment_spec();
            original["template"]["spec"]["securityContext"] = pod_context;
            original["template"]["spec"]["containers"][0]["securityContext"] = container_context;
            assert_eq!(
                restricted_violations(&original["template"]["spec"]),
                Vec::<String>::new()
            );
            let spec = dev_spec(&original, &plan()).expect("dev spec");
            assert_eq!(
                restricted_violations(&spec["template"]["spec"]),
                Vec::<String>::new(),
                "{spec:#}"
            );
        }
        // The check finds what it looks for.
        assert_eq!(
            restricted_violations(&deployment_spec()["template"]["spec"]).len(),
            4
        );
    }

    #[test]
    fn entering_adds_the_two_dev_annotations_and_nothing_else() {
        let original = deployment_spec();
        for annotations in [
            json!(null),
            json!({"team": "payments", "deployment.kubernetes.io/revision": "3"}),
        ] {
            let object =
                json!({"metadata": {"name": "api", "annotations": annotations}, "spec": original});
            let spec = dev_spec(&original, &plan()).expect("dev");
            let patch = enter_patch(&object, spec.clone(), "api", Some(&original));
            let mut after = object.clone();
            json_patch::patch(
                &mut after,
                &serde_json::from_value::<json_patch::Patch>(patch).expect("a JSON patch"),
            )
            .expect("applies");
            assert_eq!(after["spec"], spec);
            let mut expected = annotations.as_object().cloned().unwrap_or_default();
            expected.insert(ORIGINAL_ANNOTATION.into(), json!(original.to_string()));
            expected.insert(TARGET_ANNOTATION.into(), json!("api"));
            assert_eq!(after["metadata"]["annotations"], json!(expected));
        }
    }

    #[test]
    fn the_reserved_domains_are_the_controllers() {
        for (key, owned) in [
            ("deployment.kubernetes.io/revision", true),
            ("kubectl.kubernetes.io/last-applied-configuration", true),
            ("kubernetes.io/change-cause", true),
            ("cluster-autoscaler.k8s.io/safe-to-evict", true),
            ("team", false),
            ("berth.dev/dev-target", false),
            ("notkubernetes.io/x", false),
        ] {
            assert_eq!(controller_owned(key), owned, "{key}");
        }
    }

    #[test]
    fn a_named_container_that_is_not_there_is_an_error() {
        let mut plan = plan();
        plan.container = Some("sidecar".into());
        let err = dev_spec(&deployment_spec(), &plan).expect_err("no such container");
        assert!(err.contains("sidecar"), "{err}");
    }

    #[test]
    fn leaving_puts_back_the_saved_spec_and_leaves_other_annotations_as_they_are_now() {
        let original = deployment_spec();
        let object = json!({"metadata": {"annotations": {
            ORIGINAL_ANNOTATION: original.to_string(), TARGET_ANNOTATION: "api", "keep": "me",
            "deployment.kubernetes.io/revision": "7"}},
            "spec": dev_spec(&original, &plan()).expect("dev")});
        let patch = leave_patch(&object).expect("valid").expect("in dev mode");
        let mut after = object.clone();
        json_patch::patch(
            &mut after,
            &serde_json::from_value::<json_patch::Patch>(patch).expect("a JSON patch"),
        )
        .expect("applies");
        assert_eq!(after["spec"], original);
        assert_eq!(
            after["metadata"]["annotations"],
            json!({"keep": "me", "deployment.kubernetes.io/revision": "7"})
        );
        assert_eq!(leave_patch(&json!({"metadata": {}})).expect("valid"), None);
        let damaged = json!({"metadata": {"annotations": {ORIGINAL_ANNOTATION: "{"}}});
        assert!(
            leave_patch(&damaged)
                .expect_err("damaged")
                .contains("damaged")
        );
    }
}

//! The validation a real API server applies to names, labels and the required
//! fields of the kinds Berth uses. Each problem is `(field, reason, message)`.

use serde_json::Value;

use crate::resources::ResourceType;
use crate::selectors::LabelSelector;

pub type Cause = (String, &'static str, String);

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(key),
    }
}

fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_qualified_name_part(v)
}

pub fn name(rt: &ResourceType, name: &str) -> Vec<Cause> {
    let ok = if rt.name_is_label() {
        is_dns1123_label(name)
    } else if rt.group == "rbac.authorization.k8s.io" {
        // RBAC names are path segments, not DNS names ("system:controller:x").
        !name.is_empty() && !name.contains(['/', '%']) && name != "." && name != ".."
    } else {
        is_dns1123_subdomain(name)
    };
    if ok {
        return Vec::new();
    }
    let message = if rt.name_is_label() {
        DNS1123_LABEL_MSG
    } else {
        DNS1123_SUBDOMAIN_MSG
    };
    vec![(
        "metadata.name".to_owned(),
        "FieldValueInvalid",
        format!("Invalid value: \"{name}\": {message}"),
    )]
}

pub fn object(rt: &ResourceType, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let meta = &object["metadata"];
    for (field, map) in [
        ("metadata.labels", &meta["labels"]),
        ("metadata.annotations", &meta["annotations"]),
    ] {
        let Some(map) = map.as_object() else {
            if !map.is_null() {
                causes.push((
                    field.to_owned(),
                    "FieldValueInvalid",
                    "must be a map of strings".to_owned(),
                ));
            }
            continue;
        };
        for (key, value) in map {
            if !is_qualified_name(key) {
                causes.push((
                    field.to_owned(),
                    "FieldValueInvalid",
                    format!("Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                ));
            }
            match value.as_str() {
                Some(v) if field == "metadata.labels" && !is_label_value(v) => causes.push((
                    field.to_string(),
                    "FieldValueInvalid",
                    format!("Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                )),
                Some(_) => {}
                None => causes.push((format!("{field}.{key}"), "FieldValueInvalid", "must be a string".to_owned())),
            }
        }
    }
    let spec = &object["spec"];
    let required = |causes: &mut Vec<Cause>, field: &str, present: bool| {
        if !present {
            causes.push((
                field.to_owned(),
                "FieldValueRequired",
                "Required value".to_owned(),
            ));
        }
    };
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => pod_spec(&mut causes, "spec", spec),
        ("apps", "deployments" | "statefulsets" | "replicasets") => {
            match spec.get("selector") {
                None | Some(Value::Null) => required(&mut causes, "spec.selector", false),
                Some(selector) => match LabelSelector::from_object(selector) {
                    Err(e) => causes.push(("spec.selector".to_owned(), "FieldValueInvalid", e)),
                    Ok(parsed) => {
                        if parsed.is_empty() {
                            causes.push((
                                "spec.selector".to_owned(),
                                "FieldValueInvalid",
                                "empty selector is invalid for deployment".to_owned(),
                            ));
                        }
                        let labels = spec["template"]["metadata"]["labels"].as_object();
                        if !parsed.matches(labels) {
                            causes.push((
                                "spec.template.metadata.labels".to_owned(),
                                "FieldValueInvalid",
                                "Invalid value: `selector` does not match template `labels`"
                                    .to_owned(),
                            ));
                        }
                    }
                },
            }
            pod_spec(&mut causes, "spec.template.spec", &spec["template"]["spec"]);
            if let Some(replicas) = spec.get("replicas").and_then(Value::as_i64)
                && replicas < 0
            {
                causes.push((
                    "spec.replicas".to_owned(),
                    "FieldValueInvalid",
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                ));
            }
        }
        ("batch", "jobs") => {
            let template = &spec["template"]["spec"];
            pod_spec(&mut causes, "spec.template.spec", template);
            match template["restartPolicy"].as_str() {
                Some("Never" | "OnFailure") => {}
                other => causes.push((
                    "spec.template.spec.restartPolicy".to_owned(),
                    "FieldValueNotSupported",
                    format!(
                        "Unsupported value: {:?}: supported values: \"OnFailure\", \"Never\"",
                        other.unwrap_or("")
                    ),
                )),
            }
        }
        ("batch", "cronjobs") => {
            required(
                &mut causes,
                "spec.schedule",
                spec["schedule"].as_str().is_some_and(|s| !s.is_empty()),
            );
            pod_spec(
                &mut causes,
                "spec.jobTemplate.spec.template.spec",
                &spec["jobTemplate"]["spec"]["template"]["spec"],
            );
        }
        ("", "services") => {
            let headless = spec["clusterIP"].as_str() == Some("None");
            let external = spec["type"].as_str() == Some("ExternalName");
            let ports = spec["ports"].as_array().map_or(0, Vec::len);
            if ports == 0 && !headless && !external {
                required(&mut causes, "spec.ports", false);
            }
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            for field in ["apiGroup", "kind", "name"] {
                let present = object["roleRef"][field]
                    .as_str()
                    .is_some_and(|s| !s.is_empty() || field == "apiGroup");
                required(&mut causes, &format!("roleRef.{field}"), present);
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let group = spec["group"].as_str().unwrap_or("");
            let plural = spec["names"]["plural"].as_str().unwrap_or("");
            required(&mut causes, "spec.group", !group.is_empty());
            required(&mut causes, "spec.names.plural", !plural.is_empty());
            required(
                &mut causes,
                "spec.names.kind",
                spec["names"]["kind"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
            );
            required(
                &mut causes,
                "spec.versions",
                spec["versions"].as_array().is_some_and(|v| !v.is_empty()),
            );
            match spec["scope"].as_str() {
                Some("Namespaced" | "Cluster") => {}
                _ => causes.push((
                    "spec.scope".to_owned(),
                    "FieldValueNotSupported",
                    "Unsupported value: supported values: \"Cluster\", \"Namespaced\"".to_owned(),
                )),
            }
            let name = meta["name"].as_str().unwrap_or("");
            if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
                causes.push((
                    "metadata.name".to_owned(),
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                    ),
                ));
            }
        }
        _ => {}
    }
    causes
}

fn pod_spec(causes: &mut Vec<Cause>, at: &str, spec: &Value) {
    let containers = spec["containers"].as_array();
    if containers.is_none_or(Vec::is_empty) {
        causes.push((
            format!("{at}.containers"),
            "FieldValueRequired",
            "Required value".to_owned(),
        ));
        return;
    }
    for (i, container) in containers.into_iter().flatten().enumerate() {
        match container["name"].as_str() {
            Some(name) if is_dns1123_label(name) => {}
            Some(name) => causes.push((
                format!("{at}.containers[{i}].name"),
                "FieldValueInvalid",
                format!("Invalid value: \"{name}\": {DNS1123_LABEL_MSG}"),
            )),
            None => causes.push((
                format!("{at}.containers[{i}].name"),
                "FieldValueRequired",
                "Required value".to_owned(),
            )),
        }
        if container["image"].as_str().is_none_or(str::is_empty) {
            causes.push((
                format!("{at}.containers[{i}].image"),
                "FieldValueRequired",
                "Required value".to_owned(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(is_qualified_name("berth.dev/space"));
        assert!(is_qualified_name("app"));
        assert!(!is_qualified_name("Berth.dev/space"));
        assert!(!is_qualified_name("a/b/c"));
    }
}

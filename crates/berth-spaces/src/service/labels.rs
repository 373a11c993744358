//! The labels a space may carry: Kubernetes' rules, less the prefixes
//! that Berth and the cluster keep for themselves.

use std::collections::BTreeMap;

use berth_core::Error;

/// Checks a label the way Kubernetes does, and keeps Berth's and the
/// cluster's own prefixes for them.
fn check_label(key: &str, value: &str) -> Result<(), Error> {
    let segment = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
    };
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let prefix_ok = prefix.is_empty()
        || (prefix.len() <= 253 && prefix.split('.').all(|p| segment(p) && !p.contains('_')));
    if !prefix_ok || !segment(name) {
        return Err(Error::invalid(
            "labels",
            format!(
                "{key:?} is not a valid label key (an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.')"
            ),
        ));
    }
    if prefix.ends_with("berth.dev")
        || prefix.ends_with("kubernetes.io")
        || prefix.ends_with("k8s.io")
    {
        return Err(Error::invalid(
            "labels",
            format!("{key:?} uses a prefix that Berth or Kubernetes keeps for itself"),
        ));
    }
    if !value.is_empty() && !segment(value) {
        return Err(Error::invalid(
            "labels",
            format!(
                "the value of {key:?} must be empty or up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), Error> {
    labels.iter().try_for_each(|(k, v)| check_label(k, v))
}

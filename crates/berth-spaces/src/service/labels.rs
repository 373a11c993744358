//! The labels a space may carry: Kubernetes' rules, less the prefixes
//! that Berth and the cluster keep for themselves. The rule lives in
//! `berth-core` beside the schema the API document states for it.

use std::collections::BTreeMap;

use berth_core::Error;
use berth_core::space::SpaceLabels;

pub(super) fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), Error> {
    SpaceLabels::check(labels)
}

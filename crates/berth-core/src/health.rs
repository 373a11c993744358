//! The readiness report served at `/readyz`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether one subsystem of the daemon can serve requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ComponentStatus {
    Ready,
    NotReady { reason: String },
}

/// The daemon is ready when every registered component is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessReport {
    pub ready: bool,
    pub components: BTreeMap<String, ComponentStatus>,
}

impl ReadinessReport {
    pub fn from_components(components: BTreeMap<String, ComponentStatus>) -> Self {
        let ready = !components.is_empty()
            && components
                .values()
                .all(|status| *status == ComponentStatus::Ready);
        ReadinessReport { ready, components }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_component_is() {
        let mut components = BTreeMap::new();
        assert!(!ReadinessReport::from_components(components.clone()).ready);
        components.insert("store".to_owned(), ComponentStatus::Ready);
        assert!(ReadinessReport::from_components(components.clone()).ready);
        components.insert(
            "server".to_owned(),
            ComponentStatus::NotReady {
                reason: "draining".to_owned(),
            },
        );
        let report = ReadinessReport::from_components(components);
        assert!(!report.ready);
        assert_eq!(
            serde_json::to_value(&report).expect("report serializes"),
            serde_json::json!({
                "ready": false,
                "components": {
                    "server": {"status": "not_ready", "reason": "draining"},
                    "store": {"status": "ready"}
                }
            })
        );
    }
}

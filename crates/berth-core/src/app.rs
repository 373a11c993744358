//! Applications installed into spaces from catalog items: what a developer
//! asks for, and what the API shows of a release and its operations.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::Timestamp;

/// Install a catalog item into a space.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// The catalog item to install.
    #[schema(value_type = crate::name::CatalogName)]
    pub item: String,
    /// The release's name in the space; the item's name when left out
    /// (which must then be short enough for one).
    #[serde(default)]
    #[schema(value_type = Option<crate::name::AppName>)]
    pub name: Option<String>,
    /// Values over the item's (checked against the chart's schema and the
    /// item's parameters).
    #[serde(
        default,
        deserialize_with = "given_values",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Object)]
    pub values: Option<serde_json::Value>,
}

/// Upgrade a release: to the newest chart version the item's range
/// matches, with changed values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// Values laid over the ones the release was given before.
    #[serde(
        default,
        deserialize_with = "given_values",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Object)]
    pub values: Option<serde_json::Value>,
    /// Start from the item's values: forget what was given before.
    #[serde(default)]
    pub reset_values: bool,
}

/// `values` left out means "none given"; `values: null` is refused by name
/// rather than read as the same thing, so a request means one thing only
/// and the API document (an object, or nothing) stays exact.
fn given_values<'de, D>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Object(map) => Ok(Some(serde_json::Value::Object(map))),
        other => Err(serde::de::Error::custom(format!(
            "values must be a map of values, not {}; leave the field out to give none",
            kind(&other)
        ))),
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    Install,
    Upgrade,
    Uninstall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationState {
    Running,
    Succeeded,
    Failed,
}

/// One Helm run on a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationView {
    /// Counts up per release from 1.
    pub number: u32,
    pub kind: OperationKind,
    pub state: OperationState,
    /// The chart version it installs.
    pub chart_version: String,
    pub started_by: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Why it failed: Helm's own message, when it gave one.
    pub error: Option<String>,
    /// Where it ran: `helm` (a local process) or the Job's name.
    pub runner: String,
}

/// What Helm's own record of the release (in the space) says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HelmReleaseView {
    pub revision: u32,
    /// `deployed`, `failed`, `pending-install`, `superseded`...
    pub status: String,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub updated: Option<String>,
}

/// An application installed into a space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppView {
    pub space: String,
    pub name: String,
    pub item: String,
    pub chart: String,
    /// The chart version of the last operation that succeeded (the
    /// operation's own is in `operation`).
    pub chart_version: String,
    /// The values given at install and upgrades (the item's and the
    /// chart's are under them).
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    /// `installing`, `upgrading`, `uninstalling`, `deployed` or `failed`.
    pub status: String,
    pub operation: OperationView,
    /// Helm's record in the space; none before the first install wrote
    /// one (or after an uninstall).
    pub release: Option<HelmReleaseView>,
    pub installed_by: String,
    pub installed_at: Timestamp,
}

/// Lays `over` onto `base` as Helm does with values: maps merge key by
/// key, anything else replaces, and `null` removes the key.
pub fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    use serde_json::Value;
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key)
                    && existing.is_object()
                    && value.is_object()
                {
                    merge(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// Sets `a.b=v` pairs (`berth deploy --set`) in `values`, typed as
/// Helm's `--set` types them: `true`, `false`, `null` and whole numbers
/// are themselves, anything else is text. A `null` stays (it removes the
/// chart's value when Helm merges).
pub fn set_values(
    values: &mut serde_json::Value,
    pairs: &[(String, String)],
) -> Result<(), String> {
    use serde_json::{Map, Value};
    if !values.is_object() {
        *values = Value::Object(Map::new());
    }
    for (path, text) in pairs {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(format!("{path:?} is not a value's path (write a.b.c)"));
        }
        let value = match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(text.clone())),
        };
        let keys: Vec<&str> = path.split('.').collect();
        let mut at = &mut *values;
        for key in &keys[..keys.len() - 1] {
            if !at.get(*key).is_some_and(Value::is_object) {
                at[*key] = Value::Object(Map::new());
            }
            at = &mut at[*key];
        }
        at[keys[keys.len() - 1]] = value;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_a_map_or_left_out() {
        let left_out: UpgradeRequest = serde_json::from_str("{}").expect("no fields");
        assert_eq!(left_out.values, None);
        assert_eq!(
            serde_json::to_value(&left_out).expect("serializes"),
            json!({"reset_values": false})
        );
        let given: InstallRequest =
            serde_json::from_value(json!({"item": "web", "values": {"port": 1}})).expect("a map");
        assert_eq!(given.values, Some(json!({"port": 1})));
        for (values, named) in [(json!(null), "not null"), (json!([1]), "not a list")] {
            let error = serde_json::from_value::<UpgradeRequest>(json!({ "values": values }))
                .expect_err("refused")
                .to_string();
            assert!(error.contains(named), "{error}");
        }
    }

    #[test]
    fn helm_merges_maps_and_null_removes() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 1});
        merge(&mut base, &json!({"a": {"b": 3}, "d": [3], "e": null}));
        assert_eq!(base, json!({"a": {"b": 3, "c": 2}, "d": [3]}));
    }

    #[test]
    fn pairs_become_nested_typed_values() {
        let mut values = json!({"auth": {"user": "u"}, "replicas": 1});
        set_values(
            &mut values,
            &[
                ("auth.password".to_owned(), "s3cret".to_owned()),
                ("replicas".to_owned(), "3".to_owned()),
                ("auth.enabled".to_owned(), "true".to_owned()),
                ("tag".to_owned(), "1.0".to_owned()),
                ("gone.deep".to_owned(), "null".to_owned()),
            ],
        )
        .expect("pairs");
        assert_eq!(
            values,
            json!({"auth": {"user": "u", "password": "s3cret", "enabled": true}, "replicas": 3, "tag": "1.0", "gone": {"deep": null}})
        );
        assert!(set_values(&mut values, &[("a..b".to_owned(), "1".to_owned())]).is_err());
    }
}

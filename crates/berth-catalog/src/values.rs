//! Values: laid over one another as Helm does, described as form fields
//! from a chart's schema, and checked against it before Helm runs, each
//! problem named by the value's path.

use berth_core::Error;
use berth_core::app::merge;
use berth_core::catalog::FieldView;
use serde_json::Value;

/// The dotted paths of what `values` sets: its leaves (a value that is not
/// a map, or an empty map).
pub fn leaves(values: &Value) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Value::Object(map) = values {
        for (key, value) in map {
            walk(key, value, &mut out);
        }
    }
    out
}

/// Whether `path` is one of `parameters` or under one.
pub fn allowed(path: &str, parameters: &[String]) -> bool {
    parameters.iter().any(|p| {
        path == p
            || path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

fn at<'v>(values: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(values, |v, key| v.get(key))
}

/// A local `$ref` (`#/definitions/x`) followed in `root`.
fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    let mut schema = schema;
    for _ in 0..16 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

fn kind_of(schema: &Value) -> Option<String> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_owned),
        _ => None,
    }
}

fn kind_of_value(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) | Value::Null => "string",
    }
}

/// What developers may set, as form fields: the leaves of the schema's
/// `properties` (those of `values.yaml` when the chart has no schema),
/// those the item allows, with the item's or the chart's value as default.
pub fn fields(
    schema: Option<&Value>,
    chart_values: &Value,
    item_values: &Value,
    parameters: Option<&[String]>,
) -> Vec<FieldView> {
    let mut defaults = chart_values.clone();
    merge(&mut defaults, item_values);
    let mut out = Vec::new();
    match schema {
        Some(root) => walk_schema(root, root, "", false, &defaults, &mut out),
        None => {
            for path in leaves(&defaults) {
                let default = at(&defaults, &path).cloned();
                out.push(FieldView {
                    kind: default.as_ref().map_or("string", kind_of_value).to_owned(),
                    path,
                    title: None,
                    description: None,
                    default,
                    choices: Vec::new(),
                    required: false,
                    minimum: None,
                    maximum: None,
                    secret: false,
                });
            }
        }
    }
    if let Some(parameters) = parameters {
        out.retain(|f| allowed(&f.path, parameters));
    }
    out
}

/// How deep a schema's `properties` are followed for fields: a schema that
/// refers to itself (a tree) would go on forever.
const MAX_DEPTH: usize = 16;

fn walk_schema(
    root: &Value,
    schema: &Value,
    path: &str,
    required: bool,
    defaults: &Value,
    out: &mut Vec<FieldView>,
) {
    let schema = resolve(root, schema);
    if let Some(Value::Object(properties)) = schema.get("properties") {
        if path.split('.').count() >= MAX_DEPTH {
            return;
        }
        let required_keys: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (key, child) in properties {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            walk_schema(
                root,
                child,
                &child_path,
                required_keys.contains(&key.as_str()),
                defaults,
                out,
            );
        }
        return;
    }
    if path.is_empty() {
        return;
    }
    let text = |key: &str| schema.get(key).and_then(Value::as_str).map(str::to_owned);
    let secret = text("format").as_deref() == Some("password")
        || schema.get("writeOnly").and_then(Value::as_bool) == Some(true);
    // A secret's default (an admin's password, say) is not shown.
    let default = if secret {
        None
    } else {
        at(defaults, path)
            .cloned()
            .or_else(|| schema.get("default").cloned())
    };
    out.push(FieldView {
        path: path.to_owned(),
        kind: kind_of(schema)
            .or_else(|| default.as_ref().map(|d| kind_of_value(d).to_owned()))
            .unwrap_or_else(|| "string".to_owned()),
        title: text("title"),
        description: text("description"),
        default,
        choices: schema
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        required,
        minimum: schema.get("minimum").and_then(Value::as_f64),
        maximum: schema.get("maximum").and_then(Value::as_f64),
        secret,
    });
}

/// A JSON pointer (`/auth/password`) as the field it names
/// (`values.auth.password`).
fn field_of(pointer: &str) -> String {
    let mut field = "values".to_owned();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        field.push('.');
        field.push_str(&part.replace("~1", "/").replace("~0", "~"));
    }
    field
}

/// Checks an item's own values against the chart's schema: what they
/// set must fit; what the schema requires may be left to developers.
pub fn check_partial(
    schema: Option<&Value>,
    chart_values: &Value,
    item_values: &Value,
) -> Result<(), Error> {
    let Some(schema) = schema else {
        return Ok(());
    };
    let mut whole = chart_values.clone();
    merge(&mut whole, item_values);
    let validator = validator(schema)?;
    match validator.iter_errors(&whole).find(|e| {
        !matches!(
            e.kind(),
            jsonschema::error::ValidationErrorKind::Required { .. }
        )
    }) {
        Some(error) => Err(named(&error)),
        None => Ok(()),
    }
}

fn validator(schema: &Value) -> Result<jsonschema::Validator, Error> {
    jsonschema::validator_for(schema).map_err(|e| {
        Error::invalid(
            "chart",
            format!("the chart's values.schema.json is not a valid schema: {e}"),
        )
    })
}

/// A schema error as a 422 naming the value.
fn named(error: &jsonschema::ValidationError<'_>) -> Error {
    let field = field_of(&error.instance_path().to_string());
    // Masked: the value may be a password.
    Error::invalid(&field, error.masked())
}

/// Checks what a developer gives (`given`) against what the item lets
/// them set, then the whole of the values Helm will see against the
/// chart's schema. Answers the values Helm is given (the item's with the
/// developer's over them).
pub fn check(
    schema: Option<&Value>,
    chart_values: &Value,
    item_values: &Value,
    parameters: Option<&[String]>,
    given: &Value,
) -> Result<Value, Error> {
    if !given.is_object() {
        return Err(Error::invalid("values", "values must be a map"));
    }
    if let Some(parameters) = parameters {
        for path in leaves(given) {
            if !allowed(&path, parameters) {
                return Err(Error::invalid(
                    &format!("values.{path}"),
                    format!(
                        "cannot be set for this item; it lets developers set {}",
                        if parameters.is_empty() {
                            "nothing".to_owned()
                        } else {
                            parameters.join(", ")
                        }
                    ),
                ));
            }
        }
    }
    let mut helm = item_values.clone();
    merge(&mut helm, given);
    if let Some(schema) = schema {
        let mut whole = chart_values.clone();
        merge(&mut whole, &helm);
        if let Some(error) = validator(schema)?.iter_errors(&whole).next() {
            return Err(named(&error));
        }
    }
    Ok(helm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["replicas"],
            "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
            "properties": {
                "replicas": {"type": "integer", "minimum": 1, "title": "Replicas"},
                "mode": {"type": "string", "enum": ["standalone", "cluster"]},
                "port": {"$ref": "#/definitions/port"},
                "auth": {"type": "object", "properties": {
                    "password": {"type": "string", "format": "password"},
                    "user": {"type": ["string", "null"]}
                }}
            }
        })
    }

    #[test]
    fn fields_come_from_the_schema_with_defaults_and_the_items_choice() {
        let chart =
            json!({"replicas": 1, "mode": "standalone", "port": 6379, "auth": {"password": ""}});
        let item = json!({"replicas": 2});
        let all = fields(Some(&schema()), &chart, &item, None);
        let paths: Vec<&str> = all.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["auth.password", "auth.user", "mode", "port", "replicas"]
        );
        let replicas = all.iter().find(|f| f.path == "replicas").expect("replicas");
        assert_eq!(replicas.default, Some(json!(2)));
        assert_eq!(replicas.kind, "integer");
        assert!(replicas.required);
        assert_eq!(replicas.minimum, Some(1.0));
        let port = all.iter().find(|f| f.path == "port").expect("port");
        assert_eq!(
            (port.kind.as_str(), port.maximum),
            ("integer", Some(65535.0))
        );
        assert!(
            all.iter()
                .any(|f| f.path == "auth.password" && f.secret && f.default.is_none())
        );
        assert!(
            all.iter()
                .any(|f| f.path == "auth.user" && f.kind == "string")
        );
        let mode = all.iter().find(|f| f.path == "mode").expect("mode");
        assert_eq!(mode.choices, [json!("standalone"), json!("cluster")]);

        let some = fields(Some(&schema()), &chart, &item, Some(&["auth".to_owned()]));
        let paths: Vec<&str> = some.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["auth.password", "auth.user"]);

        // Without a schema: the leaves of the values, typed by them.
        let plain = fields(None, &chart, &item, None);
        assert!(
            plain
                .iter()
                .any(|f| f.path == "replicas" && f.kind == "integer")
        );
    }

    #[test]
    fn a_schema_that_refers_to_itself_gives_fields_to_a_depth() {
        let tree = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "child": {"$ref": "#"}
        }});
        let found = fields(Some(&tree), &json!({}), &json!({}), None);
        assert!(!found.is_empty());
        assert!(found.iter().all(|f| f.path.split('.').count() <= MAX_DEPTH));
    }

    #[test]
    fn a_refused_value_is_not_repeated() {
        let schema = json!({"type": "object", "properties": {"password": {"type": "string", "minLength": 12}}});
        let err = check(
            Some(&schema),
            &json!({}),
            &json!({}),
            None,
            &json!({"password": "hunter2"}),
        )
        .expect_err("too short");
        assert!(
            err.message.starts_with("values.password:"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }

    #[test]
    fn a_bad_value_is_named_by_its_path() {
        let chart = json!({"replicas": 1, "auth": {"password": ""}});
        let err = check(
            Some(&schema()),
            &chart,
            &json!({}),
            None,
            &json!({"replicas": 0}),
        )
        .expect_err("below minimum");
        assert!(
            err.message.starts_with("values.replicas:"),
            "{}",
            err.message
        );
        let err = check(
            Some(&schema()),
            &chart,
            &json!({}),
            None,
            &json!({"port": "x"}),
        )
        .expect_err("not an integer");
        assert!(err.message.starts_with("values.port:"), "{}", err.message);
        let err = check(
            Some(&schema()),
            &chart,
            &json!({}),
            Some(&["auth".to_owned()]),
            &json!({"replicas": 3}),
        )
        .expect_err("not a parameter");
        assert!(
            err.message.starts_with("values.replicas: cannot be set"),
            "{}",
            err.message
        );
        let helm = check(
            Some(&schema()),
            &chart,
            &json!({"replicas": 2, "mode": "cluster"}),
            Some(&["auth".to_owned()]),
            &json!({"auth": {"password": "p"}}),
        )
        .expect("valid");
        assert_eq!(
            helm,
            json!({"replicas": 2, "mode": "cluster", "auth": {"password": "p"}})
        );
    }
}

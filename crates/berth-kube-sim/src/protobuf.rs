//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as
//! client-go sends them for built-in kinds: Helm stores its releases as
//! Secrets this way, and deletes with protobuf DeleteOptions. The simulator
//! reads the kinds clients send so (Secret, ConfigMap, Namespace,
//! DeleteOptions) into the JSON it works on; answers stay JSON, which
//! every client accepts. Field numbers are those of Kubernetes'
//! `generated.proto` files.

use std::collections::BTreeMap;

use prost::Message;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Every protobuf body starts with this, then a `runtime.Unknown`.
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    raw: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    kind: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    generate_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    namespace: Option<String>,
    #[prost(string, optional, tag = "5")]
    uid: Option<String>,
    #[prost(string, optional, tag = "6")]
    resource_version: Option<String>,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, bytes", tag = "2")]
    data: BTreeMap<String, Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    r#type: Option<String>,
    #[prost(btree_map = "string, string", tag = "4")]
    string_data: BTreeMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, string", tag = "2")]
    data: BTreeMap<String, String>,
    #[prost(btree_map = "string, bytes", tag = "3")]
    binary_data: BTreeMap<String, Vec<u8>>,
    #[prost(bool, optional, tag = "4")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<NamespaceSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct DeleteOptions {
    #[prost(int64, optional, tag = "1")]
    grace_period_seconds: Option<i64>,
    #[prost(message, optional, tag = "2")]
    preconditions: Option<Preconditions>,
    #[prost(bool, optional, tag = "3")]
    orphan_dependents: Option<bool>,
    #[prost(string, optional, tag = "4")]
    propagation_policy: Option<String>,
    #[prost(string, repeated, tag = "5")]
    dry_run: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Preconditions {
    #[prost(string, optional, tag = "1")]
    uid: Option<String>,
    #[prost(string, optional, tag = "2")]
    resource_version: Option<String>,
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("the protobuf body cannot be read: {message}"))
}

/// Whether a request's content type is Kubernetes protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim() == MEDIA_TYPE)
}

/// The JSON form of a protobuf body.
pub fn to_json(body: &[u8]) -> Result<Value, ApiError> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("it does not start with the k8s\\0 prefix"))?;
    let unknown = Unknown::decode(inner).map_err(bad)?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let mut object = match kind.as_str() {
        "Secret" => {
            let secret = Secret::decode(raw.as_slice()).map_err(bad)?;
            let mut out = Map::new();
            put(&mut out, "metadata", secret.metadata.map(meta));
            if !secret.data.is_empty() {
                out.insert("data".into(), base64_map(&secret.data));
            }
            if !secret.string_data.is_empty() {
                out.insert("stringData".into(), json!(secret.string_data));
            }
            put(&mut out, "type", secret.r#type.map(Value::String));
            put(&mut out, "immutable", secret.immutable.map(Value::Bool));
            out
        }
        "ConfigMap" => {
            let map = ConfigMap::decode(raw.as_slice()).map_err(bad)?;
            let mut out = Map::new();
            put(&mut out, "metadata", map.metadata.map(meta));
            if !map.data.is_empty() {
                out.insert("data".into(), json!(map.data));
            }
            if !map.binary_data.is_empty() {
                out.insert("binaryData".into(), base64_map(&map.binary_data));
            }
            put(&mut out, "immutable", map.immutable.map(Value::Bool));
            out
        }
        "Namespace" => {
            let namespace = Namespace::decode(raw.as_slice()).map_err(bad)?;
            let mut out = Map::new();
            put(&mut out, "metadata", namespace.metadata.map(meta));
            if let Some(spec) = namespace.spec.filter(|s| !s.finalizers.is_empty()) {
                out.insert("spec".into(), json!({"finalizers": spec.finalizers}));
            }
            out
        }
        "DeleteOptions" => {
            let options = DeleteOptions::decode(raw.as_slice()).map_err(bad)?;
            let mut out = Map::new();
            put(
                &mut out,
                "gracePeriodSeconds",
                options.grace_period_seconds.map(Value::from),
            );
            if let Some(p) = options.preconditions {
                let mut pre = Map::new();
                put(&mut pre, "uid", p.uid.map(Value::String));
                put(
                    &mut pre,
                    "resourceVersion",
                    p.resource_version.map(Value::String),
                );
                out.insert("preconditions".into(), Value::Object(pre));
            }
            put(
                &mut out,
                "orphanDependents",
                options.orphan_dependents.map(Value::Bool),
            );
            put(
                &mut out,
                "propagationPolicy",
                options.propagation_policy.map(Value::String),
            );
            if !options.dry_run.is_empty() {
                out.insert("dryRun".into(), json!(options.dry_run));
            }
            out
        }
        other => {
            return Err(ApiError::unsupported_protobuf(other));
        }
    };
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(object))
}

fn put(out: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        out.insert(key.to_owned(), value);
    }
}

fn base64_map(map: &BTreeMap<String, Vec<u8>>) -> Value {
    use base64::Engine;
    Value::Object(
        map.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect(),
    )
}

fn meta(meta: ObjectMeta) -> Value {
    let mut out = Map::new();
    let text = |v: Option<String>| v.filter(|s| !s.is_empty()).map(Value::String);
    put(&mut out, "name", text(meta.name));
    put(&mut out, "generateName", text(meta.generate_name));
    put(&mut out, "namespace", text(meta.namespace));
    put(&mut out, "uid", text(meta.uid));
    put(&mut out, "resourceVersion", text(meta.resource_version));
    if !meta.labels.is_empty() {
        out.insert("labels".into(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        out.insert("annotations".into(), json!(meta.annotations));
    }
    if !meta.finalizers.is_empty() {
        out.insert("finalizers".into(), json!(meta.finalizers));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
        }
        .encode(&mut out)
        .expect("encode");
        out
    }

    #[test]
    fn a_secret_reads_as_its_json() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                name: Some("sh.helm.release.v1.demo.v1".into()),
                labels: BTreeMap::from([("owner".into(), "helm".into())]),
                ..Default::default()
            }),
            data: BTreeMap::from([("release".into(), b"H4sI".to_vec())]),
            r#type: Some("helm.sh/release.v1".into()),
            ..Default::default()
        };
        let body = envelope("v1", "Secret", secret.encode_to_vec());
        assert_eq!(
            to_json(&body).expect("json"),
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "sh.helm.release.v1.demo.v1", "labels": {"owner": "helm"}},
                "data": {"release": "SDRzSQ=="}, "type": "helm.sh/release.v1"})
        );
    }

    #[test]
    fn delete_options_and_refusals() {
        let options = DeleteOptions {
            propagation_policy: Some("Background".into()),
            ..Default::default()
        };
        let body = envelope("v1", "DeleteOptions", options.encode_to_vec());
        assert_eq!(
            to_json(&body).expect("json"),
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"})
        );
        let err = to_json(b"{\"kind\":\"Secret\"}").expect_err("not protobuf");
        assert!(err.message.contains("k8s\\0"), "{}", err.message);
        let err = to_json(&envelope("apps/v1", "Deployment", Vec::new())).expect_err("unsupported");
        assert_eq!(err.code, 415);
        assert!(err.message.contains("Deployment"), "{}", err.message);
    }
}

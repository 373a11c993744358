//! Reading and writing one object: get, create (`generateName`, system
//! fields and the defaults the server sets), update with optimistic
//! concurrency, and merge, JSON and strategic merge patches.

use serde_json::{Value, json};

use super::commit::tracks_generation;
use super::subresources::{put_scale, put_status, scale_view};
use super::{Cluster, State, Sub, WriteCtx, is_namespace, meta_mut, now, ns_of};
use crate::error::ApiError;
use crate::fields;
use crate::patch::{self, PatchType};
use crate::resources::ResourceType;
use crate::validate;

const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| GENERATE_ALPHABET[*b as usize % GENERATE_ALPHABET.len()] as char)
        .collect()
}

impl Cluster {
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let ns = ns_of(rt, ns);
        self.lock()
            .get(rt, &ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut body: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let ns = ns_of(rt, ns);
        check_type(rt, &mut body)?;
        let body_ns = body["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut state = self.lock();
        let name = match body["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => match body["metadata"]["generateName"]
                .as_str()
                .filter(|n| !n.is_empty())
            {
                Some(prefix) => {
                    let mut name = format!("{prefix}{}", random_suffix());
                    while state.get(rt, &ns, &name).is_some() {
                        name = format!("{prefix}{}", random_suffix());
                    }
                    name
                }
                None => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        &[(
                            "metadata.name".to_owned(),
                            "FieldValueRequired",
                            "Required value: name or generateName is required".to_owned(),
                        )],
                    ));
                }
            },
        };
        let mut causes = validate::name(rt, &name);
        causes.extend(validate::object(rt, &body));
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, &name, &causes));
        }
        if rt.namespaced {
            check_namespace_open(&state, rt, &ns, &name)?;
        }
        if state.get(rt, &ns, &name).is_some() {
            return Err(ApiError::already_exists(rt, &name));
        }
        let time = now();
        let api_version = rt.api_version();
        let mut managers = Vec::new();
        let submitted = body.clone();
        fields::record_update(
            &mut managers,
            None,
            &submitted,
            fields::Scope::for_main(rt.status),
            &Self::writer(ctx, Sub::Main, &time, &api_version),
        );
        let object = finish_create(rt, &ns, &name, body, &time);
        let mut object = object;
        fields::write_managers(&mut object, &managers);
        Ok(state.write(rt, &ns, &name, None, object))
    }

    /// PUT on an object or one of its subresources.
    pub fn replace(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        body: Value,
        ctx: &WriteCtx,
        sub: Sub,
    ) -> Result<Value, ApiError> {
        let ns = ns_of(rt, ns);
        let mut state = self.lock();
        let old = state
            .get(rt, &ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let new = self.replace_locked(&mut state, rt, &ns, name, &old, body, ctx, sub)?;
        Ok(if sub == Sub::Scale {
            scale_view(&new)
        } else {
            new
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn replace_locked(
        &self,
        state: &mut State,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: &Value,
        mut body: Value,
        ctx: &WriteCtx,
        sub: Sub,
    ) -> Result<Value, ApiError> {
        if let Some(body_name) = body["metadata"]["name"].as_str()
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && Some(rv) != old["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(rt, name));
        }
        let mut new = match sub {
            Sub::Main => {
                check_type(rt, &mut body)?;
                let mut new = body;
                carry_system_metadata(old, &mut new);
                if rt.status {
                    match old.get("status") {
                        Some(status) => new["status"] = status.clone(),
                        None => {
                            if let Some(map) = new.as_object_mut() {
                                map.remove("status");
                            }
                        }
                    }
                }
                if is_namespace(rt) {
                    new["spec"] = old["spec"].clone();
                }
                let causes = validate::object(rt, &new);
                if !causes.is_empty() {
                    return Err(ApiError::invalid(rt, name, &causes));
                }
                new
            }
            Sub::Status => put_status(rt, old, &body),
            Sub::Scale => put_scale(rt, name, old, &body)?,
        };
        let time = now();
        let api_version = rt.api_version();
        let mut managers = fields::read_managers(old);
        let scope = match sub {
            Sub::Main => fields::Scope::for_main(rt.status),
            Sub::Status => fields::Scope::Status,
            Sub::Scale => fields::Scope::Replicas,
        };
        fields::record_update(
            &mut managers,
            Some(old),
            &new,
            scope,
            &Self::writer(ctx, sub, &time, &api_version),
        );
        fields::write_managers(&mut new, &managers);
        Ok(state.write(rt, ns, name, Some(old), new))
    }

    /// PATCH; server-side apply creates the object when it does not exist.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        kind: PatchType,
        body: Value,
        ctx: &WriteCtx,
        sub: Sub,
    ) -> Result<(Value, bool), ApiError> {
        let ns_name = ns_of(rt, ns);
        if kind == PatchType::Apply {
            return self.apply(rt, &ns_name, name, body, ctx, sub);
        }
        let mut state = self.lock();
        let old = state
            .get(rt, &ns_name, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let base = if sub == Sub::Scale {
            scale_view(&old)
        } else {
            old.clone()
        };
        let patched = patch::apply(kind, &base, &body).map_err(ApiError::bad_request)?;
        let new = self.replace_locked(&mut state, rt, &ns_name, name, &old, patched, ctx, sub)?;
        Ok((
            if sub == Sub::Scale {
                scale_view(&new)
            } else {
                new
            },
            false,
        ))
    }
}

pub(super) fn check_type(rt: &ResourceType, body: &mut Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if let Some(api_version) = body["apiVersion"].as_str()
        && api_version != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if let Some(kind) = body["kind"].as_str()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    body["apiVersion"] = json!(rt.api_version());
    body["kind"] = json!(rt.kind);
    meta_mut(body);
    Ok(())
}

pub(super) fn check_namespace_open(
    state: &State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    match state.namespace_exists(ns) {
        None => Err(ApiError::namespace_not_found(ns)),
        Some(namespace) if namespace["metadata"]["deletionTimestamp"].is_string() => {
            let message = format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                rt.qualified_plural()
            );
            Err(ApiError::forbidden(
                message.clone(),
                json!({
                    "name": name,
                    "group": rt.group,
                    "kind": rt.plural,
                    "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]
                }),
            ))
        }
        Some(_) => Ok(()),
    }
}

/// Keeps what a client may not change through the main resource.
pub(super) fn carry_system_metadata(old: &Value, new: &mut Value) {
    let old_meta = &old["metadata"];
    let meta = meta_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old_meta.get(field) {
            Some(value) => {
                meta.insert(field.to_owned(), value.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    meta.remove("managedFields");
}

/// System fields and defaults of a new object.
pub(super) fn finish_create(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    mut object: Value,
    time: &str,
) -> Value {
    {
        let meta = meta_mut(&mut object);
        meta.insert("name".to_owned(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".to_owned(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".to_owned(), json!(time));
        for system in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
        ] {
            meta.remove(system);
        }
        if tracks_generation(rt) {
            meta.insert("generation".to_owned(), json!(1));
        }
    }
    if rt.status
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
            let labels = meta_mut(&mut object)
                .entry("labels")
                .or_insert_with(|| json!({}));
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        ("apps", "deployments" | "statefulsets" | "replicasets")
            if object["spec"]["replicas"].is_null() =>
        {
            object["spec"]["replicas"] = json!(1);
        }
        ("", "services") => {
            if object["spec"]["type"].is_null() {
                object["spec"]["type"] = json!("ClusterIP");
            }
            if object["spec"]["clusterIP"].is_null() && object["spec"]["type"] != "ExternalName" {
                let bytes = uuid::Uuid::new_v4().into_bytes();
                object["spec"]["clusterIP"] =
                    json!(format!("10.96.{}.{}", bytes[0], bytes[1].max(1)));
            }
        }
        ("", "pods") => {
            object["status"] = json!({"phase": "Pending"});
        }
        _ => {}
    }
    object
}

//! Server-side apply: the applied configuration merged by field manager,
//! `managedFields` kept, conflicts refused unless forced, and the object
//! created when it does not exist.

use serde_json::{Value, json};

use super::objects::{carry_system_metadata, check_namespace_open, check_type, finish_create};
use super::{Cluster, Sub, WriteCtx, now};
use crate::error::ApiError;
use crate::fields;
use crate::resources::ResourceType;
use crate::validate;

impl Cluster {
    pub(super) fn apply(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        mut applied: Value,
        ctx: &WriteCtx,
        sub: Sub,
    ) -> Result<(Value, bool), ApiError> {
        if !ctx.manager_given || ctx.manager.is_empty() {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".to_owned(),
                details: json!({"kind": "PatchOptions", "group": "meta.k8s.io"}),
            });
        }
        if sub == Sub::Scale {
            return Err(ApiError::bad_request(
                "server-side apply to the scale subresource is not supported by the simulator",
            ));
        }
        for field in ["apiVersion", "kind"] {
            if applied[field].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(format!(
                    "{field} must be set in an applied configuration"
                )));
            }
        }
        check_type(rt, &mut applied)?;
        if let Some(body_name) = applied["metadata"]["name"].as_str()
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
            for system in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                meta.remove(system);
            }
        }
        match sub {
            Sub::Main if rt.status => {
                if let Some(map) = applied.as_object_mut() {
                    map.remove("status");
                }
            }
            Sub::Status => {
                let status = applied.get("status").cloned().unwrap_or(json!({}));
                applied = json!({"apiVersion": applied["apiVersion"], "kind": applied["kind"], "status": status});
            }
            _ => {}
        }
        let mut state = self.lock();
        let old = state.get(rt, ns, name).cloned();
        if old.is_none() {
            if sub == Sub::Status {
                return Err(ApiError::not_found(rt, name));
            }
            let mut causes = validate::name(rt, name);
            causes.extend(validate::object(rt, &applied));
            if !causes.is_empty() {
                return Err(ApiError::invalid(rt, name, &causes));
            }
            if rt.namespaced {
                check_namespace_open(&state, rt, ns, name)?;
            }
        }
        let time = now();
        let api_version = rt.api_version();
        let writer = Self::writer(ctx, sub, &time, &api_version);
        let mut managers = old.as_ref().map(fields::read_managers).unwrap_or_default();
        let live = old.clone().unwrap_or_else(|| json!({}));
        let merged = fields::apply(
            &live,
            &applied,
            &mut managers,
            rt.status && sub == Sub::Main,
            ctx.force,
            &writer,
        )
        .map_err(|conflicts| ApiError::apply_conflicts(rt, name, &conflicts))?;
        let mut new = match &old {
            Some(old) => {
                let mut new = merged;
                carry_system_metadata(old, &mut new);
                if rt.status && sub == Sub::Main {
                    match old.get("status") {
                        Some(status) => new["status"] = status.clone(),
                        None => {
                            if let Some(map) = new.as_object_mut() {
                                map.remove("status");
                            }
                        }
                    }
                }
                let causes = validate::object(rt, &new);
                if !causes.is_empty() {
                    return Err(ApiError::invalid(rt, name, &causes));
                }
                new
            }
            None => finish_create(rt, ns, name, merged, &time),
        };
        fields::write_managers(&mut new, &managers);
        let created = old.is_none();
        Ok((state.write(rt, ns, name, old.as_ref(), new), created))
    }
}

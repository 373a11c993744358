//! The cluster state: every object, the global resourceVersion, the event
//! history that watches replay from, and the write path every change takes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::fields::{self, Writer};
use crate::patch::{self, PatchType};
use crate::resources::{self, ResKey, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub res: ResKey,
    pub kind: EventType,
    pub object: Value,
    /// The object before a modification, so label-filtered watches can tell
    /// an object leaving their selection.
    pub old: Option<Value>,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Main,
    Status,
    Scale,
}

impl Sub {
    fn name(self) -> Option<&'static str> {
        match self {
            Sub::Main => None,
            Sub::Status => Some("status"),
            Sub::Scale => Some("scale"),
        }
    }
}

/// Who writes and how.
#[derive(Debug, Clone, Default)]
pub struct WriteCtx {
    pub manager: String,
    /// Whether the request named its manager (`?fieldManager=`); apply
    /// requires it.
    pub manager_given: bool,
    pub force: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

pub struct ListResult {
    pub items: Vec<Value>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

pub(crate) struct State {
    pub rv: u64,
    pub types: BTreeMap<ResKey, ResourceType>,
    pub objects: BTreeMap<ResKey, BTreeMap<(String, String), Value>>,
    log: VecDeque<Arc<Event>>,
    /// Watches from a resourceVersion below this are answered 410 Gone.
    log_start_rv: u64,
    history: usize,
    watchers: broadcast::Sender<Arc<Event>>,
    controllers: Option<mpsc::UnboundedSender<Arc<Event>>>,
    pub dirty: bool,
}

pub struct Cluster {
    state: Mutex<State>,
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn key(ns: &str, name: &str) -> (String, String) {
    (ns.to_owned(), name.to_owned())
}

fn ns_of(rt: &ResourceType, ns: Option<&str>) -> String {
    if rt.namespaced {
        ns.unwrap_or("").to_owned()
    } else {
        String::new()
    }
}

/// Resources whose objects carry `metadata.generation`.
fn tracks_generation(rt: &ResourceType) -> bool {
    rt.status && !(rt.group.is_empty() && rt.plural == "namespaces")
        || !resources::builtins().iter().any(|b| b.key() == rt.key())
}

/// Everything outside metadata and status: a change here bumps generation.
fn spec_part(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    out
}

/// An object without the bookkeeping that changes on every write.
fn comparable(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            for entry in entries {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    out
}

fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn is_namespace(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "namespaces"
}

fn namespace_finalizers(object: &Value) -> usize {
    object["spec"]["finalizers"].as_array().map_or(0, Vec::len)
}

fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| GENERATE_ALPHABET[*b as usize % GENERATE_ALPHABET.len()] as char)
        .collect()
}

impl State {
    fn new(history: usize) -> State {
        let (watchers, _) = broadcast::channel(4096);
        let mut state = State {
            rv: 1,
            types: BTreeMap::new(),
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_start_rv: 1,
            history,
            watchers,
            controllers: None,
            dirty: false,
        };
        for rt in resources::builtins() {
            state.types.insert(rt.key(), rt);
        }
        state
    }

    fn emit(&mut self, res: ResKey, kind: EventType, object: Value, old: Option<Value>) {
        let event = Arc::new(Event {
            rv: self.rv,
            res,
            kind,
            object,
            old,
        });
        self.log.push_back(event.clone());
        while self.log.len() > self.history {
            if let Some(dropped) = self.log.pop_front() {
                self.log_start_rv = dropped.rv;
            }
        }
        self.dirty = true;
        let _ = self.watchers.send(event.clone());
        if let Some(controllers) = &self.controllers {
            let _ = controllers.send(event);
        }
    }

    /// Forgets the event history, after loading a snapshot: watches from
    /// before it must relist.
    pub(crate) fn reset_history(&mut self) {
        self.log.clear();
        self.log_start_rv = self.rv;
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&rt.key())?.get(&key(ns, name))
    }

    pub fn namespace_exists(&self, ns: &str) -> Option<&Value> {
        self.objects
            .get(&(String::new(), "namespaces".to_owned()))?
            .get(&key("", ns))
    }

    /// The one write path. A no-op write changes nothing and emits nothing.
    /// An object marked for deletion whose finalizers are all gone is removed.
    pub fn write(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Option<&Value>,
        mut new: Value,
    ) -> Value {
        if let Some(old) = old {
            if tracks_generation(rt) {
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let bumped = if spec_part(old) != spec_part(&new) {
                    generation + 1
                } else {
                    generation
                };
                meta_mut(&mut new).insert("generation".to_owned(), json!(bumped));
            }
            if comparable(old) == comparable(&new) {
                return old.clone();
            }
        }
        let deleting = new["metadata"]["deletionTimestamp"].is_string();
        let finalized =
            finalizers(&new).is_empty() && (!is_namespace(rt) || namespace_finalizers(&new) == 0);
        self.rv += 1;
        meta_mut(&mut new).insert("resourceVersion".to_owned(), json!(self.rv.to_string()));
        if deleting && finalized {
            self.objects
                .entry(rt.key())
                .or_default()
                .remove(&key(ns, name));
            self.emit(rt.key(), EventType::Deleted, new.clone(), None);
            return new;
        }
        self.objects
            .entry(rt.key())
            .or_default()
            .insert(key(ns, name), new.clone());
        match old {
            None => self.emit(rt.key(), EventType::Added, new.clone(), None),
            Some(old) => self.emit(
                rt.key(),
                EventType::Modified,
                new.clone(),
                Some(old.clone()),
            ),
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.register_crd(&new);
        }
        new
    }

    pub(crate) fn register_crd(&mut self, crd: &Value) {
        if let Some(defined) = resources::from_crd(crd) {
            self.types.insert(defined.key(), defined);
        }
    }

    fn remove_now(&mut self, rt: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        let mut object = self.objects.get_mut(&rt.key())?.remove(&key(ns, name))?;
        self.rv += 1;
        meta_mut(&mut object).insert("resourceVersion".to_owned(), json!(self.rv.to_string()));
        self.emit(rt.key(), EventType::Deleted, object.clone(), None);
        if rt.group == "apiextensions.k8s.io"
            && rt.plural == "customresourcedefinitions"
            && let Some(defined) = resources::from_crd(&object)
        {
            self.types.remove(&defined.key());
            self.objects.remove(&defined.key());
        }
        Some(object)
    }

    /// Deletes with finalizers, propagation and namespace semantics.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let old = self
            .get(rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let uid = old["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        if let Some(expected) = &opts.precondition_uid
            && *expected != uid
        {
            return Err(ApiError {
                message: format!(
                    "Precondition failed: UID in precondition: {expected}, UID in object meta: {uid}"
                ),
                ..ApiError::conflict(rt, name)
            });
        }
        if let Some(expected) = &opts.precondition_rv
            && Some(expected.as_str()) != old["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError {
                message: format!(
                    "Precondition failed: ResourceVersion in precondition: {expected}, ResourceVersion in object meta: {}",
                    old["metadata"]["resourceVersion"].as_str().unwrap_or("")
                ),
                ..ApiError::conflict(rt, name)
            });
        }
        let mut new = old.clone();
        let policy = opts.propagation.as_deref().unwrap_or("Background");
        if policy == "Orphan" {
            self.orphan_dependents(&uid);
        }
        if policy == "Foreground" && self.has_dependents(&uid) {
            let finalizers = meta_mut(&mut new)
                .entry("finalizers")
                .or_insert_with(|| json!([]));
            if let Some(list) = finalizers.as_array_mut()
                && !list.iter().any(|f| f == "foregroundDeletion")
            {
                list.push(json!("foregroundDeletion"));
            }
        }
        if is_namespace(rt) {
            new["status"]["phase"] = json!("Terminating");
        }
        let blocked =
            !finalizers(&new).is_empty() || (is_namespace(rt) && namespace_finalizers(&new) > 0);
        if blocked {
            let meta = meta_mut(&mut new);
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".to_owned(), json!(now()));
                meta.insert("deletionGracePeriodSeconds".to_owned(), json!(0));
            }
            return Ok(self.write(rt, ns, name, Some(&old), new));
        }
        self.remove_now(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    fn dependents(&self, uid: &str) -> Vec<(ResourceType, String, String)> {
        let mut out = Vec::new();
        for (res, objects) in &self.objects {
            let Some(rt) = self.types.get(res) else {
                continue;
            };
            for ((ns, name), object) in objects {
                let owned = object["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["uid"].as_str() == Some(uid));
                if owned {
                    out.push((rt.clone(), ns.clone(), name.clone()));
                }
            }
        }
        out
    }

    pub fn has_dependents(&self, uid: &str) -> bool {
        !uid.is_empty() && !self.dependents(uid).is_empty()
    }

    /// Background deletion of everything `uid` owned.
    pub fn collect_garbage(&mut self, uid: &str) {
        for (rt, ns, name) in self.dependents(uid) {
            let already = self
                .get(&rt, &ns, &name)
                .is_some_and(|o| o["metadata"]["deletionTimestamp"].is_string());
            if !already {
                let _ = self.delete(&rt, &ns, &name, &DeleteOpts::default());
            }
        }
    }

    fn orphan_dependents(&mut self, uid: &str) {
        for (rt, ns, name) in self.dependents(uid) {
            if let Some(old) = self.get(&rt, &ns, &name).cloned() {
                let mut new = old.clone();
                if let Some(refs) = new["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"].as_str() != Some(uid));
                }
                if new["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
                {
                    meta_mut(&mut new).remove("ownerReferences");
                }
                self.write(&rt, &ns, &name, Some(&old), new);
            }
        }
    }

    /// Objects of every namespaced type in `ns`.
    pub fn namespace_contents(&self, ns: &str) -> Vec<(ResourceType, String, bool)> {
        let mut out = Vec::new();
        for (res, objects) in &self.objects {
            let Some(rt) = self.types.get(res) else {
                continue;
            };
            if !rt.namespaced {
                continue;
            }
            for ((object_ns, name), object) in objects {
                if object_ns == ns {
                    out.push((
                        rt.clone(),
                        name.clone(),
                        object["metadata"]["deletionTimestamp"].is_string(),
                    ));
                }
            }
        }
        out
    }
}

impl Cluster {
    pub fn new(history: usize) -> Cluster {
        let mut state = State::new(history);
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now(),
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            let rt = state.types[&(String::new(), "namespaces".to_owned())].clone();
            state.write(&rt, "", ns, None, object);
            let account = json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now()},
            });
            let rt = state.types[&(String::new(), "serviceaccounts".to_owned())].clone();
            state.write(&rt, ns, "default", None, account);
        }
        Cluster {
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data updated under the lock in small steps; a
        // panic mid-step cannot leave it worse than the step before.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn set_controllers(&self, tx: mpsc::UnboundedSender<Arc<Event>>) {
        self.lock().controllers = Some(tx);
    }

    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        let state = self.lock();
        state
            .types
            .get(&(group.to_owned(), plural.to_owned()))
            .filter(|rt| rt.version == version)
            .cloned()
    }

    pub fn types(&self) -> Vec<ResourceType> {
        self.lock().types.values().cloned().collect()
    }

    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let ns = ns_of(rt, ns);
        self.lock()
            .get(rt, &ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListResult, ApiError> {
        let state = self.lock();
        let start = match continue_token {
            Some(token) => Some(
                decode_continue(token)
                    .ok_or_else(|| ApiError::bad_request("invalid continue token"))?,
            ),
            None => None,
        };
        // Every match after the continue point, in key order; one more than
        // the limit tells whether another page follows.
        let matching: Vec<(&(String, String), &Value)> = state
            .objects
            .get(&rt.key())
            .into_iter()
            .flatten()
            .filter(|((object_ns, _), _)| !rt.namespaced || ns.is_none_or(|ns| ns == object_ns))
            .filter(|(k, _)| start.as_ref().is_none_or(|s| *k > s))
            .filter(|(_, object)| {
                labels.matches(object["metadata"]["labels"].as_object()) && fields.matches(object)
            })
            .collect();
        let take = limit.unwrap_or(matching.len()).min(matching.len());
        let items: Vec<Value> = matching[..take]
            .iter()
            .map(|(_, object)| (*object).clone())
            .collect();
        let rest = matching.len() - take;
        let (continue_token, remaining) = match (rest, take.checked_sub(1).map(|i| matching[i].0)) {
            (0, _) | (_, None) => (None, None),
            (rest, Some(last)) => (Some(encode_continue(last)), Some(rest)),
        };
        Ok(ListResult {
            items,
            rv: state.rv,
            continue_token,
            remaining,
        })
    }

    fn writer<'a>(ctx: &'a WriteCtx, sub: Sub, time: &'a str, api_version: &'a str) -> Writer<'a> {
        Writer {
            manager: &ctx.manager,
            api_version,
            subresource: sub.name(),
            time,
        }
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
            Sub::Status => {
                let mut new = old.clone();
                match body.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(map) = new.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
                if is_namespace(rt)
                    && let Some(spec) = body.get("spec")
                {
                    // PUT namespaces/{name}/finalize goes through here too.
                    new["spec"] = spec.clone();
                }
                new
            }
            Sub::Scale => {
                let replicas = body["spec"]["replicas"].as_i64().ok_or_else(|| {
                    ApiError::invalid(
                        rt,
                        name,
                        &[(
                            "spec.replicas".to_owned(),
                            "FieldValueRequired",
                            "Required value".to_owned(),
                        )],
                    )
                })?;
                if replicas < 0 {
                    return Err(ApiError::invalid(
                        rt,
                        name,
                        &[(
                            "spec.replicas".to_owned(),
                            "FieldValueInvalid",
                            format!(
                                "Invalid value: {replicas}: must be greater than or equal to 0"
                            ),
                        )],
                    ));
                }
                let mut new = old.clone();
                new["spec"]["replicas"] = json!(replicas);
                new
            }
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

    fn apply(
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

    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let ns = ns_of(rt, ns);
        self.lock().delete(rt, &ns, name, opts)
    }

    pub fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOpts,
    ) -> Result<Vec<Value>, ApiError> {
        let listed = self.list(rt, ns, labels, fields, None, None)?;
        let mut state = self.lock();
        let mut deleted = Vec::new();
        for object in listed.items {
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let object_ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if let Ok(gone) = state.delete(rt, &object_ns, &name, opts) {
                deleted.push(gone);
            }
        }
        Ok(deleted)
    }

    /// Starts a watch: the events to send first, and a receiver for what
    /// follows. Subscribing under the lock means no event falls in between.
    pub fn watch_start(
        &self,
        rt: &ResourceType,
        from: Option<u64>,
        send_initial: bool,
    ) -> Result<WatchStart, ApiError> {
        let state = self.lock();
        let receiver = state.watchers.subscribe();
        let mut initial = Vec::new();
        match from {
            Some(rv) if !send_initial => {
                if rv < state.log_start_rv {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        state.log_start_rv
                    )));
                }
                for event in state.log.iter().filter(|e| e.rv > rv && e.res == rt.key()) {
                    initial.push(event.clone());
                }
            }
            _ => {
                for object in state
                    .objects
                    .get(&rt.key())
                    .into_iter()
                    .flatten()
                    .map(|(_, o)| o)
                {
                    initial.push(Arc::new(Event {
                        rv: object["metadata"]["resourceVersion"]
                            .as_str()
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0),
                        res: rt.key(),
                        kind: EventType::Added,
                        object: object.clone(),
                        old: None,
                    }));
                }
            }
        }
        Ok(WatchStart {
            initial,
            receiver,
            rv: state.rv,
        })
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }
}

pub struct WatchStart {
    pub initial: Vec<Arc<Event>>,
    pub receiver: broadcast::Receiver<Arc<Event>>,
    pub rv: u64,
}

fn check_type(rt: &ResourceType, body: &mut Value) -> Result<(), ApiError> {
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

fn check_namespace_open(
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
fn carry_system_metadata(old: &Value, new: &mut Value) {
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
fn finish_create(rt: &ResourceType, ns: &str, name: &str, mut object: Value, time: &str) -> Value {
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

/// The `autoscaling/v1` Scale view of a scalable object.
pub fn scale_view(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"]},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

fn encode_continue(key: &(String, String)) -> String {
    let raw = format!("{}\u{0}{}", key.0, key.1);
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Option<(String, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let (ns, name) = raw.split_once('\u{0}')?;
    Some((ns.to_owned(), name.to_owned()))
}

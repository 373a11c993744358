//! The cluster state: every object, the global resourceVersion, the event
//! history that watches replay from, and the write path every change takes.
//!
//! This module holds the state and the `Cluster` handle around it (the
//! resource types, the namespaces a new cluster starts with); the rest is
//! one concern a file:
//! - `commit`: the one write path (resourceVersion, generation, no-op
//!   writes, CRDs registered and removed).
//! - `watch`: the event history every write appends to, and watches
//!   started from it.
//! - `objects`: get, create, update and patch, with the system fields and
//!   defaults the server sets.
//! - `list`: lists with selectors, `limit` and `continue` tokens.
//! - `apply`: server-side apply with `managedFields` and conflicts.
//! - `subresources`: the `status` and `scale` subresources.
//! - `delete`: deletion with preconditions, finalizers, propagation, and
//!   namespace termination.
//! - `gc`: garbage collection by ownerReferences.

mod apply;
mod commit;
mod delete;
mod gc;
mod list;
mod objects;
mod subresources;
mod watch;

use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::fields::Writer;
use crate::resources::{self, ResKey, ResourceType};

pub use delete::DeleteOpts;
pub use subresources::scale_view;
pub use watch::{Event, EventType};

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

fn is_namespace(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "namespaces"
}

fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
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

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&rt.key())?.get(&key(ns, name))
    }

    pub fn namespace_exists(&self, ns: &str) -> Option<&Value> {
        self.objects
            .get(&(String::new(), "namespaces".to_owned()))?
            .get(&key("", ns))
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
        self.state.lock()
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

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    fn writer<'a>(ctx: &'a WriteCtx, sub: Sub, time: &'a str, api_version: &'a str) -> Writer<'a> {
        Writer {
            manager: &ctx.manager,
            api_version,
            subresource: sub.name(),
            time,
        }
    }
}

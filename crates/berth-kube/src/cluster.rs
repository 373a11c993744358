//! The cluster as the reconciler sees it: watches on every object Berth
//! owns (labelled `berth.dev/space`), cached by space, so that checking a
//! converged space costs no API request; and the few writes a space needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch::Sender as WatchSender;

use crate::apply::ApplyError;
use crate::observed::{NamespaceState, Observation};
use crate::plan::{Change, SPACE_LABEL};
use crate::reach::Reach;

/// The kinds a space is made of: apiVersion, kind, plural, namespaced.
pub const SPACE_KINDS: &[(&str, &str, &str, bool)] = &[
    ("v1", "Namespace", "namespaces", false),
    ("v1", "ResourceQuota", "resourcequotas", true),
    ("v1", "LimitRange", "limitranges", true),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("v1", "ServiceAccount", "serviceaccounts", true),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
];

pub(crate) fn api_resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Objects of one space, by (kind, namespace, name), as compact JSON: a
/// parsed `Value` costs several times the memory, and at 10,000 spaces the
/// cache is most of the daemon's. A reconcile parses the few it reads.
type SpaceObjects = BTreeMap<(String, String, String), Box<str>>;

#[derive(Default)]
struct Cache {
    spaces: HashMap<String, SpaceObjects>,
    /// Which space each object is cached under, so a relabelled object is
    /// found without looking through every space.
    space_of: HashMap<(String, String, String), String>,
}

impl Cache {
    fn insert(
        &mut self,
        space: String,
        key: (String, String, String),
        value: Value,
    ) -> Option<String> {
        let before = self.space_of.insert(key.clone(), space.clone());
        let moved = before.filter(|old| old != &space);
        if let Some(old) = &moved
            && let Some(objects) = self.spaces.get_mut(old)
        {
            objects.remove(&key);
        }
        let compact = value.to_string().into_boxed_str();
        self.spaces.entry(space).or_default().insert(key, compact);
        moved
    }

    fn remove(&mut self, key: &(String, String, String)) -> Option<String> {
        let space = self.space_of.remove(key)?;
        if let Some(objects) = self.spaces.get_mut(&space) {
            objects.remove(key);
            if objects.is_empty() {
                self.spaces.remove(&space);
            }
        }
        Some(space)
    }
}

/// A Kubernetes API, with Berth's objects in it watched and cached.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    /// Whether the API answers the watches and the version check.
    reach: Arc<Reach>,
    cache: Arc<RwLock<Cache>>,
    /// How many kinds' watches have listed their objects once; it only
    /// grows, and waiters see each step (see [`Cluster::wait_synced`]).
    synced: WatchSender<usize>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("synced_kinds", &*self.synced.borrow())
            .finish()
    }
}

/// An object as the cache keeps it: JSON with its apiVersion and kind
/// (lists leave them out of items), without `managedFields`.
fn as_value(object: DynamicObject, resource: &ApiResource) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    value["apiVersion"] = json!(resource.api_version);
    value["kind"] = json!(resource.kind);
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    value
}

fn space_of(value: &Value) -> Option<String> {
    value["metadata"]["labels"][SPACE_LABEL]
        .as_str()
        .map(str::to_owned)
}

fn key_of(value: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (
        text(&value["kind"]),
        text(&value["metadata"]["namespace"]),
        text(&value["metadata"]["name"]),
    )
}

fn lock_err<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
}

/// Berth could not make a client for a Kubernetes API: the message says
/// what is missing and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

impl ConnectError {
    pub(crate) fn new(message: String) -> ConnectError {
        ConnectError(message)
    }
}

impl Cluster {
    /// The cluster the daemon runs in, through its pod's service account
    /// as mounted in `service_account_dir` (normally
    /// [`SERVICE_ACCOUNT_DIR`](crate::in_cluster::SERVICE_ACCOUNT_DIR)).
    pub async fn in_cluster(
        service_account_dir: &std::path::Path,
    ) -> Result<Cluster, ConnectError> {
        let (url, config) =
            crate::in_cluster::config(service_account_dir, |name| std::env::var(name).ok())?;
        Self::from_config(url, config)
    }

    /// The cluster a kubeconfig file names, with its current context or
    /// `context`.
    pub async fn from_kubeconfig(
        path: &std::path::Path,
        context: Option<&str>,
    ) -> Result<Cluster, ConnectError> {
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
            ConnectError(format!(
                "cannot read the kubeconfig {}: {}",
                path.display(),
                berth_core::error::chain(&e)
            ))
        })?;
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| {
                ConnectError(format!(
                    "the kubeconfig {} is not usable: {}",
                    path.display(),
                    berth_core::error::chain(&e)
                ))
            })?;
        let url = config.cluster_url.to_string();
        Self::from_config(url.trim_end_matches('/').to_owned(), config)
    }

    fn from_config(url: String, config: kube::Config) -> Result<Cluster, ConnectError> {
        let client = kube::Client::try_from(config).map_err(|e| {
            ConnectError(format!(
                "cannot make a Kubernetes client for {url}: {}",
                berth_core::error::chain(&e)
            ))
        })?;
        Ok(Cluster::at(client, url))
    }

    /// A cluster through `client`, whose API's URL is not known (messages
    /// say "the Kubernetes API" without one).
    pub fn new(client: kube::Client) -> Cluster {
        Cluster::with_reach(client, Reach::new(None))
    }

    /// A cluster through `client`, which reaches the API at `url`.
    pub fn at(client: kube::Client, url: String) -> Cluster {
        Cluster::with_reach(client, Reach::new(Some(url)))
    }

    fn with_reach(client: kube::Client, reach: Reach) -> Cluster {
        Cluster {
            client,
            reach: Arc::new(reach),
            cache: Arc::default(),
            synced: WatchSender::new(0),
        }
    }

    /// Whether the API answers the watches and the version check, and if
    /// not, why.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Starts a watch per kind; every change to an object of a space sends
    /// the space's name on `changed`. The tasks end when `changed` closes.
    pub fn start_watches(
        &self,
        changed: UnboundedSender<String>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        SPACE_KINDS
            .iter()
            .map(|(api_version, kind, plural, _)| {
                let resource = api_resource(api_version, kind, plural);
                // Namespaced kinds are watched across all namespaces: one
                // watch per kind, not per space.
                let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
                let cluster = self.clone();
                let changed = changed.clone();
                tokio::spawn(async move {
                    cluster.follow(api, resource, changed).await;
                })
            })
            .collect()
    }

    async fn follow(
        &self,
        api: Api<DynamicObject>,
        resource: ApiResource,
        changed: UnboundedSender<String>,
    ) {
        let config = watcher::Config::default().labels(SPACE_LABEL);
        let mut events = watch(api, config).default_backoff().boxed();
        let mut buffer: Vec<Value> = Vec::new();
        let mut synced_once = false;
        let during = format!("the {} watch", resource.kind);
        while let Some(event) = events.next().await {
            // `Init` starts each (re)list, before any request: only what
            // came from the API shows that it answers.
            if matches!(event, Ok(ref e) if !matches!(e, Event::Init)) {
                self.reach.answered();
            }
            let touched: Vec<String> = match event {
                Ok(Event::Apply(object)) => {
                    let value = as_value(object, &resource);
                    let key = key_of(&value);
                    let mut cache = self.cache.write().unwrap_or_else(lock_err);
                    match space_of(&value) {
                        Some(space) => {
                            // An object whose label moved leaves its old space.
                            let moved = cache.insert(space.clone(), key, value);
                            moved.into_iter().chain([space]).collect()
                        }
                        // Its label was removed: it is no longer Berth's.
                        None => cache.remove(&key).into_iter().collect(),
                    }
                }
                Ok(Event::Delete(object)) => {
                    let value = as_value(object, &resource);
                    let mut cache = self.cache.write().unwrap_or_else(lock_err);
                    cache.remove(&key_of(&value)).into_iter().collect()
                }
                Ok(Event::Init) => {
                    buffer.clear();
                    continue;
                }
                Ok(Event::InitApply(object)) => {
                    buffer.push(as_value(object, &resource));
                    continue;
                }
                Ok(Event::InitDone) => {
                    // A full relist: replace this kind's objects everywhere.
                    let mut cache = self.cache.write().unwrap_or_else(lock_err);
                    let stale: Vec<_> = cache
                        .space_of
                        .keys()
                        .filter(|(kind, _, _)| kind == &resource.kind)
                        .cloned()
                        .collect();
                    let mut touched = HashSet::new();
                    for key in stale {
                        touched.extend(cache.remove(&key));
                    }
                    for value in buffer.drain(..) {
                        if let Some(space) = space_of(&value) {
                            touched.insert(space.clone());
                            let key = key_of(&value);
                            cache.insert(space, key, value);
                        }
                    }
                    if !synced_once {
                        synced_once = true;
                        self.synced.send_modify(|kinds| *kinds += 1);
                    }
                    touched.into_iter().collect()
                }
                // A watch resumed from a resourceVersion the API no longer
                // keeps: routine; the watcher lists again.
                Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                    tracing::debug!(kind = %resource.kind, message = %status.message, "watch expired; listing again");
                    continue;
                }
                Err(
                    watcher::Error::InitialListFailed(err)
                    | watcher::Error::WatchStartFailed(err)
                    | watcher::Error::WatchFailed(err),
                ) => {
                    // Logged once per cause across every watch (see
                    // `reach`); the watcher retries with backoff.
                    self.reach.failed(&during, &err);
                    continue;
                }
                Err(watcher::Error::WatchError(status)) => {
                    self.reach.failed(&during, &kube::Error::Api(status));
                    continue;
                }
                Err(err @ watcher::Error::NoResourceVersion) => {
                    tracing::warn!(kind = %resource.kind, error = %berth_core::error::chain(&err), "watch failed; retrying with backoff");
                    continue;
                }
            };
            for space in touched {
                if changed.send(space).is_err() {
                    return;
                }
            }
        }
    }

    /// Whether every watch has listed its objects once.
    pub fn synced(&self) -> bool {
        *self.synced.borrow() == SPACE_KINDS.len()
    }

    /// Resolves once every watch has listed its objects (at once if they
    /// have): before that the cache would say every object is missing.
    pub async fn wait_synced(&self) {
        // The sender lives in `self`, so the channel cannot close while
        // this waits and `wait_for` cannot fail.
        let _ = self
            .synced
            .subscribe()
            .wait_for(|kinds| *kinds == SPACE_KINDS.len())
            .await;
    }

    /// The objects of `space` the watches have seen, whole: its namespace
    /// and the labelled objects in it, as [`changes`](crate::changes)
    /// reads them.
    pub fn observed(&self, space: &str) -> Vec<Value> {
        self.cache
            .read()
            .unwrap_or_else(lock_err)
            .spaces
            .get(space)
            .map(|objects| {
                objects
                    .values()
                    .filter_map(|text| serde_json::from_str(text).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the watches have seen of `space`, typed: its namespace and
    /// quota, beside the whole objects.
    pub fn observation(&self, space: &str) -> Observation {
        Observation::of(self.observed(space))
    }

    /// How many spaces have objects in the cache.
    pub fn cached_spaces(&self) -> usize {
        self.cache.read().unwrap_or_else(lock_err).spaces.len()
    }

    pub(crate) fn namespaces(&self) -> Api<DynamicObject> {
        Api::all_with(
            self.client.clone(),
            &api_resource("v1", "Namespace", "namespaces"),
        )
    }

    /// The namespace `name` as the API holds it now (not the cache), or
    /// none.
    pub async fn namespace(&self, name: &str) -> Result<Option<NamespaceState>, ApplyError> {
        let found = self
            .namespaces()
            .get_opt(name)
            .await
            .map_err(kube_error("Namespace", name))?;
        Ok(found.map(|ns| {
            NamespaceState::of(&as_value(
                ns,
                &api_resource("v1", "Namespace", "namespaces"),
            ))
        }))
    }

    /// Server-side applies each change as Berth's field manager.
    pub async fn apply(&self, changes: &[Change]) -> Result<usize, ApplyError> {
        crate::apply::apply_changes(&self.client, changes).await
    }

    /// Deletes the namespace `name` (and so everything in it).
    pub async fn delete_namespace(&self, name: &str) -> Result<(), ApplyError> {
        match self
            .namespaces()
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(kube_error("Namespace", name)(source)),
        }
    }

    pub(crate) fn workloads(
        &self,
        namespace: &str,
        kind: &str,
        api_version: &str,
        plural: &str,
    ) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            namespace,
            &api_resource(api_version, kind, plural),
        )
    }

    /// The object `name` of `api` (objects of `kind`), whole; none when
    /// there is no such object.
    pub(crate) async fn get_whole(
        &self,
        api: &Api<DynamicObject>,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, ApplyError> {
        api.get_opt(name)
            .await
            .map(|found| found.map(|o| serde_json::to_value(o).unwrap_or_default()))
            .map_err(kube_error(kind, name))
    }

    async fn list(
        &self,
        api: &Api<DynamicObject>,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<DynamicObject>, ApplyError> {
        Ok(api
            .list(&ListParams::default())
            .await
            .map_err(kube_error(kind, namespace))?
            .items)
    }

    /// A Deployment or StatefulSet (`kind` as `deployment`), whole; none
    /// when there is no such workload.
    pub async fn workload(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, ApplyError> {
        let (kind, plural) = dev_kind(kind)?;
        let api = self.workloads(namespace, kind, "apps/v1", plural);
        self.get_whole(&api, kind, name).await
    }

    /// The Deployments and StatefulSets of a namespace, whole.
    pub async fn list_workloads(&self, namespace: &str) -> Result<Vec<Value>, ApplyError> {
        let mut out = Vec::new();
        for (_, kind, plural) in crate::dev::DEV_KINDS {
            let api = self.workloads(namespace, kind, "apps/v1", plural);
            for object in self.list(&api, kind, namespace).await? {
                let mut value = serde_json::to_value(object).unwrap_or_default();
                value["kind"] = json!(kind);
                out.push(value);
            }
        }
        Ok(out)
    }

    /// Creates or replaces a Secret with these string values.
    pub async fn put_secret(
        &self,
        namespace: &str,
        name: &str,
        labels: BTreeMap<String, String>,
        data: BTreeMap<String, String>,
    ) -> Result<(), ApplyError> {
        self.put(
            namespace,
            ("Secret", "secrets"),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "type": "Opaque",
                "stringData": data,
            }),
        )
        .await
    }

    /// Deletes a Secret; one that is not there is fine.
    pub async fn delete_secret(&self, namespace: &str, name: &str) -> Result<(), ApplyError> {
        self.delete(namespace, ("Secret", "secrets"), name).await
    }

    /// Creates a PersistentVolumeClaim (ReadWriteOnce, of `size_gib`, of
    /// the storage class or the cluster's default), or applies the same
    /// again. A claim's class cannot change, and its size only grow where
    /// the class allows: the API's refusal then says so.
    pub async fn put_volume_claim(
        &self,
        namespace: &str,
        name: &str,
        labels: BTreeMap<String, String>,
        size_gib: u32,
        storage_class: Option<&str>,
    ) -> Result<(), ApplyError> {
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": format!("{size_gib}Gi")}},
        });
        if let Some(class) = storage_class {
            spec["storageClassName"] = json!(class);
        }
        self.put(
            namespace,
            ("PersistentVolumeClaim", "persistentvolumeclaims"),
            json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": spec,
            }),
        )
        .await
    }

    /// Deletes a PersistentVolumeClaim (the cluster then reclaims its
    /// volume by its policy); one that is not there is fine.
    pub async fn delete_volume_claim(&self, namespace: &str, name: &str) -> Result<(), ApplyError> {
        self.delete(
            namespace,
            ("PersistentVolumeClaim", "persistentvolumeclaims"),
            name,
        )
        .await
    }

    /// Server-side applies one core (`v1`) object as Berth's field manager.
    async fn put(
        &self,
        namespace: &str,
        (kind, plural): (&str, &str),
        object: Value,
    ) -> Result<(), ApplyError> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let api = self.workloads(namespace, kind, "v1", plural);
        let object: DynamicObject =
            serde_json::from_value(object).map_err(|e| ApplyError::Malformed(e.to_string()))?;
        api.patch(
            &name,
            &PatchParams::apply(crate::FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map(|_| ())
        .map_err(kube_error(kind, &name))
    }

    /// Deletes one core (`v1`) object; one that is not there is fine.
    async fn delete(
        &self,
        namespace: &str,
        (kind, plural): (&str, &str),
        name: &str,
    ) -> Result<(), ApplyError> {
        let api = self.workloads(namespace, kind, "v1", plural);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(source) => Err(kube_error(kind, name)(source)),
        }
    }
}

/// What a failed request about `kind` `name` becomes.
pub(crate) fn kube_error<'a>(
    kind: &'a str,
    name: &'a str,
) -> impl FnOnce(kube::Error) -> ApplyError + 'a {
    move |source| ApplyError::Kube {
        kind: kind.to_owned(),
        name: name.to_owned(),
        source,
    }
}

/// The Kubernetes kind and plural for `deployment` or `statefulset`.
pub(crate) fn dev_kind(kind: &str) -> Result<(&'static str, &'static str), ApplyError> {
    crate::dev::DEV_KINDS
        .iter()
        .find(|(short, long, _)| *short == kind || *long == kind)
        .map(|(_, long, plural)| (*long, *plural))
        .ok_or_else(|| {
            ApplyError::Malformed(format!(
                "{kind} is not a kind dev mode takes (deployment or statefulset)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_of_the_same_name_in_two_spaces_are_both_kept() {
        let a =
            json!({"kind": "ResourceQuota", "metadata": {"name": "berth-quota", "namespace": "a"}});
        let b =
            json!({"kind": "ResourceQuota", "metadata": {"name": "berth-quota", "namespace": "b"}});
        assert_ne!(key_of(&a), key_of(&b));
    }
}

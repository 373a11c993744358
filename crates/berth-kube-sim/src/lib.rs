//! A Kubernetes API simulator that speaks the real REST protocol over HTTP,
//! so kube-rs clients, watchers and controllers run against it unchanged. It
//! is the test target of every Kubernetes test in Berth, and the embedded
//! cluster that lets `berthd serve` do its whole job with no cluster.
//!
//! Invariant: every behaviour a test relies on here is one a real API server
//! has; the conformance suite (`tests/it`) asserts each of them through
//! [`testing::TestCluster`], which targets a real cluster when
//! `BERTH_TEST_KUBECONFIG` is set. Where the simulator deliberately differs,
//! it says so below.
//!
//! # What it simulates
//! - Discovery (`/api`, `/apis`, group versions), `/version`, `/healthz`,
//!   and `/openapi/v3` (each group/version's paths and kinds, so clients
//!   such as Helm leave field validation to the server).
//! - JSON request bodies, and the protobuf bodies client-go sends for
//!   Secrets, ConfigMaps, Namespaces and DeleteOptions (Helm keeps its
//!   releases as Secrets); answers are JSON.
//! - Create, get, list (label selectors with every operator, field selectors
//!   on `metadata.name`/`metadata.namespace`, `limit`/`continue`), update,
//!   delete, deletecollection, for the built-in kinds Berth uses and any
//!   CustomResourceDefinition created at run time.
//! - Watches from a resourceVersion with bookmarks, `timeoutSeconds`,
//!   `sendInitialEvents`, and a 410 Expired for a resourceVersion older than
//!   the retained history.
//! - Optimistic concurrency, `generateName`, `uid`, `creationTimestamp`,
//!   `generation` bumped on spec changes only, `status` and `scale`
//!   subresources.
//! - JSON merge patch, JSON patch, strategic merge patch (lists merged by
//!   their merge keys and ordered as the API server orders them, new items
//!   first; `$patch`, `$retainKeys`, `$setElementOrder` and
//!   `$deleteFromPrimitiveList`), and server-side apply with
//!   `managedFields` and field-manager conflicts unless forced.
//! - `/version` reports Kubernetes 1.33 ([`SimOptions::kubernetes_minor`]
//!   makes it an older release, without the kinds that release lacked).
//! - Deletion with finalizers, propagation policies and ownerReference
//!   garbage collection; namespace termination (`Terminating`, contents
//!   deleted, new content refused).
//! - Fault injection ([`Simulator::faults`]): refused requests with any
//!   status, slow answers, and watches cut off mid-stream.
//! - Controllers: each namespace's `default` ServiceAccount, workload status
//!   following `spec.replicas` (with a Deployment's `Available` and
//!   `Progressing` conditions, which `helm --wait` reads), ResourceQuota
//!   `status.used`, and Job
//!   completion driven by the embedder ([`Simulator::finish_job`]).
//!
//! # Where it differs from a real API server
//! - No authentication or authorization: every request is allowed, so RBAC
//!   rules are stored but not enforced (a chart that creates cluster-scoped
//!   objects from a namespaced ServiceAccount succeeds here).
//! - No pods are created for workloads; their status reports the requested
//!   replicas as ready at once. Jobs finish only when the embedder says so.
//! - The `/openapi/v3` documents carry no schemas, and `fieldValidation` is
//!   not enforced: an unknown field is kept where a real server (with
//!   `Strict`, and always for server-side apply) refuses it.
//! - Protobuf bodies of other kinds are refused (415, saying to send JSON).
//! - No admission webhooks, no defaulting beyond a few fields (replicas,
//!   Service type and clusterIP, namespace finalizers), no OpenAPI schema
//!   validation of custom resources, and no `kube-root-ca.crt` ConfigMap.
//! - `continue` tokens page through the current state, not a snapshot taken
//!   at the first page.
//! - One version is served per resource; CRD conversion is not simulated.
//! - Server-side apply treats lists without a merge key as atomic and knows
//!   merge keys by field name (containers, env, volumes, volumeMounts, ports,
//!   ownerReferences, conditions ...), not from the OpenAPI schema; strategic
//!   merge patch likewise knows each list's strategy by its field's name and
//!   the field holding it, not from the Go types' struct tags, and accepts a
//!   strategic merge patch of a custom resource (a real server answers 415).
//! - Bookmarks are sent every second (a real server sends them about every
//!   minute), which keeps watch-based tests quick.
//! - A create that carries `metadata.resourceVersion` has it ignored (a real
//!   server refuses it).

mod controllers;
mod error;
mod faults;
mod fields;
mod http;
mod patch;
mod persist;
mod protobuf;
mod quantity;
mod resources;
mod selectors;
mod store;
mod strategic;
mod validate;

pub mod testing;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

pub use error::ApiError;
pub use faults::Faults;
use store::{Cluster, WriteCtx};

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Persist the state as a JSON snapshot here, and load it at start.
    pub persist_to: Option<PathBuf>,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// How many events watches can resume from before they get 410 Gone.
    pub event_history: usize,
    /// Jobs complete as soon as they are made, as if their pods had run
    /// and succeeded (the daemon's embedded cluster, which runs no pods, so
    /// that Helm's hook Jobs and `--wait` go on). Off: Jobs stay running
    /// until a test finishes them (`Simulator::finish_job`).
    pub complete_jobs: bool,
    /// The Kubernetes release reported at `/version`, 1.`kubernetes_minor`
    /// (default [`KUBERNETES_MINOR`]). Built-in kinds that release did not
    /// serve yet (`batch/v1` CronJobs before 1.21) are left out, so a
    /// client's check of an old server can be tested.
    pub kubernetes_minor: u32,
}

/// The Kubernetes release the simulator reports by default: 1.33, at or
/// above the oldest Berth supports.
pub const KUBERNETES_MINOR: u32 = 33;

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            persist_to: None,
            bookmark_interval: Duration::from_secs(1),
            event_history: 10_000,
            complete_jobs: false,
            kubernetes_minor: KUBERNETES_MINOR,
        }
    }
}

pub(crate) struct Shared {
    pub cluster: Arc<Cluster>,
    pub options: SimOptions,
    pub faults: Faults,
    pub requests: RequestCounter,
}

/// How many requests of each sort the simulator has answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// GETs that are not watches: reads and lists.
    pub reads: u64,
    /// Watches opened.
    pub watches: u64,
    /// POST, PUT, PATCH and DELETE.
    pub writes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct RequestCounter {
    reads: std::sync::atomic::AtomicU64,
    watches: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

impl RequestCounter {
    pub(crate) fn count(&self, method: &axum::http::Method, watch: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = match *method {
            axum::http::Method::GET if watch => &self.watches,
            axum::http::Method::GET | axum::http::Method::HEAD => &self.reads,
            _ => &self.writes,
        };
        counter.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> RequestCounts {
        use std::sync::atomic::Ordering::Relaxed;
        RequestCounts {
            reads: self.reads.load(Relaxed),
            watches: self.watches.load(Relaxed),
            writes: self.writes.load(Relaxed),
        }
    }
}

/// A running simulator on `127.0.0.1`. Dropping it stops the server.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Simulator {
    /// Starts a simulator on a free loopback port on the current runtime.
    pub async fn start(options: SimOptions) -> anyhow::Result<Simulator> {
        let cluster = Arc::new(Cluster::new(options.event_history));
        cluster
            .lock()
            .types
            .retain(|_, rt| resources::served_since(rt) <= options.kubernetes_minor);
        if let Some(path) = &options.persist_to {
            persist::load(&cluster, path)?;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        cluster.set_controllers(tx);
        let mut tasks = vec![tokio::spawn(controllers::run(
            cluster.clone(),
            rx,
            options.complete_jobs,
        ))];
        if let Some(path) = options.persist_to.clone() {
            tasks.push(tokio::spawn(persist::run(
                cluster.clone(),
                path,
                Duration::from_millis(200),
            )));
        }
        let shared = Arc::new(Shared {
            cluster,
            options,
            faults: Faults::default(),
            requests: RequestCounter::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the simulator to a loopback port")?;
        let addr = listener.local_addr()?;
        let router = http::router(shared.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!(error = %err, "the Kubernetes simulator stopped");
            }
        }));
        Ok(Simulator {
            shared,
            addr,
            tasks,
        })
    }

    /// The requests answered so far, by sort: what a client cost the API.
    pub fn requests(&self) -> RequestCounts {
        self.shared.requests.snapshot()
    }

    /// Faults to inject into the requests that follow.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube-rs client for this simulator, with `default` as its namespace.
    pub fn client(&self) -> anyhow::Result<kube::Client> {
        let uri = self.url().parse().context("simulator URL")?;
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).context("cannot build a client for the simulator")
    }

    /// A kubeconfig for tools that need one (helm, kubectl).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: berth-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: berth-sim\n  context:\n    cluster: berth-sim\n    user: berth-sim\n    namespace: default\ncurrent-context: berth-sim\nusers:\n- name: berth-sim\n  user: {{}}\n",
            url = self.url()
        )
    }

    /// Finishes a Job the way the Job controller would once its pods ended:
    /// `Complete` when `succeeded`, otherwise `Failed` with `message`.
    pub fn finish_job(
        &self,
        namespace: &str,
        name: &str,
        succeeded: bool,
        message: &str,
    ) -> Result<Value, ApiError> {
        let cluster = &self.shared.cluster;
        let jobs = cluster
            .resolve("batch", "v1", "jobs")
            .ok_or_else(|| ApiError::internal("jobs are not served"))?;
        let time = store::now();
        let condition = if succeeded {
            json!({"type": "Complete", "status": "True", "lastProbeTime": time, "lastTransitionTime": time, "reason": "Completed", "message": message})
        } else {
            json!({"type": "Failed", "status": "True", "lastProbeTime": time, "lastTransitionTime": time, "reason": "BackoffLimitExceeded", "message": message})
        };
        let mut status = json!({"startTime": time, "conditions": [condition]});
        if succeeded {
            status["succeeded"] = json!(1);
            status["completionTime"] = json!(time);
        } else {
            status["failed"] = json!(1);
        }
        let ctx = WriteCtx {
            manager: "job-controller".to_owned(),
            manager_given: true,
            force: false,
        };
        cluster
            .patch(
                &jobs,
                Some(namespace),
                name,
                patch::PatchType::Merge,
                json!({"status": status}),
                &ctx,
                store::Sub::Status,
            )
            .map(|(job, _)| job)
    }

    /// Creates an object (a user's Deployment, say) as `kubectl create`
    /// would; the plural is the kind's, lowercased, with an `s`.
    pub async fn create_object(&self, object: serde_json::Value) -> anyhow::Result<()> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let resource = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(group, version, &kind),
            &format!("{}s", kind.to_ascii_lowercase()),
        );
        let client = self.client()?;
        let api: kube::Api<kube::core::DynamicObject> = match &namespace {
            Some(ns) => kube::Api::namespaced_with(client, ns, &resource),
            None => kube::Api::all_with(client, &resource),
        };
        api.create(&Default::default(), &serde_json::from_value(object)?)
            .await?;
        Ok(())
    }

    /// Reads an object as `kubectl get -o json` would; none when it is not
    /// there. The plural is the kind's, lowercased, with an `s`.
    pub async fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(group, version, kind),
            &format!("{}s", kind.to_ascii_lowercase()),
        );
        let api: kube::Api<kube::core::DynamicObject> =
            kube::Api::namespaced_with(self.client()?, namespace, &resource);
        Ok(api
            .get_opt(name)
            .await?
            .map(serde_json::to_value)
            .transpose()?)
    }

    /// Writes the snapshot now, if persistence is on.
    pub fn persist_now(&self) -> anyhow::Result<()> {
        match &self.shared.options.persist_to {
            Some(path) => persist::flush(&self.shared.cluster, path),
            None => Ok(()),
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.persist_now();
        for task in &self.tasks {
            task.abort();
        }
    }
}

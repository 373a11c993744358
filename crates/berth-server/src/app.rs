//! The application state shared by every handler.

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

use berth_apps::Apps;
use berth_auth::Auth;
use berth_catalog::Catalog;
use berth_core::{BuildInfo, ComponentStatus, ReadinessReport};
use berth_dev::Dev;
use berth_relay::Relay;
use berth_spaces::{Endpoints, Spaces};
use berth_store::Store;

use crate::metrics::HttpMetrics;

/// Everything a request may need. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    build: BuildInfo,
    store: Arc<Store>,
    auth: Arc<Auth>,
    spaces: Arc<Spaces>,
    endpoints: Arc<Endpoints>,
    relay: Arc<Relay>,
    dev: Arc<Dev>,
    catalog: Arc<Catalog>,
    apps: Arc<Apps>,
    public_url: String,
    kube_access: berth_core::space::KubeAccess,
    secure_cookies: bool,
    readiness: Readiness,
    metrics: HttpMetrics,
    prometheus: prometheus::Registry,
}

/// What the daemon hands the server.
pub struct AppParts {
    pub store: Arc<Store>,
    pub auth: Arc<Auth>,
    pub spaces: Arc<Spaces>,
    /// Services served at their own host through berthd's proxy.
    pub endpoints: Arc<Endpoints>,
    pub relay: Arc<Relay>,
    pub dev: Arc<Dev>,
    pub catalog: Arc<Catalog>,
    pub apps: Arc<Apps>,
    /// The URL users reach the daemon at; redirect URIs are built from it.
    pub public_url: String,
    /// Where kubectl reaches the Kubernetes API proxy.
    pub kube_access: berth_core::space::KubeAccess,
    pub metrics: HttpMetrics,
    pub prometheus: prometheus::Registry,
}

impl App {
    /// The `server` component starts ready; the daemon marks it not ready
    /// while it drains.
    pub fn new(parts: AppParts) -> App {
        let readiness = Readiness::default();
        readiness.set("server", ComponentStatus::Ready);
        let public_url = parts.public_url.trim_end_matches('/').to_owned();
        let secure_cookies = parts
            .auth
            .config()
            .secure_cookies
            .unwrap_or_else(|| public_url.starts_with("https://"));
        App {
            inner: Arc::new(Inner {
                build: BuildInfo::current(),
                store: parts.store,
                auth: parts.auth,
                spaces: parts.spaces,
                endpoints: parts.endpoints,
                relay: parts.relay,
                dev: parts.dev,
                catalog: parts.catalog,
                apps: parts.apps,
                public_url,
                kube_access: parts.kube_access,
                secure_cookies,
                readiness,
                metrics: parts.metrics,
                prometheus: parts.prometheus,
            }),
        }
    }

    pub fn auth(&self) -> &Arc<Auth> {
        &self.inner.auth
    }

    pub fn spaces(&self) -> &Arc<Spaces> {
        &self.inner.spaces
    }

    pub fn endpoints(&self) -> &Arc<Endpoints> {
        &self.inner.endpoints
    }

    pub fn relay(&self) -> &Arc<Relay> {
        &self.inner.relay
    }

    pub fn dev(&self) -> &Arc<Dev> {
        &self.inner.dev
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.inner.catalog
    }

    pub fn apps(&self) -> &Arc<Apps> {
        &self.inner.apps
    }

    pub fn audit(&self) -> &Arc<berth_audit::Audit> {
        self.inner.auth.audit()
    }

    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    pub(crate) fn kube_access(&self) -> &berth_core::space::KubeAccess {
        &self.inner.kube_access
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies
    }

    pub fn build(&self) -> &BuildInfo {
        &self.inner.build
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// Subsystems report whether they can serve here.
    pub fn readiness(&self) -> &Readiness {
        &self.inner.readiness
    }

    pub(crate) fn metrics(&self) -> &HttpMetrics {
        &self.inner.metrics
    }

    pub(crate) fn prometheus(&self) -> &prometheus::Registry {
        &self.inner.prometheus
    }

    /// The readiness of every subsystem, with the store checked live.
    pub fn readiness_report(&self) -> ReadinessReport {
        let mut components = self.inner.readiness.snapshot();
        let store = match self.inner.store.check() {
            Ok(()) => ComponentStatus::Ready,
            Err(err) => {
                tracing::warn!(error = %berth_core::error::chain(&err), "store check failed");
                ComponentStatus::NotReady {
                    reason: "the store does not answer reads".to_owned(),
                }
            }
        };
        components.insert("store".to_owned(), store);
        ReadinessReport::from_components(components)
    }
}

/// A component's readiness worked out when asked, for a status that says
/// how long ago something happened.
pub type LiveCheck = Arc<dyn Fn() -> ComponentStatus + Send + Sync>;

enum Entry {
    Fixed(ComponentStatus),
    Live(LiveCheck),
}

/// The readiness of the daemon's subsystems other than the store.
pub struct Readiness {
    components: RwLock<BTreeMap<String, Entry>>,
    /// Bumped on every change, so a watcher can log when readiness turns.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            components: RwLock::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Readiness {
    pub fn set(&self, component: &str, status: ComponentStatus) {
        self.put(component, Entry::Fixed(status));
    }

    /// `component`'s status is `check`'s answer each time it is asked, until
    /// set again. `check` must be cheap: `/readyz` calls it.
    pub fn set_live(&self, component: &str, check: LiveCheck) {
        self.put(component, Entry::Live(check));
    }

    fn put(&self, component: &str, entry: Entry) {
        // A poisoned lock only means a writer panicked mid-insert of a plain
        // value; the map is still whole, so keep using it.
        self.components.write().insert(component.to_owned(), entry);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn snapshot(&self) -> BTreeMap<String, ComponentStatus> {
        self.components
            .read()
            .iter()
            .map(|(name, entry)| {
                let status = match entry {
                    Entry::Fixed(status) => status.clone(),
                    Entry::Live(check) => check(),
                };
                (name.clone(), status)
            })
            .collect()
    }

    /// Changes each time a component is set (not when a live check's
    /// answer changes).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_component_is_asked_each_time_and_a_set_is_seen_by_subscribers() {
        let readiness = Readiness::default();
        let mut changes = readiness.subscribe();
        let asked = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = asked.clone();
        readiness.set_live(
            "kubernetes",
            Arc::new(move || {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                ComponentStatus::NotReady {
                    reason: format!("asked {n} times"),
                }
            }),
        );
        assert!(changes.has_changed().expect("open"));
        changes.mark_unchanged();
        for n in 1..=2 {
            assert_eq!(
                readiness.snapshot()["kubernetes"],
                ComponentStatus::NotReady {
                    reason: format!("asked {n} times")
                }
            );
        }
        assert!(!changes.has_changed().expect("open"));
        readiness.set("kubernetes", ComponentStatus::Ready);
        assert!(changes.has_changed().expect("open"));
        assert_eq!(readiness.snapshot()["kubernetes"], ComponentStatus::Ready);
    }
}

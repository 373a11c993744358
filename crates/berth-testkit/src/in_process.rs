//! The daemon's router served in-process on a loopback port, for tests that
//! need a real HTTP server but not the whole `berthd` process.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use berth_server::{App, AppParts, HttpMetrics};
use berth_store::{Holder, Store};

/// A served [`App`] on a fresh store; the server stops when this drops.
pub struct TestServer {
    pub app: App,
    /// The Kubernetes API simulator the spaces reconciler works against.
    pub sim: berth_kube_sim::Simulator,
    /// The spaces reconciler; stopped when this drops.
    pub reconciler: Arc<berth_spaces::Reconciler>,
    reconciler_task: tokio::task::JoinHandle<()>,
    pub addr: SocketAddr,
    pub url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _kube_stop: tokio::sync::oneshot::Sender<()>,
    _temp: tempfile::TempDir,
}

impl TestServer {
    /// Creates the first admin through the setup secret, as the setup link
    /// would; returns an admin API token.
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let auth = self.app.auth();
        let (secret, _) = auth
            .issue_setup_secret()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .context("setup is not required: a user exists already")?;
        let origin = berth_audit::Origin::default();
        auth.complete_setup(
            &secret,
            "admin",
            "correct horse battery staple",
            None,
            &origin,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let token = auth
            .login_cli("admin", "correct horse battery staple", None, &origin)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(token.secret)
    }

    /// Waits until the reconciler has made `space`'s installer
    /// ServiceAccount, which catalog installs run as.
    pub async fn installer_ready(&self, space: &str) {
        crate::eventually(
            std::time::Duration::from_secs(30),
            "the space's installer",
            || async {
                self.sim
                    .get_object("v1", "ServiceAccount", space, berth_kube::plan::INSTALLER)
                    .await
            },
        )
        .await
        .expect("the space's installer is made");
    }

    /// Starts serving on the current tokio runtime with the default
    /// sign-in configuration.
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(berth_auth::config::AuthConfig::default()).await
    }

    pub async fn start_with(config: berth_auth::config::AuthConfig) -> anyhow::Result<TestServer> {
        TestServer::start_full(config, Arc::new(berth_core::SystemClock)).await
    }

    /// With a clock the test controls, for expiry.
    pub async fn start_full(
        config: berth_auth::config::AuthConfig,
        clock: Arc<dyn berth_core::Clock>,
    ) -> anyhow::Result<TestServer> {
        TestServer::start_all(config, berth_spaces::SpacesConfig::default(), clock).await
    }

    /// With spaces settings of the test's own too.
    pub async fn start_all(
        config: berth_auth::config::AuthConfig,
        spaces: berth_spaces::SpacesConfig,
        clock: Arc<dyn berth_core::Clock>,
    ) -> anyhow::Result<TestServer> {
        TestServer::start_with_relay(config, spaces, berth_relay::RelayConfig::default(), clock)
            .await
    }

    /// With relay settings of the test's own too (short grace periods).
    pub async fn start_with_relay(
        config: berth_auth::config::AuthConfig,
        spaces: berth_spaces::SpacesConfig,
        relay_config: berth_relay::RelayConfig,
        clock: Arc<dyn berth_core::Clock>,
    ) -> anyhow::Result<TestServer> {
        TestServer::start_inner(config, spaces, relay_config, clock, false).await
    }

    /// Catalog installs run as Jobs in spaces, as in a real cluster (the
    /// simulator runs none: a test finishes them with
    /// `Simulator::finish_job`).
    pub async fn start_with_helm_jobs() -> anyhow::Result<TestServer> {
        TestServer::start_inner(
            berth_auth::config::AuthConfig::default(),
            berth_spaces::SpacesConfig::default(),
            berth_relay::RelayConfig::default(),
            Arc::new(berth_core::SystemClock),
            true,
        )
        .await
    }

    async fn start_inner(
        config: berth_auth::config::AuthConfig,
        spaces: berth_spaces::SpacesConfig,
        relay_config: berth_relay::RelayConfig,
        clock: Arc<dyn berth_core::Clock>,
        helm_jobs: bool,
    ) -> anyhow::Result<TestServer> {
        let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
        let store = Arc::new(Store::open(
            &temp.path().join("data"),
            &Holder::this_process("in-process"),
        )?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let audit =
            berth_audit::Audit::open(store.clone()).map_err(|e| anyhow::anyhow!("audit: {e}"))?;
        let auth = berth_auth::Auth::new(store.clone(), audit, config, clock.clone())
            .map_err(|e| anyhow::anyhow!("auth: {e} {:?}", e.internal))?;
        let auth = Arc::new(auth);
        // Catalog installs by a local Helm meet Jobs that complete, as in
        // the daemon's embedded cluster; Helm Jobs under test stay running.
        let sim = berth_kube_sim::Simulator::start(berth_kube_sim::SimOptions {
            complete_jobs: !helm_jobs,
            ..berth_kube_sim::SimOptions::default()
        })
        .await?;
        let cluster = berth_kube::Cluster::new(sim.client()?);
        let clock_for_relay = clock.clone();
        let clock_for_dev = clock.clone();
        let started = berth_spaces::start(auth.clone(), spaces, clock, cluster.clone())
            .map_err(|e| anyhow::anyhow!("spaces: {e}"))?;
        let meter = opentelemetry::global::meter("berth-test");
        let relay = berth_relay::Relay::new(
            auth.clone(),
            started.spaces.clone(),
            relay_config,
            clock_for_relay,
        )
        .map_err(|e| anyhow::anyhow!("relay: {e}"))?;
        // The simulator runs no pods: agents run in the server, as with
        // the daemon's embedded cluster.
        let dev = berth_dev::Dev::new(
            auth.clone(),
            started.spaces.clone(),
            relay.clone(),
            cluster.clone(),
            berth_dev::DevConfig {
                local_agents: true,
                ..berth_dev::DevConfig::default()
            },
            clock_for_dev.clone(),
            &format!("http://{addr}"),
            &temp.path().join("data"),
        );
        let catalog = berth_catalog::Catalog::new(
            auth.clone(),
            berth_catalog::CatalogConfig::default(),
            clock_for_dev.clone(),
            temp.path().join("data/catalog"),
        );
        // As with the daemon's embedded cluster: Helm runs here, against
        // the simulator, through a kubeconfig for it.
        let kubeconfig = temp.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig())?;
        let apps = berth_apps::Apps::new(
            auth.clone(),
            started.spaces.clone(),
            catalog.clone(),
            cluster.clone(),
            berth_apps::AppsConfig {
                helm: Some(crate::helm()),
                timeout: std::time::Duration::from_secs(60),
                ..berth_apps::AppsConfig::default()
            },
            clock_for_dev,
            &temp.path().join("data"),
            (!helm_jobs).then_some(berth_apps::LocalCluster {
                kubeconfig,
                context: None,
                as_installer: false,
            }),
        );
        // The Kubernetes API proxy over HTTPS, as `server.kube_listen`
        // serves it: kubectl sends no credentials over plain HTTP.
        let kube_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let kube_addr = kube_listener.local_addr()?;
        let kube_tls = berth_server::KubeTls::make(&["127.0.0.1".to_owned()])
            .map_err(|e| anyhow::anyhow!("kube TLS: {}", e.detail()))?;
        let app = App::new(AppParts {
            kube_access: berth_server::KubeAccess {
                server: format!("https://{kube_addr}/kube"),
                certificate_authority: Some(kube_tls.cert_pem.clone()),
            },
            store,
            auth,
            endpoints: Arc::new(
                berth_spaces::Endpoints::new(
                    started.spaces.clone(),
                    &berth_spaces::EndpointsConfig {
                        domain: Some("localhost".to_owned()),
                    },
                    &format!("http://{addr}"),
                )
                .map_err(|e| anyhow::anyhow!("endpoints: {e}"))?,
            ),
            spaces: started.spaces.clone(),
            relay,
            dev,
            catalog,
            apps,
            public_url: format!("http://{addr}"),
            metrics: HttpMetrics::new(&meter),
            prometheus: prometheus::Registry::new(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = berth_server::router(app.clone());
        let (kube_stop, kube_stopped) = tokio::sync::oneshot::channel::<()>();
        let kube_router = router.clone();
        tokio::spawn(async move {
            let _ = berth_server::serve_tls(kube_listener, kube_router, &kube_tls, async move {
                let _ = kube_stopped.await;
            })
            .await;
        });
        tokio::spawn(berth_server::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            app,
            sim,
            reconciler: started.reconciler,
            reconciler_task: started.task,
            addr,
            url: format!("http://{addr}"),
            _stop: stop,
            _kube_stop: kube_stop,
            _temp: temp,
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.reconciler_task.abort();
    }
}

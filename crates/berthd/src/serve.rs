//! `berthd serve`: open the store, serve HTTP, and shut down cleanly.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use berth_core::ComponentStatus;
use berth_server::{App, AppParts, HttpMetrics};
use berth_store::{Holder, Store};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::telemetry::Telemetry;

pub async fn run(config: Config, telemetry: &Telemetry, started: Instant) -> anyhow::Result<()> {
    // Install the handlers first: a signal that arrives while starting up
    // must still shut down cleanly rather than kill the process mid-write.
    let shutdown = shutdown_signal()?;
    // Lock the data directory before binding: a second daemon on the same
    // directory must be told so, even when it also asks for the same port.
    let holder = Holder::this_process(&config.listen.to_string());
    let store = tokio::task::spawn_blocking({
        let dir = config.data_dir.clone();
        let options = config.store.options();
        move || Store::open_with(&dir, &holder, &options)
    })
    .await
    .context("store open task failed")?
    .map_err(|err| crate::data_dir::explain_open_error(&config.data_dir, err))?;
    let store = Arc::new(store);
    let info = store.info();
    tracing::info!(
        data_dir = %info.data_dir.display(),
        cache_bytes = info.cache_bytes,
        schema_version = info.schema_version,
        created = info.created,
        "store open"
    );

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("listener has no address")?;
    if addr != config.listen {
        store.record_holder(&Holder::this_process(&addr.to_string()))?;
    }

    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let kube = kube_listener(&config, &public_url).await?;
    let audit = berth_audit::Audit::open(store.clone())
        .map_err(|e| anyhow::anyhow!("cannot open the audit log: {}", e.detail()))?;
    let auth = berth_auth::Auth::new(
        store.clone(),
        audit.clone(),
        config.auth.clone(),
        Arc::new(berth_core::SystemClock),
    )
    .map_err(|e| anyhow::anyhow!("cannot start sign-in: {}", e.detail()))?;
    let auth = Arc::new(auth);
    let (cluster, embedded) = connect(&config).await?;
    let spaces = berth_spaces::start(
        auth.clone(),
        config.spaces.clone(),
        Arc::new(berth_core::SystemClock),
        cluster.clone(),
    )
    .map_err(|e| anyhow::anyhow!("cannot start spaces: {}", e.message))?;
    spaces_metrics(&telemetry.meter, spaces.reconciler.clone());
    let relay = berth_relay::Relay::new(
        auth.clone(),
        spaces.spaces.clone(),
        config.relay.clone(),
        Arc::new(berth_core::SystemClock),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the relay: {}", e.message))?;
    // The embedded cluster runs no pods: agents run here, and reach the
    // relay on the address just bound.
    let mut dev_config = config.dev.clone();
    dev_config.local_agents |= embedded.is_some();
    let agent_base = if dev_config.local_agents && dev_config.agent_url.is_none() {
        format!("http://{addr}")
    } else {
        public_url.clone()
    };
    let dev = berth_dev::Dev::new(
        auth.clone(),
        spaces.spaces.clone(),
        relay.clone(),
        cluster.clone(),
        dev_config,
        Arc::new(berth_core::SystemClock),
        &agent_base,
        &config.data_dir,
    );
    let catalog = berth_catalog::Catalog::new(
        auth.clone(),
        config.catalog.clone(),
        Arc::new(berth_core::SystemClock),
        config.data_dir.join("catalog"),
    );
    let catalog_refresh = catalog.start();
    let samples = catalog.clone();
    // Helm runs as a local process with the embedded cluster (which runs
    // no pods) or when configured so; as Jobs in spaces otherwise.
    let local_helm = if embedded.is_some() {
        Some(berth_apps::LocalCluster {
            kubeconfig: config.data_dir.join("kubeconfig"),
            context: None,
            as_installer: false,
        })
    } else if config.apps.local_helm {
        config
            .kubernetes
            .kubeconfig
            .clone()
            .map(|kubeconfig| berth_apps::LocalCluster {
                kubeconfig,
                context: config.kubernetes.context.clone(),
                as_installer: true,
            })
    } else {
        None
    };
    let apps = berth_apps::Apps::new(
        auth.clone(),
        spaces.spaces.clone(),
        catalog.clone(),
        cluster.clone(),
        config.apps.clone(),
        Arc::new(berth_core::SystemClock),
        &config.data_dir,
        local_helm,
    );
    apps.start()
        .map_err(|e| anyhow::anyhow!("cannot start apps: {}", e.message))?;
    apps_metrics(&telemetry.meter, apps.clone());
    // With the embedded cluster, endpoints are served on `*.localhost`
    // unless configured otherwise: browsers and curl resolve it to this
    // machine.
    let mut endpoints_config = config.endpoints.clone();
    if embedded.is_some() && endpoints_config.domain.is_none() {
        endpoints_config.domain = Some("localhost".to_owned());
    }
    let endpoints =
        berth_spaces::Endpoints::new(spaces.spaces.clone(), &endpoints_config, &public_url)
            .map_err(|e| anyhow::anyhow!("cannot start endpoints: {}", e.message))?;
    let app = App::new(AppParts {
        store: store.clone(),
        auth: auth.clone(),
        spaces: spaces.spaces.clone(),
        endpoints: Arc::new(endpoints),
        relay,
        dev: dev.clone(),
        catalog,
        apps,
        public_url: public_url.clone(),
        kube_access: match &kube {
            Some(kube) => kube.access.clone(),
            None => berth_server::KubeAccess {
                server: format!("{}/kube", public_url.trim_end_matches('/')),
                certificate_authority: None,
            },
        },
        metrics: HttpMetrics::new(&telemetry.meter),
        prometheus: telemetry.registry.clone(),
    });
    // The server's version and APIs first (an unsupported one is refused
    // and never ready), then the watches' first lists.
    let mut synced = crate::kube_check::start(app.clone(), cluster);
    let router = berth_server::router(app.clone());
    let checkpoints = tokio::spawn(audit_upkeep(audit.clone(), config.audit.clone()));
    let forwarder = match &config.audit.otlp_endpoint {
        Some(endpoint) => {
            let forward = berth_audit::forward::ForwardConfig {
                endpoint: endpoint.clone(),
                service_name: config.telemetry.service_name.clone(),
                headers: config.audit.otlp_headers()?,
            };
            tracing::info!(%endpoint, "shipping the audit log to an OTLP logs collector");
            Some(tokio::spawn(berth_audit::forward::run(
                audit.clone(),
                forward,
                std::time::Duration::from_secs(1),
            )))
        }
        None => None,
    };

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    if let Some(kube) = kube {
        let mut stop = stop_rx.clone();
        let router = router.clone();
        tracing::info!(url = %kube.access.server, "serving the Kubernetes API proxy over HTTPS");
        tokio::spawn(async move {
            let served = berth_server::serve_tls(kube.listener, router, &kube.tls, async move {
                let _ = stop.wait_for(|stop| *stop).await;
            });
            if let Err(err) = served.await {
                tracing::error!(error = %err.detail(), "the Kubernetes API proxy's HTTPS listener stopped");
            }
        });
    }
    let mut server = tokio::spawn(berth_server::serve(listener, router, async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    }));

    let url = public_url;
    tracing::info!(%url, listen = %addr, "berthd listening");
    // The check and the spaces' watches' lists take milliseconds on a
    // healthy API; wait for them (bounded), so that a healthy start logs
    // "berthd ready" at once rather than "not ready yet" first. A cluster
    // that does not answer, or is refused, leaves `kubernetes` not ready in
    // /readyz, and "berthd ready" waits for it.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut synced).await;
    // The built-in samples, served by the router: the catalog adds them
    // once per store (unless `[catalog] samples = false`), before "ready",
    // so that `berth quickstart` finds them as soon as berthd is up.
    if let Err(err) = samples
        .add_samples(&berth_catalog::samples::url(addr))
        .await
    {
        tracing::warn!(error = %err.detail(), "cannot add the built-in samples to the catalog");
    }
    // The setup link is printed as a plain line, never as a log event: log
    // pipelines index and keep events. In a pod the line still lands in the
    // container's output, which is why the link works once, for a bounded
    // time, and stops working as soon as a newer one is printed.
    match auth.issue_setup_secret() {
        Ok(Some((secret, expires))) => {
            tracing::warn!(%expires, "no user exists yet: the first-admin setup link is printed on stdout");
            println!(
                "berthd: no user exists yet. Create the first admin before {expires} at: {url}/setup#token={secret}"
            );
        }
        Ok(None) => {}
        Err(err) => {
            tracing::error!(error = %err.internal.unwrap_or(err.message), "cannot issue the setup link")
        }
    }
    let announcer = tokio::spawn(announce_readiness(app.clone(), url, addr, started));

    let served = tokio::select! {
        signal = shutdown => {
            tracing::info!(signal, grace = ?config.server.shutdown_grace, "shutting down: draining requests");
            None
        }
        result = &mut server => Some(result),
    };
    let served = match served {
        Some(result) => result,
        None => {
            // Draining is not news: the line above said so.
            announcer.abort();
            app.readiness().set(
                "server",
                ComponentStatus::NotReady {
                    reason: "draining".to_owned(),
                },
            );
            let _ = stop_tx.send(true);
            match tokio::time::timeout(config.server.shutdown_grace, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("drain grace period over; closing the remaining connections");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };

    announcer.abort();
    dev.stop();
    catalog_refresh.abort();
    checkpoints.abort();
    synced.abort();
    spaces.task.abort();
    if let Some(forwarder) = forwarder {
        forwarder.abort();
    }
    if let Err(err) = audit.checkpoint() {
        tracing::error!(error = %err.internal.unwrap_or(err.message), "cannot sign the final audit checkpoint");
    }
    if let Some(embedded) = &embedded
        && let Err(err) = embedded.persist_now()
    {
        tracing::error!(
            error = format!("{err:#}"),
            "cannot save the embedded cluster"
        );
    }
    let flushed = store.flush().await.context("cannot flush the store")?;
    tracing::info!(bytes = flushed, "store flushed; berthd stopped");
    served
        .context("HTTP server task failed")?
        .context("HTTP server failed")
}

/// Logs "berthd ready" when `/readyz` first says ready (with how long the
/// start took), why not while it is not, and each later turn once: a
/// readiness lost (warning, with the reasons) and regained. The live store
/// check is not announced by the components, so readiness is also looked at
/// every 30 s.
async fn announce_readiness(app: App, url: String, addr: std::net::SocketAddr, started: Instant) {
    const RECHECK: std::time::Duration = std::time::Duration::from_secs(30);
    let mut changes = app.readiness().subscribe();
    let mut was_ready: Option<bool> = None;
    loop {
        changes.mark_unchanged();
        let report = app.readiness_report();
        if was_ready != Some(report.ready) {
            let reasons = not_ready_reasons(&report);
            match (was_ready, report.ready) {
                (None, true) => tracing::info!(
                    %url,
                    listen = %addr,
                    ready_ms = started.elapsed().as_millis() as u64,
                    "berthd ready"
                ),
                (None, false) => tracing::info!(
                    %url,
                    listen = %addr,
                    waiting_for = %reasons,
                    "berthd is serving but not ready yet; /readyz says why"
                ),
                (Some(false), true) => tracing::info!(
                    %url,
                    after_ms = started.elapsed().as_millis() as u64,
                    "berthd ready"
                ),
                (Some(true), false) => {
                    tracing::warn!(reasons = %reasons, "berthd is no longer ready")
                }
                (Some(_), _) => {}
            }
            was_ready = Some(report.ready);
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RECHECK) => {}
        }
    }
}

/// "component: reason" for each component that is not ready.
fn not_ready_reasons(report: &berth_core::ReadinessReport) -> String {
    report
        .components
        .iter()
        .filter_map(|(name, status)| match status {
            ComponentStatus::Ready => None,
            ComponentStatus::NotReady { reason } => Some(format!("{name}: {reason}")),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the apps service counts, as metrics: operations ended by kind and
/// outcome, and those running.
fn apps_metrics(meter: &opentelemetry::metrics::Meter, apps: Arc<berth_apps::Apps>) {
    use berth_core::app::OperationKind;
    use opentelemetry::KeyValue;
    let counted = apps.clone();
    meter
        .u64_observable_counter("berth.apps.operations")
        .with_description("Helm operations on applications that ended, by kind and outcome")
        .with_callback(move |counter| {
            for (kind, name) in [
                (OperationKind::Install, "install"),
                (OperationKind::Upgrade, "upgrade"),
                (OperationKind::Uninstall, "uninstall"),
            ] {
                for (succeeded, outcome) in [(true, "succeeded"), (false, "failed")] {
                    counter.observe(
                        counted.counters().ended(kind, succeeded),
                        &[
                            KeyValue::new("kind", name),
                            KeyValue::new("outcome", outcome),
                        ],
                    );
                }
            }
        })
        .build();
    meter
        .u64_observable_gauge("berth.apps.running")
        .with_description("Helm operations on applications running now")
        .with_callback(move |gauge| gauge.observe(apps.running() as u64, &[]))
        .build();
}

/// The reconciler's counters as OpenTelemetry instruments (and so on
/// `/metrics` and over OTLP).
fn spaces_metrics(
    meter: &opentelemetry::metrics::Meter,
    reconciler: Arc<berth_spaces::Reconciler>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    type Read = fn(&berth_spaces::reconciler::Counters) -> u64;
    let counters: [(&'static str, &'static str, Read); 3] = [
        (
            "berth.spaces.reconciles",
            "Reconcile passes over spaces",
            |c| c.passes.load(Relaxed),
        ),
        (
            "berth.spaces.kubernetes_writes",
            "Objects the reconciler applied to the Kubernetes API",
            |c| c.writes.load(Relaxed),
        ),
        (
            "berth.spaces.reconcile_errors",
            "Reconcile passes that failed and were retried",
            |c| c.errors.load(Relaxed),
        ),
    ];
    for (name, description, read) in counters {
        let reconciler = reconciler.clone();
        meter
            .u64_observable_counter(name)
            .with_description(description)
            .with_callback(move |counter| counter.observe(read(reconciler.counters()), &[]))
            .build();
    }
    meter
        .u64_observable_gauge("berth.spaces.cached")
        .with_description("Spaces with objects in the reconciler's watch cache")
        .with_callback(move |gauge| gauge.observe(reconciler.cluster().cached_spaces() as u64, &[]))
        .build();
}

/// Installs SIGTERM and SIGINT handlers; the future resolves with the name of
/// the first signal received.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Signs audit checkpoints at the configured interval, and prunes events
/// past the retention period when one is set.
async fn audit_upkeep(audit: Arc<berth_audit::Audit>, config: crate::config::AuditConfig) {
    let mut ticker = tokio::time::interval(config.checkpoint_interval);
    loop {
        ticker.tick().await;
        let audit = audit.clone();
        let retention = config.retention;
        let done = tokio::task::spawn_blocking(move || {
            if let Err(err) = audit.checkpoint() {
                tracing::error!(error = %err.internal.unwrap_or(err.message), "cannot sign an audit checkpoint");
            }
            if let Some(retention) = retention {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                match audit.prune(now.saturating_sub(retention.as_nanos() as u64)) {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "audit events past retention pruned"),
                    Err(err) => tracing::error!(error = %err.internal.unwrap_or(err.message), "cannot prune the audit log"),
                }
            }
        })
        .await;
        if done.is_err() {
            tracing::error!("the audit upkeep task panicked");
        }
    }
}

/// The Kubernetes API the configuration names; with the embedded one, its
/// simulator too (kept running, and saved at shutdown).
async fn connect(
    config: &Config,
) -> anyhow::Result<(berth_kube::Cluster, Option<berth_kube_sim::Simulator>)> {
    use crate::config::KubeMode;
    let k = &config.kubernetes;
    Ok(match k.mode {
        KubeMode::Embedded => {
            let sim = embedded_cluster(&config.data_dir).await?;
            (berth_kube::Cluster::at(sim.client()?, sim.url()), Some(sim))
        }
        KubeMode::InCluster => {
            let dir = k
                .service_account_dir
                .as_deref()
                .unwrap_or(std::path::Path::new(
                    berth_kube::in_cluster::SERVICE_ACCOUNT_DIR,
                ));
            (berth_kube::Cluster::in_cluster(dir).await?, None)
        }
        KubeMode::Kubeconfig => {
            let path = k
                .kubeconfig
                .as_deref()
                .context("kubernetes.kubeconfig is not set")?;
            (
                berth_kube::Cluster::from_kubeconfig(path, k.context.as_deref()).await?,
                None,
            )
        }
    })
}

/// With no cluster configured, Berth runs its Kubernetes API simulator on a
/// loopback port, its state saved under the data directory, and writes a
/// kubeconfig for it there (for kubectl and helm in a try-out).
async fn embedded_cluster(data_dir: &std::path::Path) -> anyhow::Result<berth_kube_sim::Simulator> {
    let options = berth_kube_sim::SimOptions {
        persist_to: Some(data_dir.join("kubernetes.json")),
        // It runs no pods: Jobs (Helm's hooks among them) complete at once.
        complete_jobs: true,
        ..berth_kube_sim::SimOptions::default()
    };
    let sim = berth_kube_sim::Simulator::start(options)
        .await
        .context("cannot start the embedded Kubernetes API")?;
    let kubeconfig = data_dir.join("kubeconfig");
    let mut file_options = std::fs::OpenOptions::new();
    file_options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file_options, 0o600);
    let mut file = file_options
        .open(&kubeconfig)
        .with_context(|| format!("cannot write {}", kubeconfig.display()))?;
    std::io::Write::write_all(&mut file, sim.kubeconfig().as_bytes())
        .with_context(|| format!("cannot write {}", kubeconfig.display()))?;
    tracing::info!(
        api = %sim.url(),
        kubeconfig = %kubeconfig.display(),
        "no cluster configured: the embedded Kubernetes API is up"
    );
    Ok(sim)
}

/// The Kubernetes API proxy's own HTTPS listener (`server.kube_listen`).
struct KubeListener {
    listener: TcpListener,
    tls: berth_server::KubeTls,
    access: berth_server::KubeAccess,
}

/// Binds `server.kube_listen` with berthd's own certificate for it, made
/// for the names the proxy is reached by: loopback, the address it listens
/// on, and the public URL's host.
async fn kube_listener(config: &Config, public_url: &str) -> anyhow::Result<Option<KubeListener>> {
    let Some(wanted) = config.server.kube_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(wanted)
        .await
        .with_context(|| format!("cannot listen on {wanted} (server.kube_listen)"))?;
    let addr = listener.local_addr().context("listener has no address")?;
    let public_host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let ip = addr.ip();
    let host = match ip {
        _ if ip.is_unspecified() => public_host.clone(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    // Loopback, the address listened on and the public URL's host; an
    // unspecified address (0.0.0.0, ::) names no one.
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    for name in [ip.to_string(), public_host] {
        let unspecified = name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if !name.is_empty() && !unspecified && !names.contains(&name) {
            names.push(name);
        }
    }
    let tls = berth_server::KubeTls::load_or_make(&config.data_dir.join("keys"), &names)
        .map_err(|e| anyhow::anyhow!("server.kube_listen: {}", e.detail()))?;
    let access = berth_server::KubeAccess {
        server: format!("https://{host}:{}/kube", addr.port()),
        certificate_authority: Some(tls.cert_pem.clone()),
    };
    Ok(Some(KubeListener {
        listener,
        tls,
        access,
    }))
}

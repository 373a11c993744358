//! Logs, traces and metrics. Traces always get ids (so logs and audit records
//! can carry them) and are exported only when an OTLP endpoint is configured;
//! metrics always feed `/metrics` and are pushed over OTLP when configured.

use anyhow::Context;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogFormat};

/// Filter directives appended to the configured filter so the exporters' own
/// chatter stays out of the daemon's log unless it is a problem. kube's
/// client logs an ERROR for every failed request ("failed with error client
/// error (Connect)", no URL, no caller): each failure is returned to the
/// caller, which says what failed and where, once per cause
/// (`berth_kube::reach`); so its request trace is off.
const QUIET_DEPENDENCIES: &str = "opentelemetry=warn,opentelemetry_sdk=warn,opentelemetry_otlp=warn,hyper=warn,reqwest=warn,kube_client::client::builder=off";

pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    pub registry: prometheus::Registry,
    pub meter: Meter,
}

pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    let telemetry = &config.telemetry;
    let resource = Resource::builder()
        .with_service_name(telemetry.service_name.clone())
        .build();

    let registry = prometheus::Registry::new();
    let prometheus_reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .without_target_info()
        .build()
        .context("cannot set up the Prometheus exporter")?;
    let mut meters = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(prometheus_reader);

    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        telemetry.trace_sample_ratio,
    )));
    let mut tracers = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler);

    if let Some(endpoint) = &telemetry.otlp_endpoint {
        let base = endpoint.trim_end_matches('/');
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{base}/v1/traces"))
            .build()
            .context("cannot set up the OTLP trace exporter")?;
        tracers = tracers.with_batch_exporter(spans);
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{base}/v1/metrics"))
            .build()
            .context("cannot set up the OTLP metric exporter")?;
        meters = meters.with_reader(
            PeriodicReader::builder(metrics)
                .with_interval(telemetry.metrics_interval)
                .build(),
        );
    }
    let tracer_provider = tracers.build();
    let meter_provider = meters.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => filter,
        _ => config.log.filter.clone(),
    };
    let filter = EnvFilter::try_new(format!("{filter},{QUIET_DEPENDENCIES}"))
        .context("invalid log filter (from RUST_LOG or log.filter)")?;
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer("berthd"))
        .with_tracked_inactivity(false);
    let registry_layer = tracing_subscriber::registry().with(filter).with(otel);
    match config.log.format {
        LogFormat::Pretty => registry_layer
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init(),
        LogFormat::Json => registry_layer
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    }
    .context("cannot install the log subscriber")?;

    let meter = meter_provider.meter("berthd");
    Ok(Telemetry {
        tracer_provider,
        meter_provider,
        registry,
        meter,
    })
}

impl Telemetry {
    /// Flushes and stops the exporters. Their shutdown blocks on network IO,
    /// so it runs off the async workers.
    pub async fn shutdown(self) {
        let Telemetry {
            tracer_provider,
            meter_provider,
            ..
        } = self;
        let done = tokio::task::spawn_blocking(move || {
            if let Err(err) = tracer_provider.shutdown() {
                tracing::warn!(error = %err, "trace exporter did not shut down cleanly");
            }
            if let Err(err) = meter_provider.shutdown() {
                tracing::warn!(error = %err, "metric exporter did not shut down cleanly");
            }
        });
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), done).await;
    }
}

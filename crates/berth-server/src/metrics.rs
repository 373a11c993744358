//! HTTP and process metrics, recorded through OpenTelemetry instruments so the
//! same numbers reach `/metrics` and, when configured, the OTLP collector.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

/// Request latency buckets in seconds: fine below 10 ms, where the API lives.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Save-to-container buckets in seconds, around the 30 ms target.
const SYNC_BUCKETS: &[f64] = &[
    0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Instruments for the HTTP server, and what CLIs report of their sync.
#[derive(Clone)]
pub struct HttpMetrics {
    duration: Histogram<f64>,
    save_latency: Histogram<f64>,
    sync_files: opentelemetry::metrics::Counter<u64>,
    sync_conflicts: opentelemetry::metrics::Counter<u64>,
    kube_requests: opentelemetry::metrics::Counter<u64>,
    endpoint_requests: opentelemetry::metrics::Counter<u64>,
}

impl HttpMetrics {
    /// Creates the instruments on `meter`, and a gauge of the process's
    /// resident memory where the platform reports it.
    pub fn new(meter: &Meter) -> HttpMetrics {
        let duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP requests, by route, method and status")
            .with_boundaries(LATENCY_BUCKETS.to_vec())
            .build();
        meter
            .u64_observable_gauge("process.resident_memory")
            .with_unit("By")
            .with_description("Resident memory of the berthd process")
            .with_callback(|gauge| {
                if let Some(bytes) = resident_memory_bytes() {
                    gauge.observe(bytes, &[]);
                }
            })
            .build();
        let save_latency = meter
            .f64_histogram("berth.sync.save_latency")
            .with_unit("s")
            .with_description("From a developer's save to the dev container having the file, as `berth up` measures it")
            .with_boundaries(SYNC_BUCKETS.to_vec())
            .build();
        let sync_files = meter
            .u64_counter("berth.sync.files")
            .with_description("Files synced by `berth up`, by direction")
            .build();
        let sync_conflicts = meter
            .u64_counter("berth.sync.conflicts")
            .with_description("Conflicts `berth up` resolved by keeping both versions")
            .build();
        let kube_requests = meter
            .u64_counter("berth.kube.requests")
            .with_description("Requests sent on by the Kubernetes API proxy, by verb (`discovery` for discovery documents)")
            .build();
        let endpoint_requests = meter
            .u64_counter("berth.endpoint.requests")
            .with_description("Requests to endpoints, by space, service and status class (`waking` for a waiting answer)")
            .build();
        HttpMetrics {
            duration,
            save_latency,
            sync_files,
            sync_conflicts,
            kube_requests,
            endpoint_requests,
        }
    }

    /// Counts a request to an endpoint, by how it was answered: `2xx` ..
    /// `5xx`, or `waking`.
    pub(crate) fn endpoint_request(&self, space: &str, service: &str, answer: &'static str) {
        self.endpoint_requests.add(
            1,
            &[
                KeyValue::new("space", space.to_owned()),
                KeyValue::new("service", service.to_owned()),
                KeyValue::new("answer", answer),
            ],
        );
    }

    /// Counts a request the Kubernetes API proxy sends on.
    pub(crate) fn kube_request(&self, verb: &'static str) {
        self.kube_requests.add(1, &[KeyValue::new("verb", verb)]);
    }

    /// Records a CLI's sync report.
    pub(crate) fn sync(&self, report: &berth_core::session::SyncReport) {
        for ms in report.save_latencies_ms.iter().take(1000) {
            if ms.is_finite() && *ms >= 0.0 {
                self.save_latency.record(ms / 1000.0, &[]);
            }
        }
        self.sync_files.add(
            report.files_sent,
            &[KeyValue::new("direction", "to_container")],
        );
        self.sync_files.add(
            report.files_received,
            &[KeyValue::new("direction", "from_container")],
        );
        self.sync_conflicts.add(report.conflicts, &[]);
    }

    pub(crate) fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
        );
    }
}

/// The resident set size, from `/proc/self/statm` (pages) on Linux.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // Every platform Berth ships for (Linux x86_64 and aarch64) uses 4 KiB
    // pages for the counts in statm.
    Some(pages * 4096)
}

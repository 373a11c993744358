//! Shipping the audit stream to an OTLP logs endpoint (OTLP/HTTP with the
//! JSON encoding), at least once: a cursor in the store records the last
//! event the collector acknowledged, so an outage of the collector, or a
//! restart of the daemon, loses nothing; events are re-sent until accepted.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use berth_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::layout::{self, Reader};
use crate::{Audit, AuditEvent, META};

const CURSOR: &str = "m/otlp_cursor";
const BATCH: usize = 500;

/// Where to ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardConfig {
    /// The collector's base URL; logs go to `<endpoint>/v1/logs`.
    pub endpoint: String,
    /// `service.name` on the exported records.
    pub service_name: String,
    /// Extra headers (such as an API key), read from a file at start.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    seq: u64,
}

fn attr(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

fn text(value: &str) -> Value {
    json!({"stringValue": value})
}

/// One audit event as an OTLP log record: the event in the body, its main
/// fields as attributes for filtering in the log backend.
fn record(event: &AuditEvent) -> Value {
    let mut attributes = vec![
        attr(
            "berth.audit.seq",
            json!({"intValue": event.seq.to_string()}),
        ),
        attr("berth.audit.hash", text(&event.hash)),
        attr("berth.audit.action", text(&event.action)),
        attr("berth.audit.outcome", text(event.outcome.as_str())),
        attr("berth.audit.actor", text(&event.actor.name)),
        attr("berth.audit.resource.kind", text(&event.resource.kind)),
    ];
    if let Some(name) = &event.resource.name {
        attributes.push(attr("berth.audit.resource.name", text(name)));
    }
    if let Some(space) = &event.resource.space {
        attributes.push(attr("berth.audit.space", text(space)));
    }
    let mut record = json!({
        "timeUnixNano": event.time_unix_nano.to_string(),
        "observedTimeUnixNano": event.time_unix_nano.to_string(),
        "severityNumber": 9,
        "severityText": "INFO",
        "body": text(&serde_json::to_string(event).unwrap_or_default()),
        "attributes": attributes,
    });
    if let Some(trace) = &event.origin.trace_id {
        record["traceId"] = json!(trace);
    }
    record
}

/// The OTLP/HTTP JSON body for a batch of events.
pub fn export_request(service_name: &str, events: &[AuditEvent]) -> Value {
    json!({
        "resourceLogs": [{
            "resource": {"attributes": [attr("service.name", text(service_name))]},
            "scopeLogs": [{
                "scope": {"name": "berth.audit"},
                "logRecords": events.iter().map(record).collect::<Vec<_>>(),
            }]
        }]
    })
}

impl Audit {
    /// The last event the collector acknowledged.
    pub fn forwarded_up_to(&self) -> Result<u64, Error> {
        let cursor: Option<Cursor> = self
            .store()
            .get(META.retype(), CURSOR)
            .map_err(|e| Error::internal(format!("audit cursor: {e}")))?;
        Ok(cursor.map_or(0, |c| c.seq))
    }

    fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<AuditEvent>, Error> {
        let read = |e: layout::ReadError| Error::internal(format!("audit read: {e}"));
        Reader::new(self.store())
            .events_from(seq + 1, limit)
            .map_err(read)?
            .into_iter()
            .map(|(seq, bytes)| layout::decode_event(seq, &bytes).map_err(read))
            .collect()
    }

    /// Sends what the collector has not acknowledged yet, one batch at a
    /// time; returns how many events it accepted.
    pub async fn forward_once(
        &self,
        http: &reqwest::Client,
        config: &ForwardConfig,
    ) -> Result<u64, Error> {
        let url = format!("{}/v1/logs", config.endpoint.trim_end_matches('/'));
        let mut sent = 0;
        loop {
            let cursor = self.forwarded_up_to()?;
            let events = self.events_after(cursor, BATCH)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(sent);
            };
            let mut request = http
                .post(&url)
                .json(&export_request(&config.service_name, &events));
            for (name, value) in &config.headers {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| {
                Error::unavailable(format!(
                    "the OTLP collector at {url} cannot be reached: {e}"
                ))
            })?;
            if !response.status().is_success() {
                return Err(Error::unavailable(format!(
                    "the OTLP collector at {url} answered {}",
                    response.status()
                )));
            }
            let cursor = Cursor { seq: last };
            self.store()
                .transact(&[crate::TREE], |tx| tx.put(META.retype(), CURSOR, &cursor))
                .map_err(|e| Error::internal(format!("audit cursor: {e}")))?;
            sent += events.len() as u64;
        }
    }
}

/// Ships forever: after each round, waits `interval`; after a failure, backs
/// off up to a minute. Meant to run as a background task.
pub async fn run(audit: Arc<Audit>, config: ForwardConfig, interval: Duration) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the OTLP client; audit forwarding is off");
            return;
        }
    };
    // Failed rounds are tried again sooner than the interval, backing off
    // to a minute; nothing is lost while the collector is away.
    let retries = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(60))
        .with_jitter()
        .without_max_times();
    loop {
        let round = || audit.forward_once(&http, &config);
        let _ = round
            .retry(retries)
            .notify(|err, retry_in| {
                tracing::warn!(error = %err.message, ?retry_in, "audit forwarding paused; nothing is lost");
            })
            .await;
        tokio::time::sleep(interval).await;
    }
}

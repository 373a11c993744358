//! Sync reports from `berth up`: who may send one for a session, and what a
//! report may hold, checked before the daemon adds it to its metrics.

use berth_auth::Actor;
use berth_core::Error;
use berth_core::session::SyncReport;

use crate::Relay;

/// The most save latencies one report carries.
const MAX_LATENCIES: usize = berth_core::session::SyncLatencies::MAX;

impl Relay {
    /// Accepts a sync report for session `id` from its owner (or an admin);
    /// a session the caller may not see answers 404. Nothing is stored: the
    /// report is handed back for the metrics.
    pub async fn sync_report(
        &self,
        actor: &Actor,
        id: &str,
        report: SyncReport,
    ) -> Result<SyncReport, Error> {
        // Refusals are recorded as reading the session, as they always were.
        self.authorized(actor, id, "session.get").await?;
        check(&report)?;
        Ok(report)
    }
}

/// At most [`MAX_LATENCIES`] latencies, each a finite, non-negative number
/// of milliseconds.
fn check(report: &SyncReport) -> Result<(), Error> {
    if report.save_latencies_ms.len() > MAX_LATENCIES {
        return Err(Error::invalid(
            "save_latencies_ms",
            "at most 1,000 latencies per report",
        ));
    }
    // Counts are int64 in the API, as everywhere.
    for (field, count) in [
        ("files_sent", report.files_sent),
        ("files_received", report.files_received),
        ("conflicts", report.conflicts),
    ] {
        if count > i64::MAX.unsigned_abs() {
            return Err(Error::invalid(field, "must be at most 9223372036854775807"));
        }
    }
    if let Some(bad) = report
        .save_latencies_ms
        .iter()
        .find(|ms| !ms.is_finite() || **ms < 0.0)
    {
        return Err(Error::invalid(
            "save_latencies_ms",
            format!("{bad} is not a latency in milliseconds"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_holds_at_most_1000_finite_non_negative_latencies() {
        let report = |save_latencies_ms: Vec<f64>| SyncReport {
            save_latencies_ms,
            ..SyncReport::default()
        };
        for (latencies, refusal) in [
            (vec![], None),
            (vec![0.0, 12.5], None),
            (vec![1.0; 1000], None),
            (vec![1.0; 1001], Some("at most 1,000 latencies per report")),
            (vec![3.0, -1.0], Some("-1 is not a latency in milliseconds")),
            (vec![f64::NAN], Some("NaN is not a latency in milliseconds")),
            (
                vec![f64::INFINITY],
                Some("inf is not a latency in milliseconds"),
            ),
        ] {
            let n = latencies.len();
            let got = check(&report(latencies)).err().map(|e| e.message);
            let want = refusal.map(|r| format!("save_latencies_ms: {r}"));
            assert_eq!(got, want, "{n} latencies");
        }
    }
}

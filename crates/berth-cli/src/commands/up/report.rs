//! What `berth up` tells others while it runs: its sync's numbers for the
//! daemon's metrics, every few seconds, and a warning to the developer
//! when the space is about to sleep (or has).

use std::time::Duration;

use berth_sync::engine::Status;

use super::now_secs;
use crate::client::Client;
use crate::output::Failure;

/// How often `berth up` reports its sync to the daemon's metrics.
pub(super) const REPORT_EVERY: Duration = Duration::from_secs(5);

/// What `berth up` has reported so far, summed over its folders.
#[derive(Default)]
pub(super) struct Reported {
    saves: u64,
    files_sent: u64,
    files_received: u64,
    conflicts: u64,
}

impl Reported {
    /// Sends what is new since the last report; a failed report is
    /// dropped (they are metrics, and the next one carries on).
    pub(super) async fn send(&mut self, client: &Client, session: &str, statuses: &[Status]) {
        let mut report = berth_core::session::SyncReport::default();
        let mut now = Reported::default();
        for status in statuses {
            now.saves += status.saves;
            now.files_sent += status.files_sent;
            now.files_received += status.files_received;
            now.conflicts += status.conflicts.len() as u64;
        }
        let new_saves = now.saves.saturating_sub(self.saves) as usize;
        for status in statuses {
            report
                .save_latencies_ms
                .extend(status.latencies_ms.iter().rev().take(new_saves));
        }
        report.save_latencies_ms.truncate(new_saves.min(1000));
        report.files_sent = now.files_sent.saturating_sub(self.files_sent);
        report.files_received = now.files_received.saturating_sub(self.files_received);
        report.conflicts = now.conflicts.saturating_sub(self.conflicts);
        if report == berth_core::session::SyncReport::default() {
            return;
        }
        let sent: Result<(), Failure> = client
            .post_no_content(&format!("/api/v1/sessions/{session}/sync-report"), &report)
            .await;
        if sent.is_ok() {
            *self = now;
        }
    }
}

/// How long before a space sleeps `berth up` says so.
const SLEEP_WARNING: Duration = Duration::from_secs(15 * 60);

/// Says when the space is about to sleep for lack of activity, or has: a
/// developer who left `berth up` running learns why the workload stopped.
pub(super) async fn sleep_warning(
    client: &Client,
    space: &str,
    warned: &mut Option<String>,
) -> Option<String> {
    let view: berth_core::space::SpaceView =
        client.get(&format!("/api/v1/spaces/{space}")).await.ok()?;
    let (key, text) = if view.wakefulness.asleep {
        (
            "asleep".to_owned(),
            format!(
                "Space {space} is asleep: its workloads are scaled down. `berth space wake {space}` wakes it."
            ),
        )
    } else {
        let at = view.sleeps_at?;
        let now = berth_core::time::Timestamp(now_secs());
        if at.0 > now.0 + SLEEP_WARNING.as_secs() {
            return None;
        }
        (
            at.rfc3339(),
            format!(
                "Space {space} sleeps at {at} (in {} min) for lack of activity; a change in the space or `berth space wake {space}` keeps it awake.",
                at.since(now).as_secs().div_ceil(60)
            ),
        )
    };
    if warned.as_deref() == Some(key.as_str()) {
        return None;
    }
    *warned = Some(key);
    Some(text)
}

//! Dev sessions as the API shows them: a CLI and an agent paired by the
//! relay in `berthd`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::Timestamp;

/// Where a dev session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Waiting for one side (or both) to connect.
    Waiting,
    /// Both sides connected; traffic flows.
    Connected,
    /// A side dropped; waiting, within the grace period, for it to come back.
    Resuming,
    /// Over: terminated, idle too long, or a side did not come back in time.
    Ended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub space: String,
    pub owner: String,
    pub owner_id: String,
    pub created_at: Timestamp,
    pub state: SessionState,
    pub client_connected: bool,
    pub agent_connected: bool,
    /// Streams open now.
    pub streams: u64,
    /// Bytes relayed from the CLI to the agent, and back.
    pub bytes_to_agent: u64,
    pub bytes_to_client: u64,
    /// Why it ended, once it has.
    pub ended_reason: Option<String>,
    pub ended_at: Option<Timestamp>,
}

/// A new session, with the agent's token (shown this once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionCreated {
    pub session: SessionView,
    /// `berth_agt_…`: what `berth agent` presents; it works for this
    /// session only.
    pub agent_token: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    #[schema(value_type = crate::space::SpaceName)]
    pub space: String,
}

/// Save-to-container latencies of one sync report: at most [`Self::MAX`],
/// each a number of milliseconds, not negative.
pub struct SyncLatencies;

impl SyncLatencies {
    pub const MAX: usize = 1000;
}

impl utoipa::PartialSchema for SyncLatencies {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Double,
                    )))
                    .minimum(Some(0.0)),
            )
            .max_items(Some(Self::MAX))
            .description(Some(
                "Milliseconds from a local save to the agent having it, one per save (at most 1,000 per report).",
            ))
            .into()
    }
}

impl ToSchema for SyncLatencies {}

/// What a CLI's sync saw since its last report, for the daemon's metrics
/// (`berth up` sends one every few seconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SyncReport {
    /// Milliseconds from a local save to the agent having it, one per save
    /// (at most 1,000 per report).
    #[schema(value_type = SyncLatencies)]
    pub save_latencies_ms: Vec<f64>,
    pub files_sent: u64,
    pub files_received: u64,
    pub conflicts: u64,
}

//! The `[relay]` section of `berthd.toml`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// How long a dev session waits for a side that dropped to come back.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// A session with no traffic either way for this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The relay pings each side this often; a side that answers nothing
    /// for two intervals is taken as gone (a half-open connection).
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Live sessions one user may have.
    pub max_sessions_per_user: usize,
    /// Streams open at once in one session.
    pub max_streams_per_session: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            grace: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(8 * 3600),
            ping_interval: Duration::from_secs(15),
            max_sessions_per_user: 10,
            max_streams_per_session: 256,
        }
    }
}

impl RelayConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("grace", self.grace),
            ("idle_timeout", self.idle_timeout),
            ("ping_interval", self.ping_interval),
        ] {
            if value < Duration::from_secs(1) {
                return Err(format!("{key} must be at least 1s"));
            }
        }
        if self.max_sessions_per_user == 0 || self.max_streams_per_session == 0 {
            return Err(
                "max_sessions_per_user and max_streams_per_session must be at least 1".to_owned(),
            );
        }
        Ok(())
    }
}

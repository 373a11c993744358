//! What build of Berth is running.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The API generation this build serves under `/api/`.
pub const API_VERSION: &str = "v1";

/// Version information reported by `GET /api/v1/version` and `berth version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BuildInfo {
    /// The Berth release, a semantic version.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The API generation, such as `v1`.
    #[schema(example = "v1")]
    pub api: String,
}

impl BuildInfo {
    /// The build information of this binary.
    pub fn current() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            api: API_VERSION.to_owned(),
        }
    }
}

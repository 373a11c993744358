//! The HTTP client for the Berth API. It honours HTTPS_PROXY and NO_PROXY.

use std::time::Duration;

use berth_core::BuildInfo;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::output::Failure;

pub struct Client {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
    request_id: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Result<Client, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| {
                Failure::new(
                    format!("cannot set up HTTP: {err}"),
                    "check the system's TLS setup",
                )
            })?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub async fn version(&self) -> Result<BuildInfo, Failure> {
        self.get("/api/v1/version").await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).send().await.map_err(|err| {
            Failure::new(
                format!("cannot reach Berth at {}: {}", self.base, root_cause(&err)),
                "check that berthd runs there and the URL is right (`berth context list`)",
            )
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| {
            Failure::new(
                format!("lost the connection to {}: {}", self.base, root_cause(&err)),
                "try again",
            )
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|err| {
                Failure::new(
                    format!("{url} answered something that is not a Berth API response: {err}"),
                    "check that the context's URL points at berthd",
                )
            });
        }
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(ErrorBody { error }) => Err(Failure::new(
                format!(
                    "{} (HTTP {status}{})",
                    error.message,
                    error
                        .request_id
                        .map(|id| format!(", request {id}"))
                        .unwrap_or_default()
                ),
                "if this looks wrong, give the request id to your Berth admin",
            )),
            Err(_) => Err(Failure::new(
                format!("{url} answered HTTP {status}"),
                "check that the context's URL points at berthd",
            )),
        }
    }
}

/// The innermost error, which says what actually went wrong (for example
/// "Connection refused") rather than "error sending request".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

//! The HTTP client for the Berth API. It honours HTTPS_PROXY and NO_PROXY.

use std::time::Duration;

use berth_core::BuildInfo;
use reqwest::Method;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::output::Failure;

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    request_id: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // The daemon's redirects lead browsers to the identity provider;
            // an API client never follows them.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| {
                Failure::new(
                    format!("cannot set up HTTP: {err}"),
                    "check the system's TLS setup",
                )
            })?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub async fn version(&self) -> Result<BuildInfo, Failure> {
        self.get("/api/v1/version").await
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(Method::GET, path, None::<&()>).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(Method::DELETE, path, None::<&()>).await
    }

    /// A GET whose answer is read as it comes (a followed log).
    pub async fn get_stream(&self, path: &str) -> Result<reqwest::Response, Failure> {
        // As long as the operation runs (Helm has its own timeout).
        let (response, url) = self
            .start(
                Method::GET,
                path,
                None::<&()>,
                Some(Duration::from_secs(6 * 3600)),
            )
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(self.failure(status, &body, &url))
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// A call whose answer has no body (204).
    pub async fn post_empty(&self, path: &str) -> Result<(), Failure> {
        let (status, body, url) = self.raw(Method::POST, path, None::<&()>).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.failure(status, &body, &url))
        }
    }

    /// A DELETE whose answer has no body (204).
    pub async fn delete_empty(&self, path: &str) -> Result<(), Failure> {
        let (status, body, url) = self.raw(Method::DELETE, path, None::<&()>).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.failure(status, &body, &url))
        }
    }

    /// A call with a body whose answer has none (204).
    pub async fn post_no_content<B: Serialize>(&self, path: &str, body: &B) -> Result<(), Failure> {
        let (status, answer, url) = self.raw(Method::POST, path, Some(body)).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.failure(status, &answer, &url))
        }
    }

    /// Sends a request, with the token and a JSON body; answers the
    /// response (its body not read yet) and the URL.
    async fn start<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Option<Duration>,
    ) -> Result<(reqwest::Response, String), Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| {
            Failure::new(
                format!("cannot reach Berth at {}: {}", self.base, root_cause(&err)),
                "check that berthd runs there and the URL is right (`berth context list`)",
            )
        })?;
        Ok((response, url))
    }

    async fn raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(reqwest::StatusCode, Vec<u8>, String), Failure> {
        let (response, url) = self.start(method, path, body, None).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|err| {
            Failure::new(
                format!("lost the connection to {}: {}", self.base, root_cause(&err)),
                "try again",
            )
        })?;
        Ok((status, bytes.to_vec(), url))
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Failure> {
        let (status, bytes, url) = self.raw(method, path, body).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|err| {
                Failure::new(
                    format!("{url} answered something that is not a Berth API response: {err}"),
                    "check that the context's URL points at berthd",
                )
            });
        }
        Err(self.failure(status, &bytes, &url))
    }

    fn failure(&self, status: reqwest::StatusCode, bytes: &[u8], url: &str) -> Failure {
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(ErrorBody { error }) => {
                let request = error
                    .request_id
                    .map(|id| format!(", request {id}"))
                    .unwrap_or_default();
                let todo = match error.code.as_str() {
                    "unauthenticated" => "sign in with `berth login`".to_owned(),
                    "forbidden" => "ask an admin if you need this".to_owned(),
                    "too_many_requests" => "wait a minute and try again".to_owned(),
                    "invalid" => "fix the value named above and try again".to_owned(),
                    _ => "if this looks wrong, give the request id to your Berth admin".to_owned(),
                };
                Failure::new(
                    format!("{} (HTTP {}{request})", error.message, status.as_u16()),
                    todo,
                )
            }
            Err(_) => Failure::new(
                format!("{url} answered HTTP {status}"),
                "check that the context's URL points at berthd",
            ),
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

//! The one place where errors become HTTP responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::{Error, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::observe;

/// An API error. Its body names a code and a message; internal detail is
/// logged with the request id and never sent.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Quote this when reporting a problem: the daemon's log has the details.
    pub request_id: Option<String>,
}

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Error {
            code,
            message,
            internal,
        } = self.0;
        let request_id = observe::current_request_id();
        if let Some(detail) = internal {
            tracing::error!(code = code.as_str(), error = %detail, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                request_id,
            },
        };
        (status_of(code), Json(body)).into_response()
    }
}

/// An error as the Kubernetes API states one (a `Status` object), for the
/// Kubernetes API proxy: kubectl and helm print its message.
pub(crate) fn kube_status(err: Error) -> Response {
    let Error {
        code,
        message,
        internal,
    } = err;
    if let Some(detail) = internal {
        tracing::error!(code = code.as_str(), error = %detail, "Kubernetes API request failed");
    }
    let reason = match code {
        ErrorCode::Invalid => "Invalid",
        ErrorCode::Unauthenticated => "Unauthorized",
        ErrorCode::Forbidden => "Forbidden",
        ErrorCode::NotFound => "NotFound",
        ErrorCode::Conflict => "Conflict",
        ErrorCode::TooManyRequests => "TooManyRequests",
        ErrorCode::Unavailable => "ServiceUnavailable",
        ErrorCode::Internal => "InternalError",
    };
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.http_status(),
    });
    (status_of(code), Json(body)).into_response()
}

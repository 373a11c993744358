//! The one public error type. Each error carries a message that is safe to show
//! to the caller and, separately, internal detail that is only ever logged.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A machine-readable error code. It is part of the API: clients branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was malformed or a value failed validation.
    Invalid,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// The resource does not exist, or the caller may not know it exists.
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// Too many attempts; retry later.
    TooManyRequests,
    /// A dependency of the request is not ready; retrying later may succeed.
    Unavailable,
    /// Something failed inside Berth; the detail is in the daemon's log.
    Internal,
}

impl ErrorCode {
    /// The HTTP status an error of this code answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Invalid => 422,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Invalid => "invalid",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error as the API reports it.
///
/// `message` is shown to the caller. `internal` is for the operator's log and
/// never leaves the daemon: it may name files, peers or upstream errors.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub internal: Option<String>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            internal: None,
        }
    }

    /// What a log line says of this error: the internal detail when there
    /// is one, else the message. Never sent to a caller.
    pub fn detail(&self) -> &str {
        self.internal.as_deref().unwrap_or(&self.message)
    }

    /// A value named `field` failed validation.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Error::new(ErrorCode::Invalid, format!("{field}: {problem}"))
    }

    /// `kind` named `name` does not exist (or the caller may not see it).
    pub fn not_found(kind: &str, name: impl std::fmt::Display) -> Self {
        Error::new(ErrorCode::NotFound, format!("{kind} {name} not found"))
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unavailable, message)
    }

    /// An internal failure. The caller sees a generic message; `detail` is logged.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Error {
            code: ErrorCode::Internal,
            message: "internal error; the daemon's log has the details".to_owned(),
            internal: Some(detail.to_string()),
        }
    }
}

/// An error with all its sources, `outer: inner: innermost`, for logs.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_stays_out_of_the_message() {
        let err = Error::internal("sled: disk I/O error on /var/lib/berth");
        assert_eq!(err.code, ErrorCode::Internal);
        assert!(!err.to_string().contains("/var/lib/berth"));
        assert_eq!(
            err.internal.as_deref(),
            Some("sled: disk I/O error on /var/lib/berth")
        );
    }

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in [
            ErrorCode::Invalid,
            ErrorCode::Unauthenticated,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::TooManyRequests,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).expect("an enum serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}

//! Errors as the Kubernetes API reports them: `Status` objects with the same
//! `reason` and `code` a real API server uses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::resources::ResourceType;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

fn details(rt: &ResourceType, name: &str) -> Value {
    json!({"name": name, "group": rt.group, "kind": rt.plural})
}

impl ApiError {
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", rt.qualified_plural()),
            details: details(rt, name),
        }
    }

    pub fn namespace_not_found(name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{name}\" not found"),
            details: json!({"name": name, "kind": "namespaces"}),
        }
    }

    pub fn path_not_found(path: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
            details: json!({}),
        }
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", rt.qualified_plural()),
            details: details(rt, name),
        }
    }

    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                rt.qualified_plural()
            ),
            details: details(rt, name),
        }
    }

    /// 409 for server-side apply: each conflict is `(manager, field path)`.
    pub fn apply_conflicts(rt: &ResourceType, name: &str, conflicts: &[(String, String)]) -> Self {
        let api_version = rt.api_version();
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(manager, field)| {
                format!("conflict with \"{manager}\" using {api_version}: {field}")
            })
            .collect();
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(manager, field)| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{manager}\" using {api_version}"),
                    "field": field,
                })
            })
            .collect();
        let message = if lines.len() == 1 {
            format!("Apply failed with 1 conflict: {}", lines[0])
        } else {
            format!(
                "Apply failed with {} conflicts: {}",
                lines.len(),
                lines.join("\n")
            )
        };
        let mut details = details(rt, name);
        details["causes"] = Value::Array(causes);
        ApiError {
            code: 409,
            reason: "Conflict",
            message,
            details,
        }
    }

    /// 422 naming each invalid field: `(field, cause reason, message)`.
    pub fn invalid(
        rt: &ResourceType,
        name: &str,
        causes: &[(String, &'static str, String)],
    ) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|(field, _, message)| format!("{field}: {message}"))
            .collect();
        let mut details = json!({"name": name, "group": rt.group, "kind": rt.kind});
        details["causes"] = causes
            .iter()
            .map(|(field, reason, message)| json!({"reason": reason, "message": message, "field": field}))
            .collect();
        let message = if summary.len() == 1 {
            format!(
                "{} \"{name}\" is invalid: {}",
                rt.qualified_kind(),
                summary[0]
            )
        } else {
            format!(
                "{} \"{name}\" is invalid: [{}]",
                rt.qualified_kind(),
                summary.join(", ")
            )
        };
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn forbidden(message: impl Into<String>, details: Value) -> Self {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: message.into(),
            details,
        }
    }

    pub fn method_not_allowed() -> Self {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".to_owned(),
            details: json!({}),
        }
    }

    /// A protobuf body of a kind the simulator does not read.
    pub fn unsupported_protobuf(kind: &str) -> Self {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the simulator reads protobuf bodies of Secret, ConfigMap, Namespace and DeleteOptions only, not {kind:?}; send JSON"
            ),
            details: json!({}),
        }
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            details: json!({}),
        }
    }

    pub fn gone(message: impl Into<String>) -> Self {
        ApiError {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, Json(self.status())).into_response()
    }
}

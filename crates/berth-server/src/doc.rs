//! What every operation of the OpenAPI document shares, stated once: how a
//! caller authenticates, the answers the extractors give (not the handlers:
//! they declare their own), and the body of every error.
//!
//! The rules follow the code they describe:
//! - [`Caller`](crate::extract::Caller) authenticates every operation that
//!   does not declare `security(())` (public) or a scheme of its own: those
//!   answer 401 without a valid credential, and every change they take
//!   answers 403 for a read-only token or a console session's change without
//!   its CSRF token;
//! - [`ApiJson`](crate::extract::ApiJson) and
//!   [`ApiQuery`](crate::extract::ApiQuery) answer 422 for a body or query
//!   they cannot read;
//! - an operation that can refuse reaches the application layer, and so
//!   can fail inside it (500);
//! - every error answers [`ErrorBody`].

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Content, OpenApi, PathItem, RefOr, Response, ResponseBuilder, SecurityRequirement,
};
use utoipa::{PartialSchema, ToSchema};

use crate::error::{ErrorBody, ErrorDetail};
use crate::extract::{CSRF_HEADER, SESSION_COOKIE};

/// The security scheme of API tokens (`Authorization: Bearer berth_pat_…`
/// or `berth_cli_…`).
pub(crate) const BEARER: &str = "bearer";
/// The security scheme of console sessions (the `berth_session` cookie).
pub(crate) const SESSION: &str = "session";
/// The security scheme of a dev session's agent (`Bearer berth_agt_…`).
pub(crate) const AGENT: &str = "agent";

const UNAUTHENTICATED: &str =
    "Not signed in: no bearer token or session cookie, or one that is unknown, revoked or expired";
const READ_ONLY: &str = "A token without the write scope, or a console session's change without its x-csrf-token header";
const MALFORMED: &str = "A body or query that cannot be read (the field named)";
const INTERNAL: &str =
    "Something failed inside Berth; the daemon's log has the details (quote the request id)";

/// Completes the document as the module's rules say.
pub(crate) fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("berth_pat_… or berth_cli_…")
                .description(Some(
                    "An API token: a personal access token, or the CLI's from `berth login`.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE.to_owned(),
            format!(
                "A console session. Every change made with it (POST, PUT, PATCH, DELETE) also sends the session's CSRF token, from whoami, in the {CSRF_HEADER} header."
            ),
        ))),
    );
    components.add_security_scheme(
        AGENT,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("berth_agt_…")
                .description(Some(
                    "A dev session's agent token, shown once when the session is made.",
                ))
                .build(),
        ),
    );
    for (name, schema) in [
        (ErrorBody::name(), ErrorBody::schema()),
        (ErrorDetail::name(), ErrorDetail::schema()),
        (
            berth_core::ErrorCode::name(),
            berth_core::ErrorCode::schema(),
        ),
    ] {
        components.schemas.insert(name.into_owned(), schema);
    }
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            complete_operation(method, operation);
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
    .collect()
}

fn complete_operation(method: &str, operation: &mut utoipa::openapi::path::Operation) {
    let authenticated = match &operation.security {
        // No word from the handler: the `Caller` extractor's schemes.
        None => {
            operation.security = Some(vec![
                SecurityRequirement::new(BEARER, Vec::<String>::new()),
                SecurityRequirement::new(SESSION, Vec::<String>::new()),
            ]);
            true
        }
        // `security(())`: public, which OpenAPI says with no requirement.
        Some(requirements)
            if requirements
                .iter()
                .all(|r| *r == SecurityRequirement::default()) =>
        {
            operation.security = Some(Vec::new());
            false
        }
        // A scheme of its own (the agent's): it answers its own refusals.
        Some(_) => false,
    };
    let responses = &mut operation.responses.responses;
    if authenticated {
        add(responses, "401", UNAUTHENTICATED);
        if method != "GET" {
            add(responses, "403", READ_ONLY);
        }
    }
    let reads_input = operation.request_body.is_some()
        || operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == utoipa::openapi::path::ParameterIn::Query,
            RefOr::Ref(_) => true,
        });
    if reads_input {
        add(responses, "422", MALFORMED);
    }
    if responses.keys().any(|status| status.starts_with('4')) {
        add(responses, "500", INTERNAL);
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && !status.starts_with(['1', '2', '3'])
            && response.content.is_empty()
        {
            response.content.insert(
                "application/json".to_owned(),
                RefOr::T(Content::new(Some(RefOr::Ref(
                    utoipa::openapi::Ref::from_schema_name(ErrorBody::name()),
                )))),
            );
        }
    }
}

/// Adds the answer `status` saying `description`; an answer the handler
/// declared for the same status gets the description added to its own.
fn add(
    responses: &mut std::collections::BTreeMap<String, RefOr<Response>>,
    status: &str,
    description: &str,
) {
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            if !response.description.contains(description) {
                response.description = format!("{}; or: {description}", response.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(
                status.to_owned(),
                RefOr::T(ResponseBuilder::new().description(description).build()),
            );
        }
    }
}

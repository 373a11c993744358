//! The router over real HTTP, served in-process.

mod api;
mod apps;
mod audit_coverage;
mod auth_local;
mod catalog;
mod console;
mod openapi_file;
mod relay;
mod samples;
mod spaces;
mod sso;
mod sweep;
mod tracing_context;

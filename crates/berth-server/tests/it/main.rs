//! The router over real HTTP, served in-process.

mod api;
mod console;
mod tracing_context;

//! Route groups. Each module exposes `router()` returning an `OpenApiRouter`.

pub(crate) mod apps;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod catalog;
pub(crate) mod dev;
pub(crate) mod endpoints;
pub(crate) mod kube;
pub(crate) mod sessions;
pub(crate) mod spaces;
pub(crate) mod system;
pub(crate) mod users;

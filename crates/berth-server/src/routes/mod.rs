//! Route groups. Each module exposes `router()` returning an `OpenApiRouter`.

pub(crate) mod system;

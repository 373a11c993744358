//! Identity and access: local accounts and the first-admin setup link,
//! console sessions, API tokens, OpenID Connect sign-in (browser, device
//! code, CLI loopback), SSO group mapping, and the authorization policy.
//!
//! Invariant: every decision about what a caller may do is made by
//! [`policy::authorize`]; secrets (passwords, tokens, session and setup
//! secrets) are stored only as Argon2id or keyed BLAKE3 hashes and are never
//! logged.

mod audit_log;
pub mod config;
pub mod oidc;
pub mod passwords;
pub mod policy;
pub mod records;
pub mod rules;
pub mod secrets;
mod service;

pub use audit_log::{AuditExport, AuditLog};
pub use policy::{Action, Actor, Via};
pub use records::MappingRules;
pub use service::browser::SsoCallback;
pub use service::sso::SsoDone;
pub use service::{
    Auth, DevicePoll, DeviceStarted, LoginPurpose, MappingPreview, NewLocalUser, SignInHook,
    TokenRequest, UserUpdate, actor_of, normalize_username,
};

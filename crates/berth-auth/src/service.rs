//! The identity service: every operation authorizes through the policy,
//! then changes the store and appends its audit event in one transaction,
//! and answers only once the event is durable. Refusals are audited too.

mod accounts;
pub mod browser;
mod endpoints;
pub mod sso;
mod tokens;
mod users;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use berth_audit::{ActorKind, Audit, EventActor, EventResource, NewEvent, Origin, Outcome};
use berth_core::identity::{Scope, TokenCreated, UserView, Username};
use berth_core::{Clock, Error, Timestamp};
use berth_store::{Store, StoreError, Tx, TxError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::oidc::{Claims, Oidc};
use crate::policy::{Action, Actor, authorize};
use crate::records::{self, MappingRules, UserRecord};
use crate::secrets::Hasher;

/// Sign-ins in flight through the identity provider are forgotten after this.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// `last_seen_at` and `last_used_at` are written at most this often.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) fn store_err(err: StoreError) -> Error {
    Error::from(err)
}

fn tx_err(err: Error) -> TxError {
    TxError::Abort(err)
}

/// Where a browser sign-in through the provider is headed.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginPurpose {
    /// The console; back to `return_to` with a session.
    Console { return_to: String },
    /// `berth login --web`: back to the CLI's loopback port with a one-time
    /// code it exchanges, with its PKCE verifier, for a token.
    Cli {
        port: u16,
        state: String,
        code_challenge: String,
    },
}

struct PendingLogin {
    nonce: String,
    pkce_verifier: String,
    purpose: LoginPurpose,
    started: std::time::Instant,
}

struct CliCode {
    user_id: String,
    code_challenge: String,
    issued: std::time::Instant,
}

/// The state of a device sign-in, as the CLI sees it when it polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DevicePoll {
    Pending,
    Done { token: TokenCreated },
    Failed { message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceStarted {
    /// Poll with this until done.
    pub login_id: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in_seconds: u64,
    pub interval_seconds: u64,
}

/// What a claim set would map to, for the mapping dry-run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MappingPreview {
    pub claims: Claims,
    pub username: Option<String>,
    pub allowed: bool,
    /// Why sign-in would be refused, when it would.
    pub refusal: Option<String>,
    /// The role the user would have after signing in.
    pub role: Option<berth_core::identity::Role>,
    pub existing_user: Option<UserView>,
    pub warnings: Vec<String>,
}

/// Changes an admin may make to a user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub role: Option<berth_core::identity::Role>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocalUser {
    #[schema(value_type = berth_core::identity::Username)]
    pub username: String,
    /// At least 12 characters.
    #[schema(value_type = crate::rules::NewPassword)]
    pub password: String,
    pub email: Option<String>,
    /// Defaults to member.
    pub role: Option<berth_core::identity::Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(value_type = crate::rules::TokenName)]
    pub name: String,
    /// Days until it expires (90 by default, or the daemon's maximum if
    /// that is less). More than the daemon's `auth.max_token_ttl` allows is
    /// refused (403).
    #[schema(minimum = 1)]
    pub expires_in_days: Option<u64>,
    /// Defaults to read and write.
    #[serde(default)]
    pub scopes: Vec<Scope>,
}

/// Told about every successful sign-in, after it is recorded; the spaces
/// service makes a user's personal space this way. A hook that fails logs
/// it: the sign-in itself has happened.
pub trait SignInHook: Send + Sync {
    fn signed_in<'a>(
        &'a self,
        user: &'a UserView,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// A device sign-in in progress: when it started, and where the background
/// task leaves its outcome.
type DeviceLogin = (std::time::Instant, Arc<Mutex<DevicePoll>>);

/// The identity service.
pub struct Auth {
    store: Arc<Store>,
    audit: Arc<Audit>,
    config: AuthConfig,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    oidc: Option<Oidc>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_source: DefaultKeyedRateLimiter<IpAddr>,
    pending: Mutex<HashMap<String, PendingLogin>>,
    cli_codes: Mutex<HashMap<String, CliCode>>,
    endpoint_tickets: Mutex<HashMap<String, endpoints::Ticket>>,
    devices: Mutex<HashMap<String, DeviceLogin>>,
    sign_in_hook: std::sync::OnceLock<Arc<dyn SignInHook>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("oidc", &self.oidc).finish()
    }
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
}
/// Turns any name into a valid user name: lowercase, invalid characters
/// replaced by `-`, at most 63 characters.
pub fn normalize_username(raw: &str) -> Option<Username> {
    let mut name: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    name.truncate(63);
    Username::try_from(name).ok()
}

/// The audit actor for a signed-in caller.
pub fn actor_of(actor: &Actor) -> EventActor {
    EventActor {
        kind: match actor.via {
            crate::policy::Via::Session { .. } => ActorKind::User,
            crate::policy::Via::Token { .. } => ActorKind::Token,
        },
        id: Some(actor.user.id.clone()),
        name: actor.user.username.to_string(),
    }
}

pub(crate) fn user_actor(user: &UserRecord) -> EventActor {
    EventActor {
        kind: ActorKind::User,
        id: Some(user.id.clone()),
        name: user.username.to_string(),
    }
}

pub(crate) fn anonymous(claimed: &str) -> EventActor {
    EventActor {
        kind: ActorKind::Anonymous,
        id: None,
        name: if claimed.is_empty() {
            "anonymous".to_owned()
        } else {
            claimed.to_owned()
        },
    }
}

pub(crate) fn resource(kind: &str, id: Option<&str>, name: Option<&str>) -> EventResource {
    EventResource {
        kind: kind.to_owned(),
        id: id.map(str::to_owned),
        name: name.map(str::to_owned),
        space: None,
    }
}

fn status_of(err: &Error) -> u16 {
    err.code.http_status()
}

impl Auth {
    pub fn new(
        store: Arc<Store>,
        audit: Arc<Audit>,
        config: AuthConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Auth, Error> {
        config.validate().map_err(|e| Error::invalid("auth", e))?;
        let hasher = Hasher::new(store.secret_key("auth-hash").map_err(store_err)?);
        let oidc = match &config.oidc {
            Some(oidc) => Some(Oidc::new(oidc.clone(), clock.clone())?),
            None => None,
        };
        let auth = Auth {
            per_account: RateLimiter::keyed(quota(config.login_attempts_per_account)),
            per_source: RateLimiter::keyed(quota(config.login_attempts_per_source)),
            store,
            audit,
            config,
            clock,
            hasher,
            oidc,
            pending: Mutex::new(HashMap::new()),
            cli_codes: Mutex::new(HashMap::new()),
            endpoint_tickets: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
            sign_in_hook: std::sync::OnceLock::new(),
        };
        auth.seed_mapping()?;
        Ok(auth)
    }

    /// Sets the hook told about sign-ins; only the first call counts.
    pub fn set_sign_in_hook(&self, hook: Arc<dyn SignInHook>) {
        let _ = self.sign_in_hook.set(hook);
    }

    async fn signed_in(&self, user: &UserRecord) {
        if let Some(hook) = self.sign_in_hook.get() {
            hook.signed_in(&user.view()).await;
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn oidc(&self) -> Option<&Oidc> {
        self.oidc.as_ref()
    }

    pub fn audit(&self) -> &Arc<Audit> {
        &self.audit
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn seed_mapping(&self) -> Result<(), Error> {
        let Some(oidc) = &self.config.oidc else {
            return Ok(());
        };
        let seed = MappingRules {
            admin_groups: oidc.admin_groups.clone(),
            auditor_groups: oidc.auditor_groups.clone(),
        };
        self.store
            .transact(&[records::MAPPING.name], |tx| {
                if tx.get(records::MAPPING, "rules")?.is_none() {
                    tx.put(records::MAPPING, "rules", &seed)?;
                }
                Ok(())
            })
            .map_err(store_err)
    }

    fn user(&self, id: &str) -> Result<UserRecord, Error> {
        self.store
            .get(records::USERS, id)
            .map_err(store_err)?
            .ok_or_else(|| Error::not_found("user", id))
    }

    /// Changes the store and records `event` atomically, then waits until the
    /// event is durable.
    async fn commit<R>(
        &self,
        tables: &[&'static str],
        change: impl Fn(&Tx<'_>) -> Result<(R, NewEvent), TxError>,
    ) -> Result<R, Error> {
        self.audit.commit_durable(tables, change).await
    }

    /// Records an event that goes with no change (a refusal), durably.
    /// Other services record theirs through this too.
    pub async fn record(&self, event: NewEvent) {
        match self.audit.record(event) {
            Ok(event) => {
                if let Err(err) = self.audit.durable(event.seq).await {
                    tracing::error!(error = %err.internal.unwrap_or(err.message), "an audit event may not be durable");
                }
            }
            Err(err) => {
                tracing::error!(error = %err.detail(), "cannot record an audit event")
            }
        }
    }

    /// Asks the policy; a refusal is audited as `denied` under
    /// `audit_action`. Other subsystems authorize through this too.
    pub async fn allow(
        &self,
        actor: &Actor,
        action: Action<'_>,
        audit_action: &str,
        target: EventResource,
    ) -> Result<(), Error> {
        match authorize(actor, action) {
            Ok(()) => Ok(()),
            Err(err) => {
                let event = NewEvent::new(actor_of(actor), audit_action, target, Outcome::Denied)
                    .origin(actor.origin.clone())
                    .status(status_of(&err))
                    .reason(err.message.clone());
                self.record(event).await;
                Err(err)
            }
        }
    }

    /// Records a read worth auditing (an export of the audit log), durably,
    /// attributed to the caller as every other event is.
    pub async fn record_read(
        &self,
        actor: &Actor,
        action: &str,
        target: EventResource,
        reason: &str,
    ) -> Result<(), Error> {
        let event = NewEvent::new(actor_of(actor), action, target, Outcome::Success)
            .origin(actor.origin.clone())
            .reason(reason);
        self.audit.record_durable(event).await.map(drop)
    }

    /// Records a failed attempt, then returns its error. Other services
    /// record theirs through this too.
    /// Passes `result` on; an error is first audited as a failure of
    /// `action` by `actor` (a refused change: a bad value, a conflict).
    pub async fn audited<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: EventResource,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        match result {
            Ok(value) => Ok(value),
            Err(err) => Err(self
                .failed(err, actor_of(actor), action, target, &actor.origin)
                .await),
        }
    }

    pub async fn failed(
        &self,
        err: Error,
        actor: EventActor,
        action: &str,
        target: EventResource,
        origin: &Origin,
    ) -> Error {
        let event = NewEvent::new(actor, action, target, Outcome::Failure)
            .origin(origin.clone())
            .status(status_of(&err))
            .reason(err.message.clone());
        self.record(event).await;
        err
    }

    fn rate_limit(&self, account: &str, source: Option<IpAddr>) -> Result<(), Error> {
        // Forget keys whose limits have recovered, so the maps stay small.
        if self.per_account.len() > 10_000 {
            self.per_account.retain_recent();
        }
        if self.per_source.len() > 10_000 {
            self.per_source.retain_recent();
        }
        let account_ok = self.per_account.check_key(&account.to_owned()).is_ok();
        let source_ok = source.is_none_or(|ip| self.per_source.check_key(&ip).is_ok());
        if account_ok && source_ok {
            Ok(())
        } else {
            tracing::warn!(account, source = ?source, "sign-in attempts over the limit");
            Err(Error::new(
                berth_core::ErrorCode::TooManyRequests,
                "too many sign-in attempts; wait a minute and try again",
            ))
        }
    }
}

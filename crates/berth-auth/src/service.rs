//! The identity service: every operation authorizes through the policy,
//! then reads or changes the store in one transaction.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::identity::{
    RoleSource, Scope, TokenCreated, TokenKind, TokenView, UserView, Username, Whoami,
};
use berth_core::{Clock, Error, Timestamp};
use berth_store::{Store, StoreError, TxError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::oidc::{Claims, Oidc};
use crate::passwords;
use crate::policy::{Action, Actor, Via, authorize};
use crate::records::{
    self, MappingRules, SessionRecord, SetupRecord, SsoIdentity, TokenRecord, UserRecord,
};
use crate::secrets::{self, Hasher};

/// Sign-ins in flight through the identity provider are forgotten after this.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// `last_seen_at` and `last_used_at` are written at most this often.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) fn store_err(err: StoreError) -> Error {
    match err {
        StoreError::Aborted(err) => err,
        other => Error::internal(crate::oidc::error_chain(&other)),
    }
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
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    pub email: Option<String>,
    /// Defaults to member.
    pub role: Option<berth_core::identity::Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    /// Days until it expires; at most the configured maximum.
    pub expires_in_days: Option<u64>,
    /// Defaults to read and write.
    #[serde(default)]
    pub scopes: Vec<Scope>,
}

/// The identity service.
pub struct Auth {
    store: Arc<Store>,
    config: AuthConfig,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    oidc: Option<Oidc>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_source: DefaultKeyedRateLimiter<IpAddr>,
    pending: Mutex<HashMap<String, PendingLogin>>,
    cli_codes: Mutex<HashMap<String, CliCode>>,
    devices: Mutex<HashMap<String, Arc<Mutex<DevicePoll>>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("oidc", &self.oidc).finish()
    }
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

impl Auth {
    pub fn new(
        store: Arc<Store>,
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
            config,
            clock,
            hasher,
            oidc,
            pending: Mutex::new(HashMap::new()),
            cli_codes: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
        };
        auth.seed_mapping()?;
        Ok(auth)
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn oidc(&self) -> Option<&Oidc> {
        self.oidc.as_ref()
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

    fn rate_limit(&self, account: &str, source: Option<IpAddr>) -> Result<(), Error> {
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

    // ---- first-admin setup ------------------------------------------------

    pub fn setup_required(&self) -> Result<bool, Error> {
        Ok(self.config.local_accounts && self.store.is_empty(records::USERS).map_err(store_err)?)
    }

    /// When no user exists yet, makes a fresh one-time setup secret (any
    /// earlier one stops working) and returns it.
    pub fn issue_setup_secret(&self) -> Result<Option<(String, Timestamp)>, Error> {
        if !self.setup_required()? {
            return Ok(None);
        }
        let secret = secrets::random_secret();
        let record = SetupRecord {
            token_hash: self.hasher.hash(&secret),
            expires_at: self.now().plus(self.config.setup_link_ttl),
        };
        self.store
            .transact(&[records::SETUP.name], |tx| {
                tx.put(records::SETUP, "current", &record)
            })
            .map_err(store_err)?;
        Ok(Some((secret, record.expires_at)))
    }

    /// Creates the first admin with the setup secret, which then stops
    /// working, and signs them in.
    pub async fn complete_setup(
        &self,
        secret: &str,
        username: &str,
        password: &str,
        email: Option<String>,
    ) -> Result<(UserRecord, String), Error> {
        let username = Username::try_from(username.to_owned())?;
        passwords::check_strength(password)?;
        let hash = passwords::hash(password.to_owned()).await?;
        let now = self.now();
        let presented = self.hasher.hash(secret);
        let user = UserRecord {
            id: format!("u-{}", uuid::Uuid::new_v4().simple()),
            username: username.clone(),
            email,
            display_name: None,
            role: berth_core::identity::Role::Admin,
            role_source: RoleSource::Setup,
            disabled: false,
            created_at: now,
            last_login_at: Some(now),
            groups: Vec::new(),
            groups_claim_missing: false,
            password_hash: Some(hash),
            sso: None,
        };
        self.store
            .transact(&[records::SETUP.name, records::USERS.name, records::USERNAMES.name], |tx| {
                let invalid = || tx_err(Error::unauthenticated("the setup link is not valid (it expired, was used, or a newer one was printed)"));
                let setup = tx.get(records::SETUP, "current")?.ok_or_else(invalid)?;
                if setup.token_hash != presented || setup.expires_at < now {
                    return Err(invalid());
                }
                tx.delete(records::SETUP, "current")?;
                tx.put(records::USERS, &user.id, &user)?;
                tx.put(records::USERNAMES, username.as_str(), &user.id)?;
                Ok(())
            })
            .map_err(store_err)?;
        tracing::info!(user = %user.username, "first admin created with the setup link");
        let session = self.create_session(&user)?;
        Ok((user, session))
    }

    // ---- local accounts -----------------------------------------------------

    /// Checks a local account's password, rate-limited per account and per
    /// source address.
    pub async fn login_local(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<UserRecord, Error> {
        if !self.config.local_accounts {
            return Err(Error::forbidden(
                "local accounts are turned off; sign in with single sign-on",
            ));
        }
        self.rate_limit(username, source)?;
        let refused = || Error::unauthenticated("wrong user name or password");
        let user = match self
            .store
            .get(records::USERNAMES, username)
            .map_err(store_err)?
        {
            Some(id) => self.store.get(records::USERS, &id).map_err(store_err)?,
            None => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = passwords::verify(password.to_owned(), stored).await;
        match user {
            Some(user) if ok && !user.disabled => {
                let now = self.now();
                let id = user.id.clone();
                let user = self
                    .store
                    .transact(&[records::USERS.name], |tx| {
                        let mut user = tx
                            .get(records::USERS, &id)?
                            .ok_or_else(|| tx_err(refused()))?;
                        user.last_login_at = Some(now);
                        tx.put(records::USERS, &id, &user)?;
                        Ok(user)
                    })
                    .map_err(store_err)?;
                tracing::info!(user = %user.username, "local sign-in");
                Ok(user)
            }
            Some(user) if ok => {
                tracing::warn!(user = %user.username, "sign-in refused: account disabled");
                Err(Error::unauthenticated("this account is disabled"))
            }
            _ => {
                tracing::warn!(
                    account = username,
                    "sign-in refused: wrong user name or password"
                );
                Err(refused())
            }
        }
    }

    // ---- sessions -----------------------------------------------------------

    /// Starts a console session; returns the cookie secret.
    pub fn create_session(&self, user: &UserRecord) -> Result<String, Error> {
        let secret = secrets::random_secret();
        let now = self.now();
        let record = SessionRecord {
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            csrf_token: secrets::random_secret(),
        };
        let key = self.hasher.hash(&secret);
        self.store
            .transact(&[records::SESSIONS.name], |tx| {
                tx.put(records::SESSIONS, &key, &record)
            })
            .map_err(store_err)?;
        Ok(secret)
    }

    pub fn authenticate_session(&self, secret: &str) -> Result<Actor, Error> {
        let expired = || Error::unauthenticated("your session ended; sign in again");
        let key = self.hasher.hash(secret);
        let session = self
            .store
            .get(records::SESSIONS, &key)
            .map_err(store_err)?
            .ok_or_else(expired)?;
        let now = self.now();
        let idle = now.since(session.last_seen_at) > self.config.session_idle_timeout;
        let old = now.since(session.created_at) > self.config.session_max_lifetime;
        if idle || old {
            let _ = self.store.transact(&[records::SESSIONS.name], |tx| {
                tx.delete(records::SESSIONS, &key)
            });
            return Err(expired());
        }
        let user = self.user(&session.user_id).map_err(|_| expired())?;
        if user.disabled {
            return Err(Error::unauthenticated("this account is disabled"));
        }
        if now.since(session.last_seen_at) > TOUCH_INTERVAL {
            let touched = SessionRecord {
                last_seen_at: now,
                ..session.clone()
            };
            let _ = self.store.transact(&[records::SESSIONS.name], |tx| {
                tx.put(records::SESSIONS, &key, &touched)
            });
        }
        Ok(Actor {
            user,
            via: Via::Session {
                key,
                csrf_token: session.csrf_token,
            },
        })
    }

    pub fn logout(&self, actor: &Actor) -> Result<(), Error> {
        if let Via::Session { key, .. } = &actor.via {
            self.store
                .transact(&[records::SESSIONS.name], |tx| {
                    tx.delete(records::SESSIONS, key)
                })
                .map_err(store_err)?;
        }
        Ok(())
    }

    // ---- tokens -------------------------------------------------------------

    fn mint_token(
        &self,
        user: &UserRecord,
        name: &str,
        kind: TokenKind,
        scopes: Vec<Scope>,
        ttl: Duration,
    ) -> Result<TokenCreated, Error> {
        let prefix = match kind {
            TokenKind::Personal => secrets::PAT_PREFIX,
            TokenKind::Cli => secrets::CLI_PREFIX,
        };
        let secret = format!("{prefix}{}", secrets::random_secret());
        let now = self.now();
        let record = TokenRecord {
            id: secrets::random_id(),
            user_id: user.id.clone(),
            name: name.to_owned(),
            kind,
            prefix: secret[..prefix.len() + 6].to_owned(),
            scopes,
            created_at: now,
            expires_at: Some(now.plus(ttl)),
            last_used_at: None,
        };
        let hash = self.hasher.hash(&secret);
        self.store
            .transact(&[records::TOKENS.name, records::TOKEN_IDS.name], |tx| {
                tx.put(records::TOKENS, &hash, &record)?;
                tx.put(records::TOKEN_IDS, &record.id, &hash)?;
                Ok(())
            })
            .map_err(store_err)?;
        Ok(TokenCreated {
            token: record.view(&user.username),
            secret,
        })
    }

    pub fn authenticate_token(&self, secret: &str) -> Result<Actor, Error> {
        let invalid = || {
            Error::unauthenticated(
                "the token is not valid (unknown, revoked or expired); run `berth login` again",
            )
        };
        if !secret.starts_with(secrets::PAT_PREFIX) && !secret.starts_with(secrets::CLI_PREFIX) {
            return Err(invalid());
        }
        let hash = self.hasher.hash(secret);
        let token = self
            .store
            .get(records::TOKENS, &hash)
            .map_err(store_err)?
            .ok_or_else(invalid)?;
        let now = self.now();
        if token.expires_at.is_some_and(|e| e < now) {
            return Err(invalid());
        }
        let user = self.user(&token.user_id).map_err(|_| invalid())?;
        if user.disabled {
            return Err(Error::unauthenticated("this account is disabled"));
        }
        if token
            .last_used_at
            .is_none_or(|t| now.since(t) > TOUCH_INTERVAL)
        {
            let touched = TokenRecord {
                last_used_at: Some(now),
                ..token.clone()
            };
            let _ = self.store.transact(&[records::TOKENS.name], |tx| {
                // Only if it was not revoked meanwhile.
                if tx.get(records::TOKENS, &hash)?.is_some() {
                    tx.put(records::TOKENS, &hash, &touched)?;
                }
                Ok(())
            });
        }
        Ok(Actor {
            user,
            via: Via::Token {
                id: token.id,
                scopes: token.scopes,
            },
        })
    }

    pub fn create_token(
        &self,
        actor: &Actor,
        request: TokenRequest,
    ) -> Result<TokenCreated, Error> {
        authorize(actor, Action::ManageOwnTokens)?;
        let name = request.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::invalid("name", "must be 1 to 100 characters"));
        }
        let max_days = self.config.max_token_ttl.as_secs() / 86_400;
        let days = request.expires_in_days.unwrap_or(90.min(max_days.max(1)));
        if days == 0 || days > max_days.max(1) {
            return Err(Error::invalid(
                "expires_in_days",
                format!("must be between 1 and {}", max_days.max(1)),
            ));
        }
        let mut scopes = if request.scopes.is_empty() {
            vec![Scope::Read, Scope::Write]
        } else {
            request.scopes
        };
        scopes.sort();
        scopes.dedup();
        // A token cannot do more than the credential that made it.
        let allowed = actor.scopes();
        if let Some(extra) = scopes.iter().find(|s| !allowed.contains(s)) {
            return Err(Error::forbidden(
                format!("cannot grant the {extra:?} scope, which this credential lacks")
                    .to_lowercase(),
            ));
        }
        self.mint_token(
            &actor.user,
            name,
            TokenKind::Personal,
            scopes,
            Duration::from_secs(days * 86_400),
        )
    }

    /// A token for `berth login`.
    pub fn cli_token(&self, user: &UserRecord) -> Result<TokenCreated, Error> {
        self.mint_token(
            user,
            "berth login",
            TokenKind::Cli,
            vec![Scope::Read, Scope::Write],
            self.config.cli_token_ttl,
        )
    }

    /// The caller's tokens, or with `all` (admins) everyone's.
    pub fn list_tokens(&self, actor: &Actor, all: bool) -> Result<Vec<TokenView>, Error> {
        authorize(
            actor,
            if all {
                Action::ManageAllTokens
            } else {
                Action::ReadSelf
            },
        )?;
        let users: HashMap<String, Username> = self
            .store
            .scan(records::USERS, "")
            .map_err(store_err)?
            .into_iter()
            .map(|(id, u)| (id, u.username))
            .collect();
        let mut tokens: Vec<TokenView> = self
            .store
            .scan(records::TOKENS, "")
            .map_err(store_err)?
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| all || t.user_id == actor.user.id)
            .filter_map(|t| users.get(&t.user_id).map(|u| t.view(u)))
            .collect();
        tokens.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(tokens)
    }

    /// Revokes a token: the caller's own, or anyone's for admins. Others'
    /// tokens answer not found.
    pub fn revoke_token(&self, actor: &Actor, id: &str) -> Result<TokenView, Error> {
        authorize(actor, Action::ManageOwnTokens)?;
        let admin = authorize(actor, Action::ManageAllTokens).is_ok();
        let me = actor.user.id.clone();
        let revoked = self
            .store
            .transact(&[records::TOKENS.name, records::TOKEN_IDS.name], |tx| {
                let missing = || tx_err(Error::not_found("token", id));
                let hash = tx.get(records::TOKEN_IDS, id)?.ok_or_else(missing)?;
                let token = tx.get(records::TOKENS, &hash)?.ok_or_else(missing)?;
                if token.user_id != me && !admin {
                    return Err(missing());
                }
                tx.delete(records::TOKENS, &hash)?;
                tx.delete(records::TOKEN_IDS, id)?;
                Ok(token)
            })
            .map_err(store_err)?;
        let owner = self.user(&revoked.user_id)?;
        Ok(revoked.view(&owner.username))
    }

    // ---- users --------------------------------------------------------------

    pub fn whoami(&self, actor: &Actor) -> Result<Whoami, Error> {
        authorize(actor, Action::ReadSelf)?;
        let (via, csrf) = match &actor.via {
            Via::Session { csrf_token, .. } => ("session", Some(csrf_token.clone())),
            Via::Token { .. } => ("token", None),
        };
        Ok(Whoami {
            user: actor.user.view(),
            via: via.to_owned(),
            scopes: actor.scopes(),
            csrf_token: csrf,
        })
    }

    pub fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, Error> {
        authorize(actor, Action::ListUsers)?;
        let mut users: Vec<UserView> = self
            .store
            .scan(records::USERS, "")
            .map_err(store_err)?
            .into_iter()
            .map(|(_, u)| u.view())
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    pub fn get_user(&self, actor: &Actor, id: &str) -> Result<UserView, Error> {
        authorize(actor, Action::ReadUser { id })?;
        Ok(self.user(id)?.view())
    }

    /// Makes a local account (admins); for teams without single sign-on and
    /// for break-glass access.
    pub async fn create_local_user(
        &self,
        actor: &Actor,
        request: NewLocalUser,
    ) -> Result<UserView, Error> {
        authorize(actor, Action::UpdateUsers)?;
        if !self.config.local_accounts {
            return Err(Error::forbidden(
                "local accounts are turned off (auth.local_accounts = false)",
            ));
        }
        let username = Username::try_from(request.username)?;
        passwords::check_strength(&request.password)?;
        let hash = passwords::hash(request.password).await?;
        let user = UserRecord {
            id: format!("u-{}", uuid::Uuid::new_v4().simple()),
            username: username.clone(),
            email: request.email,
            display_name: None,
            role: request.role.unwrap_or(berth_core::identity::Role::Member),
            role_source: RoleSource::Manual,
            disabled: false,
            created_at: self.now(),
            last_login_at: None,
            groups: Vec::new(),
            groups_claim_missing: false,
            password_hash: Some(hash),
            sso: None,
        };
        self.store
            .transact(&[records::USERS.name, records::USERNAMES.name], |tx| {
                if tx.get(records::USERNAMES, username.as_str())?.is_some() {
                    return Err(tx_err(Error::conflict(format!(
                        "the user name {username} is taken"
                    ))));
                }
                tx.put(records::USERS, &user.id, &user)?;
                tx.put(records::USERNAMES, username.as_str(), &user.id)?;
                Ok(())
            })
            .map_err(store_err)?;
        tracing::info!(user = %user.username, role = user.role.as_str(), by = %actor.user.username, "local account created");
        Ok(user.view())
    }

    /// Changes a user's role or disables them. Disabling revokes their
    /// sessions and tokens in the same transaction.
    pub fn update_user(
        &self,
        actor: &Actor,
        id: &str,
        update: UserUpdate,
    ) -> Result<UserView, Error> {
        authorize(actor, Action::UpdateUsers)?;
        if id == actor.user.id
            && (update.disabled == Some(true) || update.role.is_some_and(|r| r != actor.user.role))
        {
            return Err(Error::conflict(
                "you cannot disable yourself or change your own role; ask another admin",
            ));
        }
        let sessions = self.store.scan(records::SESSIONS, "").map_err(store_err)?;
        let tokens = self.store.scan(records::TOKENS, "").map_err(store_err)?;
        let user = self
            .store
            .transact(
                &[
                    records::USERS.name,
                    records::SESSIONS.name,
                    records::TOKENS.name,
                    records::TOKEN_IDS.name,
                ],
                |tx| {
                    let mut user = tx
                        .get(records::USERS, id)?
                        .ok_or_else(|| tx_err(Error::not_found("user", id)))?;
                    if let Some(role) = update.role {
                        user.role = role;
                        user.role_source = RoleSource::Manual;
                    }
                    if let Some(disabled) = update.disabled {
                        user.disabled = disabled;
                        if disabled {
                            for (key, session) in &sessions {
                                if session.user_id == user.id {
                                    tx.delete(records::SESSIONS, key)?;
                                }
                            }
                            for (hash, token) in &tokens {
                                if token.user_id == user.id {
                                    tx.delete(records::TOKENS, hash)?;
                                    tx.delete(records::TOKEN_IDS, &token.id)?;
                                }
                            }
                        }
                    }
                    tx.put(records::USERS, id, &user)?;
                    Ok(user)
                },
            )
            .map_err(store_err)?;
        tracing::info!(user = %user.username, role = user.role.as_str(), disabled = user.disabled, by = %actor.user.username, "user updated");
        Ok(user.view())
    }

    // ---- single sign-on -----------------------------------------------------

    fn sso(&self) -> Result<&Oidc, Error> {
        self.oidc
            .as_ref()
            .ok_or_else(|| Error::not_found("single sign-on", "configuration (set [auth.oidc])"))
    }

    /// Starts a browser sign-in; returns the provider URL to send it to.
    pub async fn sso_begin(&self, redirect: &str, purpose: LoginPurpose) -> Result<String, Error> {
        let authorization = self.sso()?.authorize(redirect).await?;
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| p.started.elapsed() < PENDING_TTL);
        pending.insert(
            authorization.state.clone(),
            PendingLogin {
                nonce: authorization.nonce,
                pkce_verifier: authorization.pkce_verifier,
                purpose,
                started: std::time::Instant::now(),
            },
        );
        Ok(authorization.url)
    }

    /// Finishes a browser sign-in. The state is single-use: a replayed
    /// callback is refused.
    pub async fn sso_finish(
        &self,
        redirect: &str,
        state: &str,
        code: &str,
    ) -> Result<(UserRecord, LoginPurpose), Error> {
        let pending = lock(&self.pending)
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_TTL)
            .ok_or_else(|| {
                Error::unauthenticated(
                    "this sign-in is unknown, expired or already used; start again",
                )
            })?;
        let claims = self
            .sso()?
            .finish(redirect, code, &pending.pkce_verifier, &pending.nonce)
            .await?;
        let user = self.sign_in_sso(&claims)?;
        Ok((user, pending.purpose))
    }

    /// Issues the one-time code a CLI loopback sign-in exchanges.
    pub fn cli_code(&self, user: &UserRecord, code_challenge: &str) -> String {
        let code = secrets::random_secret();
        let mut codes = lock(&self.cli_codes);
        codes.retain(|_, c| c.issued.elapsed() < PENDING_TTL);
        codes.insert(
            self.hasher.hash(&code),
            CliCode {
                user_id: user.id.clone(),
                code_challenge: code_challenge.to_owned(),
                issued: std::time::Instant::now(),
            },
        );
        code
    }

    /// Exchanges a loopback code and the CLI's PKCE verifier for a token.
    pub fn cli_exchange(&self, code: &str, verifier: &str) -> Result<TokenCreated, Error> {
        let invalid =
            || Error::unauthenticated("this sign-in code is unknown, expired or already used");
        if !(43..=128).contains(&verifier.len())
            || !verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(Error::invalid(
                "code_verifier",
                "must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~' (RFC 7636)",
            ));
        }
        let entry = lock(&self.cli_codes)
            .remove(&self.hasher.hash(code))
            .ok_or_else(invalid)?;
        if entry.issued.elapsed() > PENDING_TTL {
            return Err(invalid());
        }
        let challenge = openidconnect::PkceCodeChallenge::from_code_verifier_sha256(
            &openidconnect::PkceCodeVerifier::new(verifier.to_owned()),
        );
        if challenge.as_str() != entry.code_challenge {
            return Err(Error::unauthenticated(
                "the code verifier does not match this sign-in",
            ));
        }
        let user = self.user(&entry.user_id)?;
        if user.disabled {
            return Err(Error::unauthenticated("this account is disabled"));
        }
        self.cli_token(&user)
    }

    /// Starts a device sign-in; the daemon polls the provider in the
    /// background while the CLI polls the daemon.
    pub async fn device_begin(self: &Arc<Self>) -> Result<DeviceStarted, Error> {
        let details = self.sso()?.device_start().await?;
        let login_id = secrets::random_secret();
        let state = Arc::new(Mutex::new(DevicePoll::Pending));
        lock(&self.devices).insert(self.hasher.hash(&login_id), state.clone());
        let started = DeviceStarted {
            login_id,
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|u| u.secret().clone()),
            expires_in_seconds: details.expires_in().as_secs(),
            interval_seconds: details.interval().as_secs(),
        };
        let auth = self.clone();
        tokio::spawn(async move {
            let outcome = match auth.sso().map(|o| o.device_finish(&details)) {
                Ok(finishing) => match finishing.await {
                    Ok(claims) => auth
                        .sign_in_sso(&claims)
                        .and_then(|user| auth.cli_token(&user)),
                    Err(err) => Err(err),
                },
                Err(err) => Err(err),
            };
            *lock(&state) = match outcome {
                Ok(token) => DevicePoll::Done { token },
                Err(err) => {
                    if let Some(detail) = &err.internal {
                        tracing::warn!(error = %detail, "device sign-in failed");
                    }
                    DevicePoll::Failed {
                        message: err.message,
                    }
                }
            };
        });
        Ok(started)
    }

    /// The state of a device sign-in. A finished one is handed out once.
    pub fn device_poll(&self, login_id: &str) -> Result<DevicePoll, Error> {
        let key = self.hasher.hash(login_id);
        let mut devices = lock(&self.devices);
        let state = devices
            .get(&key)
            .ok_or_else(|| Error::not_found("device sign-in", "with this id"))?;
        let current = lock(state).clone();
        if current != DevicePoll::Pending {
            devices.remove(&key);
        }
        Ok(current)
    }

    /// Decides who signs in from verified claims: finds or creates the user,
    /// applies the domain and group requirements, and maps groups to a role.
    /// A token without a groups claim keeps the user's role as it was.
    pub fn sign_in_sso(&self, claims: &Claims) -> Result<UserRecord, Error> {
        let preview = self.preview(claims)?;
        if let Some(refusal) = preview.refusal {
            tracing::warn!(subject = %claims.subject, reason = %refusal, "single sign-on refused");
            return Err(Error::forbidden(refusal));
        }
        let rules = self.mapping_rules()?;
        let now = self.now();
        let subject_key = format!("{} {}", claims.issuer, claims.subject);
        let base = preview
            .username
            .clone()
            .ok_or_else(|| Error::forbidden("the identity provider sent no user name"))?;
        let claims = claims.clone();
        let user = self
            .store
            .transact(
                &[
                    records::USERS.name,
                    records::USERNAMES.name,
                    records::SSO_SUBJECTS.name,
                ],
                |tx| {
                    let existing = match tx.get(records::SSO_SUBJECTS, &subject_key)? {
                        Some(id) => tx.get(records::USERS, &id)?,
                        None => None,
                    };
                    let mut user = match existing {
                        Some(user) => user,
                        None => {
                            // A new user: the first free name from the claim.
                            let mut name = base.clone();
                            let mut n = 2;
                            while tx.get(records::USERNAMES, &name)?.is_some() {
                                let suffix = format!("-{n}");
                                let mut trimmed = base.clone();
                                trimmed.truncate(63 - suffix.len());
                                name = format!("{trimmed}{suffix}");
                                n += 1;
                            }
                            let username = Username::try_from(name.clone()).map_err(tx_err)?;
                            let user = UserRecord {
                                id: format!("u-{}", uuid::Uuid::new_v4().simple()),
                                username,
                                email: None,
                                display_name: None,
                                role: berth_core::identity::Role::Member,
                                role_source: RoleSource::Mapping,
                                disabled: false,
                                created_at: now,
                                last_login_at: None,
                                groups: Vec::new(),
                                groups_claim_missing: false,
                                password_hash: None,
                                sso: Some(SsoIdentity {
                                    issuer: claims.issuer.clone(),
                                    subject: claims.subject.clone(),
                                }),
                            };
                            tx.put(records::USERNAMES, &name, &user.id)?;
                            tx.put(records::SSO_SUBJECTS, &subject_key, &user.id)?;
                            user
                        }
                    };
                    if user.disabled {
                        return Err(tx_err(Error::unauthenticated("this account is disabled")));
                    }
                    user.email = claims.email.clone().or(user.email);
                    user.display_name = claims.name.clone().or(user.display_name);
                    user.last_login_at = Some(now);
                    match &claims.groups {
                        Some(groups) => {
                            user.groups = groups.clone();
                            user.groups_claim_missing = false;
                            if user.role_source == RoleSource::Mapping {
                                user.role = rules.role_for(groups);
                            }
                        }
                        None => user.groups_claim_missing = true,
                    }
                    tx.put(records::USERS, &user.id, &user)?;
                    Ok(user)
                },
            )
            .map_err(store_err)?;
        if user.groups_claim_missing {
            tracing::warn!(
                user = %user.username,
                claim = self.config.oidc.as_ref().map_or("groups", |o| o.groups_claim.as_str()),
                role = user.role.as_str(),
                "the ID token had no groups claim: the role was kept, not recomputed"
            );
        }
        tracing::info!(user = %user.username, role = user.role.as_str(), "single sign-on");
        Ok(user)
    }

    // ---- group mapping --------------------------------------------------------

    pub fn mapping_rules(&self) -> Result<MappingRules, Error> {
        Ok(self
            .store
            .get(records::MAPPING, "rules")
            .map_err(store_err)?
            .unwrap_or_default())
    }

    pub fn get_mapping(&self, actor: &Actor) -> Result<MappingRules, Error> {
        authorize(actor, Action::ReadSsoMapping)?;
        self.mapping_rules()
    }

    pub fn set_mapping(&self, actor: &Actor, rules: MappingRules) -> Result<MappingRules, Error> {
        authorize(actor, Action::WriteSsoMapping)?;
        self.store
            .transact(&[records::MAPPING.name], |tx| {
                tx.put(records::MAPPING, "rules", &rules)
            })
            .map_err(store_err)?;
        tracing::info!(by = %actor.user.username, "SSO group mapping changed");
        Ok(rules)
    }

    /// What signing in with `claims` would do, under `rules` (or the saved
    /// mapping), without changing anything.
    pub fn preview_with(
        &self,
        claims: &Claims,
        rules: Option<&MappingRules>,
    ) -> Result<MappingPreview, Error> {
        let saved;
        let rules = match rules {
            Some(rules) => rules,
            None => {
                saved = self.mapping_rules()?;
                &saved
            }
        };
        let oidc = self.sso()?;
        let mut warnings = Vec::new();
        let mut refusal = None;
        let username = claims
            .username
            .as_deref()
            .and_then(normalize_username)
            .map(|u| u.to_string());
        if username.is_none() {
            refusal = Some(format!(
                "the token has no usable {:?} claim for the user name",
                oidc.config.username_claim
            ));
        }
        if !oidc.config.allowed_email_domains.is_empty() {
            let domain = claims
                .email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_lowercase());
            let allowed = domain.as_ref().is_some_and(|d| {
                oidc.config
                    .allowed_email_domains
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(d))
            });
            if !allowed {
                refusal = Some(format!(
                    "the email domain {} is not allowed (allowed: {})",
                    domain.unwrap_or_else(|| "(none)".to_owned()),
                    oidc.config.allowed_email_domains.join(", ")
                ));
            }
            if claims.email_verified == Some(false) {
                refusal =
                    Some("the email address is not verified by the identity provider".to_owned());
            }
        }
        if !oidc.config.required_groups.is_empty() {
            let member = claims
                .groups
                .as_ref()
                .is_some_and(|g| g.iter().any(|g| oidc.config.required_groups.contains(g)));
            if !member {
                refusal = Some(format!(
                    "the user is in none of the required groups ({})",
                    oidc.config.required_groups.join(", ")
                ));
            }
        }
        let existing = self
            .store
            .get(
                records::SSO_SUBJECTS,
                &format!("{} {}", claims.issuer, claims.subject),
            )
            .map_err(store_err)?
            .map(|id| self.user(&id))
            .transpose()?;
        let role = match (&claims.groups, &existing) {
            (None, Some(user)) => {
                warnings.push(format!(
                    "the token carries no {:?} claim: {} keeps the role {}",
                    oidc.config.groups_claim,
                    user.username,
                    user.role.as_str()
                ));
                Some(user.role)
            }
            (None, None) => {
                warnings.push(format!(
                    "the token carries no {:?} claim: a new user would be a member",
                    oidc.config.groups_claim
                ));
                Some(berth_core::identity::Role::Member)
            }
            (Some(_), Some(user)) if user.role_source != RoleSource::Mapping => {
                warnings.push(format!(
                    "{}'s role was set by an admin; group mapping leaves it at {}",
                    user.username,
                    user.role.as_str()
                ));
                Some(user.role)
            }
            (Some(groups), _) => Some(rules.role_for(groups)),
        };
        Ok(MappingPreview {
            claims: claims.clone(),
            username,
            allowed: refusal.is_none(),
            refusal,
            role,
            existing_user: existing.map(|u| u.view()),
            warnings,
        })
    }

    fn preview(&self, claims: &Claims) -> Result<MappingPreview, Error> {
        self.preview_with(claims, None)
    }

    /// The dry-run: verifies a live ID token (any nonce) or takes a claim
    /// set as given, and shows what it would map to.
    pub async fn dry_run(
        &self,
        actor: &Actor,
        id_token: Option<&str>,
        claims: Option<Claims>,
        rules: Option<MappingRules>,
    ) -> Result<MappingPreview, Error> {
        authorize(actor, Action::ReadSsoMapping)?;
        let claims = match (id_token, claims) {
            (Some(token), _) => self.sso()?.verify(token, None).await?,
            (None, Some(claims)) => claims,
            (None, None) => {
                return Err(Error::invalid(
                    "id_token",
                    "give an ID token or a claim set",
                ));
            }
        };
        self.preview_with(&claims, rules.as_ref())
    }
}

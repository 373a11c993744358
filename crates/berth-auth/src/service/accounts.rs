//! The first admin, local sign-in, console sessions.

use std::net::IpAddr;

use berth_audit::{ActorKind, EventActor, NewEvent, Origin, Outcome};
use berth_core::Error;
use berth_core::identity::{RoleSource, TokenCreated, Username};

use super::{Auth, TOUCH_INTERVAL, anonymous, resource, store_err, tx_err, user_actor};
use crate::passwords;
use crate::policy::{Actor, Via};
use crate::records::{self, SessionRecord, SetupRecord, UserRecord};
use crate::secrets;

/// What a successful sign-in hands out.
pub enum Credential {
    /// A console session: the cookie secret.
    Session(String),
    /// A CLI token.
    Token(TokenCreated),
}

impl Auth {
    pub fn setup_required(&self) -> Result<bool, Error> {
        Ok(self.config.local_accounts && self.store.is_empty(records::USERS).map_err(store_err)?)
    }

    /// When no user exists yet, makes a fresh one-time setup secret (any
    /// earlier one stops working) and returns it.
    pub fn issue_setup_secret(&self) -> Result<Option<(String, berth_core::Timestamp)>, Error> {
        if !self.setup_required()? {
            return Ok(None);
        }
        let secret = secrets::random_secret();
        let record = SetupRecord {
            token_hash: self.hasher.hash(&secret),
            expires_at: self.now().plus(self.config.setup_link_ttl),
        };
        let system = EventActor {
            kind: ActorKind::System,
            id: None,
            name: "berthd".to_owned(),
        };
        let event = NewEvent::new(
            system,
            "auth.setup_link",
            resource("setup", None, None),
            Outcome::Success,
        )
        .reason(format!("valid until {}", record.expires_at));
        self.audit.commit(&[records::SETUP.name], |tx| {
            tx.put(records::SETUP, "current", &record)?;
            Ok(((), event.clone()))
        })?;
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
        origin: &Origin,
    ) -> Result<(UserRecord, String), Error> {
        let username = Username::try_from(username.to_owned())?;
        passwords::check_strength(password)?;
        let now = self.now();
        let presented = self.hasher.hash(secret);
        // Check the secret before the costly password hash, so anyone can
        // not make the daemon hash passwords at will.
        let current = self
            .store
            .get(records::SETUP, "current")
            .map_err(store_err)?;
        if !current.is_some_and(|setup| setup.token_hash == presented && setup.expires_at >= now) {
            let err = Error::unauthenticated(
                "the setup link is not valid (it expired, was used, or a newer one was printed)",
            );
            return Err(self
                .failed(
                    err,
                    anonymous(username.as_str()),
                    "auth.setup",
                    resource("setup", None, None),
                    origin,
                )
                .await);
        }
        let hash = passwords::hash(password.to_owned()).await?;
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
            credentials_after: None,
            password_hash: Some(hash),
            sso: None,
        };
        let session_secret = secrets::random_secret();
        let session = SessionRecord {
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            csrf_token: secrets::random_secret(),
        };
        let session_key = self.hasher.hash(&session_secret);
        let event = NewEvent::new(
            user_actor(&user),
            "auth.setup",
            resource("user", Some(&user.id), Some(username.as_str())),
            Outcome::Success,
        )
        .origin(origin.clone())
        .reason("first admin created with the setup link");
        let tables = [
            records::SETUP.name,
            records::USERS.name,
            records::USERNAMES.name,
            records::SESSIONS.name,
        ];
        let result = self
            .commit(&tables, |tx| {
                let invalid = || tx_err(Error::unauthenticated("the setup link is not valid (it expired, was used, or a newer one was printed)"));
                let setup = tx.get(records::SETUP, "current")?.ok_or_else(invalid)?;
                if setup.token_hash != presented || setup.expires_at < now {
                    return Err(invalid());
                }
                if tx.get(records::USERNAMES, username.as_str())?.is_some() {
                    return Err(tx_err(Error::conflict(format!("the user name {username} is taken"))));
                }
                tx.delete(records::SETUP, "current")?;
                tx.put(records::USERS, &user.id, &user)?;
                tx.put(records::USERNAMES, username.as_str(), &user.id)?;
                tx.put(records::SESSIONS, &session_key, &session)?;
                Ok(((), event.clone()))
            })
            .await;
        if let Err(err) = result {
            return Err(self
                .failed(
                    err,
                    anonymous(username.as_str()),
                    "auth.setup",
                    resource("setup", None, None),
                    origin,
                )
                .await);
        }
        tracing::info!(user = %user.username, "first admin created with the setup link");
        self.signed_in(&user).await;
        Ok((user, session_secret))
    }

    /// Checks a local account's password, rate-limited per account and per
    /// source address; audits failures.
    async fn check_password(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
        origin: &Origin,
    ) -> Result<UserRecord, Error> {
        // What was typed as a user name is recorded only when it is one:
        // people do type passwords into that field.
        let Ok(username) = Username::try_from(username.to_owned()) else {
            let err = Error::unauthenticated("wrong user name or password");
            let target = resource("user", None, None);
            return Err(self
                .failed(
                    err,
                    anonymous("(not a user name)"),
                    "auth.login",
                    target,
                    origin,
                )
                .await);
        };
        let username = username.as_str();
        let target = resource("user", None, Some(username));
        if !self.config.local_accounts {
            let err =
                Error::forbidden("local accounts are turned off; sign in with single sign-on");
            return Err(self
                .failed(err, anonymous(username), "auth.login", target, origin)
                .await);
        }
        if let Err(err) = self.rate_limit(username, source) {
            return Err(self
                .failed(err, anonymous(username), "auth.login", target, origin)
                .await);
        }
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
            Some(user) if ok && !user.disabled => Ok(user),
            Some(user) if ok => {
                let err = Error::unauthenticated("this account is disabled");
                Err(self
                    .failed(err, user_actor(&user), "auth.login", target, origin)
                    .await)
            }
            _ => {
                let err = Error::unauthenticated("wrong user name or password");
                Err(self
                    .failed(err, anonymous(username), "auth.login", target, origin)
                    .await)
            }
        }
    }

    /// Signs `user` in: a session or a CLI token, the last sign-in time, and
    /// the `auth.login` event, in one transaction.
    pub(crate) async fn sign_in(
        &self,
        user: &UserRecord,
        cli: bool,
        method: &str,
        origin: &Origin,
    ) -> Result<Credential, Error> {
        let now = self.now();
        let (credential, tables): (Credential, Vec<&'static str>) = if cli {
            (
                Credential::Token(self.prepare_cli_token(user)?),
                vec![
                    records::USERS.name,
                    records::TOKENS.name,
                    records::TOKEN_IDS.name,
                ],
            )
        } else {
            (
                Credential::Session(secrets::random_secret()),
                vec![records::USERS.name, records::SESSIONS.name],
            )
        };
        let session = SessionRecord {
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            csrf_token: secrets::random_secret(),
        };
        let (kind, name) = match &credential {
            Credential::Session(_) => ("session", None),
            Credential::Token(t) => ("token", Some(t.token.id.clone())),
        };
        let event = NewEvent::new(
            user_actor(user),
            "auth.login",
            resource(kind, name.as_deref(), name.as_deref()),
            Outcome::Success,
        )
        .origin(origin.clone())
        .reason(method.to_owned());
        let id = user.id.clone();
        self.commit(&tables, |tx| {
            let mut stored = tx
                .get(records::USERS, &id)?
                .ok_or_else(|| tx_err(Error::not_found("user", &id)))?;
            if stored.disabled {
                return Err(tx_err(Error::unauthenticated("this account is disabled")));
            }
            stored.last_login_at = Some(now);
            tx.put(records::USERS, &id, &stored)?;
            match &credential {
                Credential::Session(secret) => {
                    tx.put(records::SESSIONS, &self.hasher.hash(secret), &session)?
                }
                Credential::Token(created) => self.store_token(tx, created)?,
            }
            Ok(((), event.clone()))
        })
        .await?;
        tracing::info!(user = %user.username, method, "signed in");
        self.signed_in(user).await;
        Ok(credential)
    }

    /// Console sign-in with a local account: a session.
    pub async fn login_console(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
        origin: &Origin,
    ) -> Result<(UserRecord, String), Error> {
        let user = self
            .check_password(username, password, source, origin)
            .await?;
        match self.sign_in(&user, false, "password", origin).await? {
            Credential::Session(secret) => Ok((user, secret)),
            Credential::Token(_) => Err(Error::internal("a console sign-in made a token")),
        }
    }

    /// `berth login` with a local account: a CLI token.
    pub async fn login_cli(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
        origin: &Origin,
    ) -> Result<TokenCreated, Error> {
        let user = self
            .check_password(username, password, source, origin)
            .await?;
        match self.sign_in(&user, true, "password", origin).await? {
            Credential::Token(token) => Ok(token),
            Credential::Session(_) => Err(Error::internal("a CLI sign-in made a session")),
        }
    }

    /// Authenticates a console session cookie.
    pub fn authenticate_session(&self, secret: &str, origin: &Origin) -> Result<Actor, Error> {
        self.session_actor(self.hasher.hash(secret), origin)
    }

    /// The caller of the console session stored under `key`, if it is
    /// still live.
    pub(super) fn session_actor(&self, key: String, origin: &Origin) -> Result<Actor, Error> {
        let expired = || Error::unauthenticated("your session ended; sign in again");
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
        if user
            .credentials_after
            .is_some_and(|cut| session.created_at <= cut)
        {
            return Err(expired());
        }
        if now.since(session.last_seen_at) > TOUCH_INTERVAL {
            let touched = SessionRecord {
                last_seen_at: now,
                ..session.clone()
            };
            // Bookkeeping, not a change anyone made: not audited.
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
            origin: origin.clone(),
        })
    }

    /// Signs out: ends the session, or revokes the token used.
    pub async fn logout(&self, actor: &Actor) -> Result<(), Error> {
        match &actor.via {
            Via::Session { key, .. } => {
                let event = NewEvent::new(
                    super::actor_of(actor),
                    "auth.logout",
                    resource("session", None, None),
                    Outcome::Success,
                )
                .origin(actor.origin.clone());
                self.commit(&[records::SESSIONS.name], |tx| {
                    tx.delete(records::SESSIONS, key)?;
                    Ok(((), event.clone()))
                })
                .await
            }
            Via::Token { id, .. } => self.revoke_token(actor, id).await.map(drop),
        }
    }
}

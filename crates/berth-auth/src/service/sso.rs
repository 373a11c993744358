//! Single sign-on: browser sign-in for the console and the CLI's loopback,
//! the device grant, turning claims into users, and the group mapping.

use std::sync::Arc;

use parking_lot::Mutex;

use berth_audit::{NewEvent, Origin, Outcome};
use berth_core::Error;
use berth_core::identity::{RoleSource, TokenCreated, Username};

use super::accounts::Credential;
use super::{
    Auth, CliCode, DevicePoll, DeviceStarted, LoginPurpose, MappingPreview, PENDING_TTL,
    PendingLogin, actor_of, anonymous, normalize_username, resource, store_err, tx_err, user_actor,
};
use crate::oidc::{Claims, Oidc};
use crate::policy::{Action, Actor};
use crate::records::{self, MappingRules, SsoIdentity, UserRecord};
use crate::secrets;

/// Device sign-ins nobody collects are forgotten after this.
const DEVICE_TTL: std::time::Duration = std::time::Duration::from_secs(1800);

/// How a browser sign-in ends.
pub enum SsoDone {
    /// A console session; redirect to `return_to` with it.
    Console {
        return_to: String,
        session: String,
        user: Box<UserRecord>,
    },
    /// On to the CLI's loopback port with a one-time code.
    Cli {
        port: u16,
        state: String,
        code: String,
    },
}

impl Auth {
    fn sso(&self) -> Result<&Oidc, Error> {
        self.oidc
            .as_ref()
            .ok_or_else(|| Error::not_found("single sign-on", "configuration (set [auth.oidc])"))
    }

    /// Starts a browser sign-in; returns the provider URL to send it to.
    /// Returns the provider URL and the sign-in's `state`, which the caller
    /// binds to the browser (a cookie) so another browser cannot finish it.
    pub async fn sso_begin(
        &self,
        redirect: &str,
        purpose: LoginPurpose,
    ) -> Result<(String, String), Error> {
        let authorization = self.sso()?.authorize(redirect).await?;
        let mut pending = self.pending.lock();
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
        Ok((authorization.url, authorization.state))
    }

    /// Finishes a browser sign-in. The state is single-use: a replayed
    /// callback is refused.
    pub async fn sso_finish(
        &self,
        redirect: &str,
        state: &str,
        code: &str,
        origin: &Origin,
    ) -> Result<SsoDone, Error> {
        let target = resource("session", None, None);
        let pending = self
            .pending
            .lock()
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_TTL);
        let Some(pending) = pending else {
            let err = Error::unauthenticated(
                "this sign-in is unknown, expired or already used; start again",
            );
            return Err(self
                .failed(err, anonymous(""), "auth.login", target, origin)
                .await);
        };
        let claims = match self
            .sso()?
            .finish(redirect, code, &pending.pkce_verifier, &pending.nonce)
            .await
        {
            Ok(claims) => claims,
            Err(err) => {
                return Err(self
                    .failed(err, anonymous(""), "auth.login", target, origin)
                    .await);
            }
        };
        let user = self.sign_in_sso(&claims, origin).await?;
        match pending.purpose {
            LoginPurpose::Console { return_to } => {
                match self.sign_in(&user, false, "single sign-on", origin).await? {
                    Credential::Session(secret) => Ok(SsoDone::Console {
                        return_to,
                        session: secret,
                        user: Box::new(user),
                    }),
                    Credential::Token(_) => Err(Error::internal("a console sign-in made a token")),
                }
            }
            LoginPurpose::Cli {
                port,
                state,
                code_challenge,
            } => {
                let code = self.cli_code(&user, &code_challenge);
                Ok(SsoDone::Cli { port, state, code })
            }
        }
    }

    /// Issues the one-time code a CLI loopback sign-in exchanges.
    fn cli_code(&self, user: &UserRecord, code_challenge: &str) -> String {
        let code = secrets::random_secret();
        let mut codes = self.cli_codes.lock();
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
    pub async fn cli_exchange(
        &self,
        code: &str,
        verifier: &str,
        origin: &Origin,
    ) -> Result<TokenCreated, Error> {
        match self.cli_exchange_user(code, verifier) {
            Ok(user) => match self
                .sign_in(&user, true, "single sign-on (loopback)", origin)
                .await?
            {
                Credential::Token(token) => Ok(token),
                Credential::Session(_) => Err(Error::internal("a CLI sign-in made a session")),
            },
            Err(err) if err.code == berth_core::ErrorCode::Invalid => Err(err),
            Err(err) => Err(self
                .failed(
                    err,
                    anonymous(""),
                    "auth.login",
                    resource("token", None, None),
                    origin,
                )
                .await),
        }
    }

    fn cli_exchange_user(&self, code: &str, verifier: &str) -> Result<UserRecord, Error> {
        let invalid =
            || Error::unauthenticated("this sign-in code is unknown, expired or already used");
        if !crate::rules::Pkce::is_valid(verifier) {
            return Err(Error::invalid(
                "code_verifier",
                "must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~' (RFC 7636)",
            ));
        }
        let entry = self
            .cli_codes
            .lock()
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
        Ok(user)
    }

    /// Starts a device sign-in; the daemon polls the provider in the
    /// background while the CLI polls the daemon.
    pub async fn device_begin(self: &Arc<Self>, origin: &Origin) -> Result<DeviceStarted, Error> {
        let details = self.sso()?.device_start().await?;
        self.record(
            NewEvent::new(
                anonymous(""),
                "auth.device_start",
                resource("token", None, None),
                Outcome::Success,
            )
            .origin(origin.clone())
            .reason(format!(
                "device sign-in started; user code {}",
                details.user_code().secret()
            )),
        )
        .await;
        let login_id = secrets::random_secret();
        let state = Arc::new(Mutex::new(DevicePoll::Pending));
        {
            let mut devices = self.devices.lock();
            // A device sign-in nobody collects is forgotten after a while.
            devices.retain(|_, (started, _)| started.elapsed() < DEVICE_TTL);
            devices.insert(
                self.hasher.hash(&login_id),
                (std::time::Instant::now(), state.clone()),
            );
        }
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
        let origin = origin.clone();
        tokio::spawn(async move {
            let outcome = async {
                let claims = match auth.sso()?.device_finish(&details).await {
                    Ok(claims) => claims,
                    Err(err) => {
                        return Err(auth
                            .failed(
                                err,
                                anonymous(""),
                                "auth.login",
                                resource("token", None, None),
                                &origin,
                            )
                            .await);
                    }
                };
                let user = auth.sign_in_sso(&claims, &origin).await?;
                match auth
                    .sign_in(&user, true, "single sign-on (device code)", &origin)
                    .await?
                {
                    Credential::Token(token) => Ok(token),
                    Credential::Session(_) => Err(Error::internal("a CLI sign-in made a session")),
                }
            }
            .await;
            *state.lock() = match outcome {
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
        let mut devices = self.devices.lock();
        let (_, state) = devices
            .get(&key)
            .ok_or_else(|| Error::not_found("device sign-in", "with this id"))?;
        let current = state.lock().clone();
        if current != DevicePoll::Pending {
            devices.remove(&key);
        }
        Ok(current)
    }

    /// Decides who signs in from verified claims: finds or creates the user,
    /// applies the domain and group requirements, and maps groups to a role.
    /// A token without a groups claim keeps the user's role as it was.
    pub async fn sign_in_sso(&self, claims: &Claims, origin: &Origin) -> Result<UserRecord, Error> {
        let preview = self.preview(claims)?;
        if let Some(refusal) = &preview.refusal {
            let err = Error::forbidden(refusal.clone());
            let who = anonymous(claims.username.as_deref().unwrap_or(&claims.subject));
            return Err(self
                .failed(
                    err,
                    who,
                    "auth.login",
                    resource("user", None, claims.username.as_deref()),
                    origin,
                )
                .await);
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
            .commit(
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
                    let created = existing.is_none();
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
                                credentials_after: None,
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
                    let role_before = user.role;
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
                    let action = if created {
                        "user.create"
                    } else {
                        "user.sso_sync"
                    };
                    let mut event = NewEvent::new(
                        user_actor(&user),
                        action,
                        resource("user", Some(&user.id), Some(user.username.as_str())),
                        Outcome::Success,
                    )
                    .origin(origin.clone());
                    if created || role_before != user.role {
                        event = event.change(
                            "role",
                            if created {
                                serde_json::Value::Null
                            } else {
                                serde_json::json!(role_before)
                            },
                            serde_json::json!(user.role),
                        );
                    }
                    if user.groups_claim_missing {
                        event = event.reason("no groups claim: role kept");
                    }
                    Ok((user, event))
                },
            )
            .await;
        let user = match user {
            Ok(user) => user,
            Err(err) => {
                let who = anonymous(claims.username.as_deref().unwrap_or(&claims.subject));
                return Err(self
                    .failed(err, who, "auth.login", resource("user", None, None), origin)
                    .await);
            }
        };

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

    pub async fn get_mapping(&self, actor: &Actor) -> Result<MappingRules, Error> {
        self.allow(
            actor,
            Action::ReadSsoMapping,
            "auth.mapping.get",
            resource("sso_mapping", None, None),
        )
        .await?;
        self.mapping_rules()
    }

    pub async fn set_mapping(
        &self,
        actor: &Actor,
        rules: MappingRules,
    ) -> Result<MappingRules, Error> {
        self.allow(
            actor,
            Action::WriteSsoMapping,
            "auth.mapping.update",
            resource("sso_mapping", None, None),
        )
        .await?;
        self.commit(&[records::MAPPING.name], |tx| {
            let before = tx.get(records::MAPPING, "rules")?.unwrap_or_default();
            tx.put(records::MAPPING, "rules", &rules)?;
            let event = NewEvent::new(
                actor_of(actor),
                "auth.mapping.update",
                resource("sso_mapping", None, None),
                Outcome::Success,
            )
            .origin(actor.origin.clone())
            .change(
                "admin_groups",
                serde_json::json!(before.admin_groups),
                serde_json::json!(rules.admin_groups),
            )
            .change(
                "auditor_groups",
                serde_json::json!(before.auditor_groups),
                serde_json::json!(rules.auditor_groups),
            );
            Ok(((), event))
        })
        .await?;
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
        self.allow(
            actor,
            Action::ReadSsoMapping,
            "auth.mapping.preview",
            resource("sso_mapping", None, None),
        )
        .await?;
        let claims = match (id_token, claims) {
            (Some(token), _) => self.sso()?.verify(token, None).await?,
            (None, Some(claims)) => claims,
            // Nothing to go on is a claim set that says nothing: the
            // preview says what such a sign-in gets (refused, with no user
            // name).
            (None, None) => Claims {
                issuer: String::new(),
                subject: String::new(),
                username: None,
                email: None,
                email_verified: None,
                name: None,
                groups: None,
            },
        };
        self.preview_with(&claims, rules.as_ref())
    }
}

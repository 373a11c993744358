//! Users: who am I, the list, local accounts, roles and disabling.

use berth_audit::{NewEvent, Outcome};
use berth_core::Error;
use berth_core::identity::{RoleSource, UserView, Username, Whoami};
use serde_json::json;

use super::{Auth, NewLocalUser, UserUpdate, actor_of, resource, store_err, tx_err};
use crate::passwords;
use crate::policy::{Action, Actor, Via};
use crate::records::{self, UserRecord};

impl Auth {
    pub async fn whoami(&self, actor: &Actor) -> Result<Whoami, Error> {
        self.allow(
            actor,
            Action::ReadSelf,
            "user.whoami",
            resource("user", Some(&actor.user.id), None),
        )
        .await?;
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

    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, Error> {
        self.allow(
            actor,
            Action::ListUsers,
            "user.list",
            resource("user", None, None),
        )
        .await?;
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

    /// Finds a user by id, user name or email address (case-insensitive),
    /// for sharing and transfers. Says nothing of who else exists.
    pub fn find_user(&self, who: &str) -> Result<UserView, Error> {
        let who = who.trim();
        if let Some(user) = self.store.get(records::USERS, who).map_err(store_err)? {
            return Ok(user.view());
        }
        let lower = who.to_lowercase();
        if let Some(id) = self
            .store
            .get(records::USERNAMES, &lower)
            .map_err(store_err)?
            && let Some(user) = self.store.get(records::USERS, &id).map_err(store_err)?
        {
            return Ok(user.view());
        }
        self.store
            .scan(records::USERS, "")
            .map_err(store_err)?
            .into_iter()
            .map(|(_, u)| u)
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|email| email.eq_ignore_ascii_case(who))
            })
            .map(|u| u.view())
            .ok_or_else(|| Error::not_found("user", who))
    }

    /// A user's record by id, without an authorization check: for other
    /// services that show who owns what.
    pub fn user_view(&self, id: &str) -> Option<UserView> {
        self.store
            .get(records::USERS, id)
            .ok()
            .flatten()
            .map(|u| u.view())
    }

    pub async fn get_user(&self, actor: &Actor, id: &str) -> Result<UserView, Error> {
        self.allow(
            actor,
            Action::ReadUser { id },
            "user.get",
            resource("user", Some(id), None),
        )
        .await?;
        Ok(self.user(id)?.view())
    }

    /// Makes a local account (admins); for teams without single sign-on and
    /// for break-glass access.
    pub async fn create_local_user(
        &self,
        actor: &Actor,
        request: NewLocalUser,
    ) -> Result<UserView, Error> {
        self.allow(
            actor,
            Action::UpdateUsers,
            "user.create",
            resource("user", None, Some(&request.username)),
        )
        .await?;
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
            credentials_after: None,
            password_hash: Some(hash),
            sso: None,
        };
        let event = NewEvent::new(
            actor_of(actor),
            "user.create",
            resource("user", Some(&user.id), Some(username.as_str())),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .change("role", serde_json::Value::Null, json!(user.role));
        self.commit(&[records::USERS.name, records::USERNAMES.name], |tx| {
            if tx.get(records::USERNAMES, username.as_str())?.is_some() {
                return Err(tx_err(Error::conflict(format!(
                    "the user name {username} is taken"
                ))));
            }
            tx.put(records::USERS, &user.id, &user)?;
            tx.put(records::USERNAMES, username.as_str(), &user.id)?;
            Ok(((), event.clone()))
        })
        .await?;
        tracing::info!(user = %user.username, role = user.role.as_str(), by = %actor.user.username, "local account created");
        Ok(user.view())
    }

    /// Changes a user's role or disables them. Disabling revokes their
    /// sessions and tokens in the same transaction.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: &str,
        update: UserUpdate,
    ) -> Result<UserView, Error> {
        self.allow(
            actor,
            Action::UpdateUsers,
            "user.update",
            resource("user", Some(id), None),
        )
        .await?;
        if id == actor.user.id
            && (update.disabled == Some(true) || update.role.is_some_and(|r| r != actor.user.role))
        {
            return Err(Error::conflict(
                "you cannot disable yourself or change your own role; ask another admin",
            ));
        }
        let now = self.now();
        let sessions = self.store.scan(records::SESSIONS, "").map_err(store_err)?;
        let tokens = self.store.scan(records::TOKENS, "").map_err(store_err)?;
        let tables = [
            records::USERS.name,
            records::SESSIONS.name,
            records::TOKENS.name,
            records::TOKEN_IDS.name,
        ];
        let user = self
            .commit(&tables, |tx| {
                let mut user = tx
                    .get(records::USERS, id)?
                    .ok_or_else(|| tx_err(Error::not_found("user", id)))?;
                let mut event = NewEvent::new(
                    actor_of(actor),
                    "user.update",
                    resource("user", Some(id), Some(user.username.as_str())),
                    Outcome::Success,
                )
                .origin(actor.origin.clone());
                if let Some(role) = update.role {
                    event = event.change("role", json!(user.role), json!(role));
                    user.role = role;
                    user.role_source = RoleSource::Manual;
                }
                if let Some(disabled) = update.disabled {
                    event = event.change("disabled", json!(user.disabled), json!(disabled));
                    user.disabled = disabled;
                    if disabled {
                        // Also covers credentials made while this runs.
                        user.credentials_after = Some(now);
                        let mut revoked = 0;
                        for (key, session) in &sessions {
                            if session.user_id == user.id {
                                tx.delete(records::SESSIONS, key)?;
                                revoked += 1;
                            }
                        }
                        for (hash, token) in &tokens {
                            if token.user_id == user.id {
                                tx.delete(records::TOKENS, hash)?;
                                tx.delete(records::TOKEN_IDS, &token.id)?;
                                revoked += 1;
                            }
                        }
                        event = event
                            .reason(format!("disabled; {revoked} sessions and tokens revoked"));
                    }
                }
                tx.put(records::USERS, id, &user)?;
                Ok((user, event))
            })
            .await?;
        tracing::info!(user = %user.username, role = user.role.as_str(), disabled = user.disabled, by = %actor.user.username, "user updated");
        Ok(user.view())
    }
}

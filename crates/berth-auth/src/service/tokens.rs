//! API tokens: personal access tokens and the tokens `berth login` receives.

use std::collections::HashMap;
use std::time::Duration;

use berth_audit::{NewEvent, Origin, Outcome};
use berth_core::Error;
use berth_core::identity::{Scope, TokenCreated, TokenKind, TokenView, Username};
use berth_store::{Tx, TxError};

use super::{Auth, TOUCH_INTERVAL, TokenRequest, actor_of, anonymous, resource, store_err, tx_err};
use crate::policy::{Action, Actor, Via};
use crate::records::{self, TokenRecord, UserRecord};
use crate::rules::TokenName;
use crate::secrets;

impl Auth {
    fn prepare_token(
        &self,
        user: &UserRecord,
        name: &str,
        kind: TokenKind,
        scopes: Vec<Scope>,
        ttl: Duration,
    ) -> TokenCreated {
        let prefix = match kind {
            TokenKind::Personal => secrets::PAT_PREFIX,
            TokenKind::Cli => secrets::CLI_PREFIX,
            TokenKind::Kube => secrets::KUBE_PREFIX,
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
        TokenCreated {
            token: record.view(&user.username),
            secret,
        }
    }

    pub(crate) fn prepare_cli_token(&self, user: &UserRecord) -> Result<TokenCreated, Error> {
        Ok(self.prepare_token(
            user,
            "berth login",
            TokenKind::Cli,
            vec![Scope::Read, Scope::Write],
            self.config.cli_token_ttl,
        ))
    }

    /// Writes a prepared token inside a transaction.
    pub(crate) fn store_token(&self, tx: &Tx<'_>, created: &TokenCreated) -> Result<(), TxError> {
        let view = &created.token;
        let record = TokenRecord {
            id: view.id.clone(),
            user_id: view.user_id.clone(),
            name: view.name.clone(),
            kind: view.kind,
            prefix: view.prefix.clone(),
            scopes: view.scopes.clone(),
            created_at: view.created_at,
            expires_at: view.expires_at,
            last_used_at: None,
        };
        let hash = self.hasher.hash(&created.secret);
        tx.put(records::TOKENS, &hash, &record)?;
        tx.put(records::TOKEN_IDS, &record.id, &hash)?;
        Ok(())
    }

    /// Authenticates a bearer token. A token that does not work is audited.
    pub async fn authenticate_token(&self, secret: &str, origin: &Origin) -> Result<Actor, Error> {
        match self.check_token(secret, origin) {
            Ok(actor) => Ok(actor),
            Err(err) => {
                // Name the token by its public prefix only, and only when it
                // is one of Berth's: a pasted foreign secret is not recorded.
                let shown = secrets::PREFIXES
                    .iter()
                    .find(|p| secret.starts_with(**p))
                    .and_then(|p| secret.get(..p.len() + 6))
                    .map(|p| format!("{p}…"));
                let target = resource("token", None, shown.as_deref());
                Err(self
                    .failed(err, anonymous(""), "auth.token", target, origin)
                    .await)
            }
        }
    }

    fn check_token(&self, secret: &str, origin: &Origin) -> Result<Actor, Error> {
        let invalid = || {
            Error::unauthenticated(
                "the token is not valid (unknown, revoked or expired); run `berth login` again",
            )
        };
        if !secrets::PREFIXES.iter().any(|p| secret.starts_with(p)) {
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
        if user
            .credentials_after
            .is_some_and(|cut| token.created_at <= cut)
        {
            return Err(invalid());
        }
        if token
            .last_used_at
            .is_none_or(|t| now.since(t) > TOUCH_INTERVAL)
        {
            let touched = TokenRecord {
                last_used_at: Some(now),
                ..token.clone()
            };
            // Bookkeeping, not a change anyone made: not audited.
            let _ = self.store.transact(&[records::TOKENS.name], |tx| {
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
            origin: origin.clone(),
        })
    }

    pub async fn create_token(
        &self,
        actor: &Actor,
        request: TokenRequest,
    ) -> Result<TokenCreated, Error> {
        let name = TokenName::tidy(&request.name).to_owned();
        self.allow(
            actor,
            Action::ManageOwnTokens,
            "token.create",
            resource("token", None, Some(&name)),
        )
        .await?;
        if !TokenName::is_valid(&request.name) {
            return Err(Error::invalid(
                "name",
                "must be 1 to 100 characters, not all of them blank",
            ));
        }
        let max_days = (self.config.max_token_ttl.as_secs() / 86_400).max(1);
        let days = request.expires_in_days.unwrap_or(90.min(max_days));
        if days == 0 {
            return Err(Error::invalid("expires_in_days", "must be at least 1"));
        }
        // The daemon's limit, not the request's form: refused as policy.
        if days > max_days {
            return Err(Error::forbidden(format!(
                "expires_in_days: this daemon allows tokens of at most {max_days} days"
            )));
        }
        let mut scopes = if request.scopes.is_empty() {
            vec![Scope::Read, Scope::Write]
        } else {
            request.scopes
        };
        scopes.sort();
        scopes.dedup();
        // A token cannot do more than the credential that made it; one
        // that may write may also reach the Kubernetes API of its spaces.
        let allowed = actor.scopes();
        let grants = |s: &Scope| {
            allowed.contains(s) || (*s == Scope::Kube && allowed.contains(&Scope::Write))
        };
        if let Some(extra) = scopes.iter().find(|s| !grants(s)) {
            return Err(Error::forbidden(
                format!("cannot grant the {extra:?} scope, which this credential lacks")
                    .to_lowercase(),
            ));
        }
        let created = self.prepare_token(
            &actor.user,
            &name,
            TokenKind::Personal,
            scopes,
            Duration::from_secs(days * 86_400),
        );
        self.commit_new_token(actor, &created).await?;
        Ok(created)
    }

    /// Stores a token `actor` made for themselves, with its event.
    async fn commit_new_token(&self, actor: &Actor, created: &TokenCreated) -> Result<(), Error> {
        let view = &created.token;
        let event = NewEvent::new(
            actor_of(actor),
            "token.create",
            resource("token", Some(&view.id), Some(&view.name)),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .change(
            "scopes",
            serde_json::Value::Null,
            serde_json::json!(view.scopes),
        )
        .change(
            "expires_at",
            serde_json::Value::Null,
            serde_json::json!(view.expires_at),
        );
        self.commit(&[records::TOKENS.name, records::TOKEN_IDS.name], |tx| {
            self.store_token(tx, created)?;
            Ok(((), event.clone()))
        })
        .await
    }

    /// A short-lived token for kubectl, with the `kube` scope only: the
    /// Kubernetes API of the caller's spaces through the proxy, nothing of
    /// Berth's own API. Made from a credential that may write.
    pub async fn create_kube_token(&self, actor: &Actor) -> Result<TokenCreated, Error> {
        const NAME: &str = "kubectl";
        self.allow(
            actor,
            Action::ManageOwnTokens,
            "token.create",
            resource("token", None, Some(NAME)),
        )
        .await?;
        let created = self.prepare_token(
            &actor.user,
            NAME,
            TokenKind::Kube,
            vec![Scope::Kube],
            self.config.kube_token_ttl,
        );
        self.commit_new_token(actor, &created).await?;
        Ok(created)
    }

    /// The caller's tokens, or with `all` (admins) everyone's.
    pub async fn list_tokens(&self, actor: &Actor, all: bool) -> Result<Vec<TokenView>, Error> {
        let action = if all {
            Action::ManageAllTokens
        } else {
            Action::ReadSelf
        };
        self.allow(actor, action, "token.list", resource("token", None, None))
            .await?;
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
    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> Result<TokenView, Error> {
        self.allow(
            actor,
            Action::ManageOwnTokens,
            "token.revoke",
            resource("token", Some(id), None),
        )
        .await?;
        let admin = crate::policy::authorize(actor, Action::ManageAllTokens).is_ok();
        let me = actor.user.id.clone();
        let users = self.store.scan(records::USERS, "").map_err(store_err)?;
        let username = |user_id: &str| {
            users
                .iter()
                .find(|(k, _)| k == user_id)
                .map(|(_, u)| u.username.clone())
        };
        let revoked = self
            .commit(&[records::TOKENS.name, records::TOKEN_IDS.name], |tx| {
                let missing = || tx_err(Error::not_found("token", id));
                let hash = tx.get(records::TOKEN_IDS, id)?.ok_or_else(missing)?;
                let token = tx.get(records::TOKENS, &hash)?.ok_or_else(missing)?;
                if token.user_id != me && !admin {
                    return Err(missing());
                }
                tx.delete(records::TOKENS, &hash)?;
                tx.delete(records::TOKEN_IDS, id)?;
                let owner = username(&token.user_id)
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let event = NewEvent::new(
                    actor_of(actor),
                    "token.revoke",
                    resource("token", Some(id), Some(&token.name)),
                    Outcome::Success,
                )
                .origin(actor.origin.clone())
                .reason(format!("token of {owner}"));
                Ok((token, event))
            })
            .await?;
        let owner = self.user(&revoked.user_id)?;
        Ok(revoked.view(&owner.username))
    }
}

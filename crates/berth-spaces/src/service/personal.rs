//! Personal spaces: the one made for each user at their first sign-in,
//! through the sign-in hook.

use std::collections::BTreeSet;

use berth_audit::{ActorKind, EventActor, NewEvent, Outcome};
use berth_core::identity::UserView;
use berth_core::{Error, ErrorCode};
use serde_json::json;

use super::{Spaces, abort, target};
use crate::naming;
use crate::records::{PERSONAL, SPACES, STATUS, StatusRecord};

impl Spaces {
    /// Makes `user`'s personal space, once per user.
    pub async fn ensure_personal(&self, user: &UserView) -> Result<Option<String>, Error> {
        if !self.config.personal_spaces
            || self
                .store
                .get(PERSONAL, &user.id)
                .map_err(Error::from)?
                .is_some()
        {
            return Ok(None);
        }
        let mut taken: BTreeSet<String> = self.names()?.into_iter().collect();
        let name = loop {
            let candidate = naming::personal(user.username.as_str(), |n| taken.contains(n));
            match self.check_namespace_free(candidate.as_str(), false).await {
                Ok(()) => break candidate,
                Err(e) if e.code == ErrorCode::Conflict => {
                    taken.insert(candidate.to_string());
                }
                Err(e) => return Err(e),
            }
        };
        let now = self.now();
        let profile = self.config.default_quota_profile.clone();
        let mut record = self.new_record(
            name.as_str(),
            &user.id,
            &profile,
            now,
            user.username.as_str(),
        );
        record.personal = true;
        record.wakefulness.reason = format!("made at the first sign-in of {}", user.username);
        let status = StatusRecord::pending(&profile);
        let actor = EventActor {
            kind: ActorKind::User,
            id: Some(user.id.clone()),
            name: user.username.to_string(),
        };
        let event = NewEvent::new(
            actor,
            "space.create",
            target(name.as_str()),
            Outcome::Success,
        )
        .reason("personal space, made at the first sign-in")
        .change("owner", json!(null), json!(user.username));
        let made = self
            .commit(&[SPACES.name, STATUS.name, PERSONAL.name], |tx| {
                if tx.get(PERSONAL, &user.id)?.is_some() || tx.get(SPACES, name.as_str())?.is_some()
                {
                    // A concurrent sign-in made it, or took the name.
                    return Err(abort(Error::conflict("made meanwhile")));
                }
                tx.put(PERSONAL, &user.id, &name.to_string())?;
                tx.put(SPACES, name.as_str(), &record)?;
                tx.put(STATUS, name.as_str(), &status)?;
                Ok(((), event.clone()))
            })
            .await;
        match made {
            Ok(()) => {
                self.kick(name.as_str());
                tracing::info!(space = %name, user = %user.username, "personal space made");
                Ok(Some(name.to_string()))
            }
            Err(e) if e.code == ErrorCode::Conflict => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl berth_auth::SignInHook for Spaces {
    fn signed_in<'a>(
        &'a self,
        user: &'a UserView,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(err) = self.ensure_personal(user).await {
                tracing::error!(user = %user.username, error = %err.detail(), "cannot make the personal space");
            }
        })
    }
}

//! Changing a space: whether it is persistent, its labels, its quota
//! profile and its owner.

use berth_audit::{NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_core::space::{SpaceRole, SpaceUpdate, SpaceView};
use serde_json::json;

use super::labels::check_labels;
use super::{Spaces, target};

impl Spaces {
    pub async fn update(
        &self,
        actor: &Actor,
        name: &str,
        update: SpaceUpdate,
    ) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.update", |role| Action::UseSpace {
            name,
            role,
        })
        .await?;
        if update.quota_profile.is_some() {
            self.auth
                .allow(
                    actor,
                    Action::AdministerSpaces,
                    "space.update",
                    target(name),
                )
                .await?;
        }
        let new_owner = match &update.owner {
            Some(who) => {
                let record = self.load(name)?;
                self.auth
                    .allow(
                        actor,
                        Action::OwnSpace {
                            name,
                            role: record.role_of(&actor.user.id),
                        },
                        "space.update",
                        target(name),
                    )
                    .await?;
                Some(self.auth.find_user(who)?)
            }
            None => None,
        };
        if let Some(labels) = &update.labels {
            check_labels(labels)?;
        }
        if let Some(profile) = &update.quota_profile
            && self.config.profile(profile).is_none()
        {
            return Err(Error::not_found("quota profile", format!("{profile:?}")));
        }
        let by = actor.user.username.to_string();
        // Looked up before the transaction: no other table is read inside it.
        let owner_before = self
            .member(self.load(name)?.owner(), SpaceRole::Owner)
            .username;
        let record = self
            .edit(name, |record| {
                let mut event = NewEvent::new(
                    actor_of(actor),
                    "space.update",
                    target(name),
                    Outcome::Success,
                )
                .origin(actor.origin.clone());
                let mut spec_changed = false;
                if let Some(persistent) = update.persistent
                    && persistent != record.persistent
                {
                    event = event.change("persistent", json!(record.persistent), json!(persistent));
                    record.persistent = persistent;
                    spec_changed = true;
                }
                if let Some(labels) = &update.labels
                    && labels != &record.labels
                {
                    event = event.change("labels", json!(record.labels), json!(labels));
                    record.labels = labels.clone();
                    spec_changed = true;
                }
                if let Some(profile) = &update.quota_profile
                    && profile != &record.quota_profile
                {
                    event =
                        event.change("quota_profile", json!(record.quota_profile), json!(profile));
                    record.quota_profile = profile.clone();
                    spec_changed = true;
                }
                if let Some(owner) = &new_owner
                    && record.owner() != owner.id
                {
                    let old = record.owner().to_owned();
                    record.members.insert(old, SpaceRole::Member);
                    record.members.insert(owner.id.clone(), SpaceRole::Owner);
                    event = event.change("owner", json!(owner_before), json!(owner.username));
                    spec_changed = true;
                }
                if spec_changed {
                    record.generation += 1;
                }
                self.touched(record, format!("api call by {by}"));
                Ok(event)
            })
            .await?;
        self.view_of(&record, actor)
    }
}

//! Sharing a space: adding members, and removing them (members may leave).

use berth_audit::{NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_core::space::{ShareRequest, SpaceRole, SpaceView};
use serde_json::json;

use super::{Spaces, target};

impl Spaces {
    pub async fn share(
        &self,
        actor: &Actor,
        name: &str,
        req: ShareRequest,
    ) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.share", |role| Action::OwnSpace {
            name,
            role,
        })
        .await?;
        let user = self.auth.find_user(&req.user)?;
        let by = actor.user.username.to_string();
        let record = self
            .edit(name, |record| {
                let event = NewEvent::new(
                    actor_of(actor),
                    "space.share",
                    target(name),
                    Outcome::Success,
                )
                .origin(actor.origin.clone())
                .change("member", json!(null), json!(user.username));
                record
                    .members
                    .entry(user.id.clone())
                    .or_insert(SpaceRole::Member);
                self.touched(record, format!("api call by {by}"));
                Ok(event)
            })
            .await?;
        self.view_of(&record, actor)
    }

    /// Removes a member; members may remove themselves. The owner cannot be
    /// removed: transfer ownership first.
    pub async fn unshare(&self, actor: &Actor, name: &str, who: &str) -> Result<SpaceView, Error> {
        let user = self.auth.find_user(who).ok();
        let leaving = user.as_ref().is_some_and(|u| u.id == actor.user.id);
        if leaving {
            self.authorized(actor, name, "space.unshare", |role| Action::UseSpace {
                name,
                role,
            })
            .await?;
        } else {
            self.authorized(actor, name, "space.unshare", |role| Action::OwnSpace {
                name,
                role,
            })
            .await?;
        }
        let user = user.ok_or_else(|| Error::not_found("member", who))?;
        let record = self
            .edit(name, |record| {
                match record.members.get(&user.id) {
                    None => return Err(Error::not_found("member", who)),
                    Some(SpaceRole::Owner) => {
                        return Err(Error::conflict(
                            "the owner cannot be removed; transfer ownership first",
                        ));
                    }
                    Some(SpaceRole::Member) => {}
                }
                record.members.remove(&user.id);
                Ok(NewEvent::new(
                    actor_of(actor),
                    "space.unshare",
                    target(name),
                    Outcome::Success,
                )
                .origin(actor.origin.clone())
                .change("member", json!(user.username), json!(null)))
            })
            .await?;
        self.view_of(&record, actor)
    }
}

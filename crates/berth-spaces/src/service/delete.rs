//! Deleting a space: asked for through the API, and the record removed
//! once the reconciler saw its namespace go.

use berth_audit::{EventActor, NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_core::space::SpaceView;

use super::endpoints::ENDPOINTS;
use super::{Spaces, target};
use crate::records::{SPACES, STATUS};

impl Spaces {
    /// Removes a space whose namespace is gone: the last step of deletion.
    pub(crate) async fn remove(&self, name: &str) -> Result<(), Error> {
        let event = NewEvent::new(
            EventActor::system(),
            "space.deleted",
            target(name),
            Outcome::Success,
        )
        .reason("the namespace is gone; the space's record is removed");
        // Its endpoints go with it: a space of the same name made later
        // does not inherit them.
        let endpoints: Vec<String> = self
            .store
            .scan(ENDPOINTS, "")
            .map_err(Error::from)?
            .into_iter()
            .filter(|(_, endpoint)| endpoint.space == name)
            .map(|(label, _)| label)
            .collect();
        self.commit(&[SPACES.name, STATUS.name, ENDPOINTS.name], |tx| {
            tx.delete(SPACES, name)?;
            tx.delete(STATUS, name)?;
            for label in &endpoints {
                tx.delete(ENDPOINTS, label)?;
            }
            Ok(((), event.clone()))
        })
        .await
    }

    /// Asks for deletion: the reconciler deletes the namespace, and the
    /// record goes once the namespace has.
    pub async fn delete(&self, actor: &Actor, name: &str) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.delete", |role| Action::OwnSpace {
            name,
            role,
        })
        .await?;
        let now = self.now();
        let record = self
            .edit(name, |record| {
                record.deleting = Some(now);
                Ok(NewEvent::new(
                    actor_of(actor),
                    "space.delete",
                    target(name),
                    Outcome::Success,
                )
                .origin(actor.origin.clone()))
            })
            .await?;
        self.view_of(&record, actor)
    }
}

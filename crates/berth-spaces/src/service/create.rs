//! Creating a space: the checks (name, labels, quota profile, the owner's
//! limit, a namespace Berth did not make) and the record with its event.

use std::collections::BTreeMap;

use berth_audit::{NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::space::{NewSpace, SpaceName, SpaceRole, SpaceView, Wakefulness};
use berth_core::{Error, Timestamp};
use serde_json::json;

use super::labels::check_labels;
use super::{Spaces, abort, target};
use crate::naming;
use crate::records::{SPACES, STATUS, SpaceRecord, StatusRecord};

impl Spaces {
    /// Refuses a name that a namespace Berth did not make already holds,
    /// unless the space adopts it.
    pub(super) async fn check_namespace_free(&self, name: &str, adopt: bool) -> Result<(), Error> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let found = cluster.namespace(name).await.map_err(|e| Error {
            internal: Some(berth_core::error::chain(&e)),
            ..Error::unavailable("the Kubernetes API did not answer; try again")
        })?;
        match found {
            Some(ns) if !adopt && !ns.made_by_berth() => Err(Error::conflict(format!(
                "namespace {name} exists and was not made by Berth; an admin can adopt it (adopt: true)"
            ))),
            _ => Ok(()),
        }
    }

    fn owned_by(&self, user_id: &str) -> Result<usize, Error> {
        Ok(self
            .store
            .scan(SPACES, "")
            .map_err(Error::from)?
            .into_iter()
            .filter(|(_, r)| r.owner() == user_id && r.deleting.is_none())
            .count())
    }

    pub(super) fn new_record(
        &self,
        name: &str,
        owner: &str,
        profile: &str,
        now: Timestamp,
        by: &str,
    ) -> SpaceRecord {
        SpaceRecord {
            name: name.to_owned(),
            members: [(owner.to_owned(), SpaceRole::Owner)].into(),
            persistent: false,
            personal: false,
            labels: BTreeMap::new(),
            quota_profile: profile.to_owned(),
            adopt: false,
            generation: 1,
            created_at: now,
            last_activity: now,
            last_activity_reason: format!("created by {by}"),
            wakefulness: Wakefulness {
                asleep: false,
                reason: format!("created by {by}"),
                by: by.to_owned(),
                since: now,
            },
            wake_round: 0,
            deleting: None,
        }
    }

    pub async fn create(&self, actor: &Actor, req: NewSpace) -> Result<SpaceView, Error> {
        self.auth
            .allow(
                actor,
                Action::CreateSpace,
                "space.create",
                target(&req.name),
            )
            .await?;
        if req.adopt || req.owner.is_some() || req.quota_profile.is_some() {
            self.auth
                .allow(
                    actor,
                    Action::AdministerSpaces,
                    "space.create",
                    target(&req.name),
                )
                .await?;
        }
        match self.create_checked(actor, &req).await {
            Ok(view) => Ok(view),
            Err(err) => Err(self.failed(actor, "space.create", &req.name, err).await),
        }
    }

    async fn create_checked(&self, actor: &Actor, req: &NewSpace) -> Result<SpaceView, Error> {
        let name = SpaceName::try_from(req.name.clone())?;
        // Taken, as a name in use is: by the cluster's own namespaces.
        if naming::reserved(name.as_str()) {
            return Err(Error::conflict(format!(
                "{name} is kept for the cluster's own namespaces; pick another name"
            )));
        }
        check_labels(&req.labels)?;
        let profile = req
            .quota_profile
            .clone()
            .unwrap_or_else(|| self.config.default_quota_profile.clone());
        if self.config.profile(&profile).is_none() {
            return Err(Error::not_found("quota profile", format!("{profile:?}")));
        }
        let owner = match &req.owner {
            Some(who) => self.auth.find_user(who)?,
            None => actor.user.view(),
        };
        if !actor.is_admin() {
            let owned = self.owned_by(&owner.id)?;
            if owned >= self.config.max_per_user as usize {
                return Err(Error::forbidden(format!(
                    "you own {owned} spaces, the most allowed; delete one first"
                )));
            }
        }
        self.check_namespace_free(name.as_str(), req.adopt).await?;
        let now = self.now();
        let mut record = self.new_record(
            name.as_str(),
            &owner.id,
            &profile,
            now,
            actor.user.username.as_str(),
        );
        record.persistent = req.persistent;
        record.labels = req.labels.clone();
        record.adopt = req.adopt;
        let mut event = NewEvent::new(
            actor_of(actor),
            "space.create",
            target(name.as_str()),
            Outcome::Success,
        )
        .origin(actor.origin.clone())
        .change("owner", json!(null), json!(owner.username))
        .change("quota_profile", json!(null), json!(profile));
        if req.adopt {
            event = event.reason("adopts the existing namespace");
        }
        let status = StatusRecord::pending(&profile);
        self.commit(&[SPACES.name, STATUS.name], |tx| {
            if tx.get(SPACES, name.as_str())?.is_some() {
                return Err(abort(Error::conflict(format!(
                    "a space named {name} exists"
                ))));
            }
            tx.put(SPACES, name.as_str(), &record)?;
            tx.put(STATUS, name.as_str(), &status)?;
            Ok(((), event.clone()))
        })
        .await?;
        self.kick(name.as_str());
        tracing::info!(space = %name, owner = %owner.username, "space created");
        self.view_of(&record, actor)
    }
}

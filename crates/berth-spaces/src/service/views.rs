//! What callers read: a space as the API shows it, the list of spaces, and
//! a space's objects as the cluster holds them.

use std::collections::BTreeMap;

use berth_auth::{Action, Actor};
use berth_core::Error;
use berth_core::space::{
    Phase, SpaceMember, SpaceName, SpaceObject, SpaceRole, SpaceStatus, SpaceView,
};

use super::{Spaces, target};
use crate::records::{SPACES, STATUS, SpaceRecord, StatusRecord};

impl Spaces {
    pub(super) fn member(&self, user_id: &str, role: SpaceRole) -> SpaceMember {
        SpaceMember {
            user_id: user_id.to_owned(),
            username: self
                .auth
                .user_view(user_id)
                .map(|u| u.username.to_string())
                .unwrap_or_default(),
            role,
        }
    }

    pub(crate) fn view(
        &self,
        record: &SpaceRecord,
        status: Option<StatusRecord>,
        viewer: Option<&str>,
    ) -> SpaceView {
        let status = status.unwrap_or_else(|| StatusRecord::pending(&record.quota_profile));
        let mut members: Vec<SpaceMember> = record
            .members
            .iter()
            .map(|(id, role)| self.member(id, *role))
            .collect();
        members.sort_by(|a, b| b.role.cmp(&a.role).then(a.username.cmp(&b.username)));
        let owner = members
            .iter()
            .find(|m| m.role == SpaceRole::Owner)
            .cloned()
            .unwrap_or_else(|| self.member("", SpaceRole::Owner));
        let idle_applies = !record.persistent && record.deleting.is_none();
        SpaceView {
            name: SpaceName::try_from(record.name.clone())
                .unwrap_or_else(|_| SpaceName::try_from("invalid".to_owned()).expect("valid")),
            owner,
            members,
            persistent: record.persistent,
            personal: record.personal,
            labels: record.labels.clone(),
            quota_profile: record.quota_profile.clone(),
            generation: record.generation,
            created_at: record.created_at,
            last_activity: record.last_activity,
            last_activity_reason: record.last_activity_reason.clone(),
            wakefulness: record.wakefulness.clone(),
            sleeps_at: (idle_applies && !record.wakefulness.asleep)
                .then(|| record.last_activity.plus(self.config.idle_sleep)),
            deleted_at: self
                .config
                .idle_delete
                .filter(|_| idle_applies)
                .map(|d| record.last_activity.plus(d)),
            status: SpaceStatus {
                phase: if record.deleting.is_some() {
                    Phase::Terminating
                } else {
                    crate::workloads::phase_shown(record, &status)
                },
                observed_generation: status.observed_generation,
                conditions: status.conditions,
                quota: status.quota,
            },
            your_role: viewer.and_then(|id| record.role_of(id)),
        }
    }

    /// What the planner needs to know of a space.
    pub(crate) fn spec(&self, record: &SpaceRecord) -> Result<berth_kube::SpaceSpec, Error> {
        let owner = self.member(record.owner(), SpaceRole::Owner).username;
        let developers = record
            .members
            .iter()
            .map(|(id, role)| self.member(id, *role).username)
            .filter(|name| !name.is_empty())
            .collect();
        crate::reconciler::spec_of(record, &owner, developers, &self.config)
    }

    pub(super) fn view_of(&self, record: &SpaceRecord, actor: &Actor) -> Result<SpaceView, Error> {
        Ok(self.view(record, self.status(&record.name)?, Some(&actor.user.id)))
    }

    /// The spaces the caller is a member of; every space for admins.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SpaceView>, Error> {
        self.auth
            .allow(actor, Action::ListSpaces, "space.list", target(""))
            .await?;
        let all = actor.is_admin();
        let statuses: BTreeMap<String, StatusRecord> = self
            .store
            .scan(STATUS, "")
            .map_err(Error::from)?
            .into_iter()
            .collect();
        Ok(self
            .store
            .scan(SPACES, "")
            .map_err(Error::from)?
            .into_iter()
            .filter(|(_, r)| all || r.role_of(&actor.user.id).is_some())
            .map(|(name, r)| self.view(&r, statuses.get(&name).cloned(), Some(&actor.user.id)))
            .collect())
    }

    pub async fn get(&self, actor: &Actor, name: &str) -> Result<SpaceView, Error> {
        let record = self
            .authorized(actor, name, "space.get", |role| Action::ReadSpace {
                name,
                role,
            })
            .await?;
        self.view_of(&record, actor)
    }

    /// What the reconciler keeps in a space, as the cluster holds it.
    pub async fn objects(&self, actor: &Actor, name: &str) -> Result<Vec<SpaceObject>, Error> {
        let record = self
            .authorized(actor, name, "space.get", |role| Action::ReadSpace {
                name,
                role,
            })
            .await?;
        let Some(cluster) = &self.cluster else {
            return Err(Error::unavailable("no Kubernetes API is configured"));
        };
        let spec = self.spec(&record)?;
        let desired = berth_kube::space(&spec, &self.config.cluster_policy());
        Ok(berth_kube::compare(&desired, &cluster.observed(name))
            .into_iter()
            .map(|o| SpaceObject {
                api_version: o.api_version,
                kind: o.kind,
                name: o.name,
                in_sync: o.in_sync,
                object: o.object,
            })
            .collect())
    }
}

//! The spaces service: every operation authorizes through the policy,
//! changes the records and appends its audit event in one transaction,
//! answers once the event is durable, and then tells the reconciler.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth_audit::{ActorKind, Audit, EventActor, EventResource, NewEvent, Outcome};
use berth_auth::{Action, Actor, Auth, actor_of};
use berth_core::identity::UserView;
use berth_core::space::{
    NewSpace, Phase, ShareRequest, SpaceMember, SpaceName, SpaceObject, SpaceRole, SpaceStatus,
    SpaceUpdate, SpaceView, Wakefulness,
};
use berth_core::{Clock, Error, ErrorCode, Timestamp};
use berth_kube::Cluster;
use berth_store::{Store, Tx, TxError};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::SpacesConfig;
use crate::naming;
use crate::records::{PERSONAL, SPACES, STATUS, SpaceRecord, StatusRecord};

fn abort(err: Error) -> TxError {
    TxError::Abort(err)
}

fn target(name: &str) -> EventResource {
    EventResource {
        kind: "space".to_owned(),
        id: None,
        name: Some(name.to_owned()),
        space: Some(name.to_owned()),
    }
}

/// `10:02` from a timestamp, for status sentences.
pub(crate) fn clock_time(t: Timestamp) -> String {
    t.rfc3339().get(11..16).unwrap_or_default().to_owned()
}

/// Checks a label the way Kubernetes does, and keeps Berth's and the
/// cluster's own prefixes for them.
fn check_label(key: &str, value: &str) -> Result<(), Error> {
    let segment = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
    };
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let prefix_ok = prefix.is_empty()
        || (prefix.len() <= 253 && prefix.split('.').all(|p| segment(p) && !p.contains('_')));
    if !prefix_ok || !segment(name) {
        return Err(Error::invalid(
            "labels",
            format!(
                "{key:?} is not a valid label key (an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.')"
            ),
        ));
    }
    if prefix.ends_with("berth.dev")
        || prefix.ends_with("kubernetes.io")
        || prefix.ends_with("k8s.io")
    {
        return Err(Error::invalid(
            "labels",
            format!("{key:?} uses a prefix that Berth or Kubernetes keeps for itself"),
        ));
    }
    if !value.is_empty() && !segment(value) {
        return Err(Error::invalid(
            "labels",
            format!(
                "the value of {key:?} must be empty or up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), Error> {
    labels.iter().try_for_each(|(k, v)| check_label(k, v))
}

/// The spaces service.
pub struct Spaces {
    store: Arc<Store>,
    audit: Arc<Audit>,
    auth: Arc<Auth>,
    config: SpacesConfig,
    clock: Arc<dyn Clock>,
    kick: UnboundedSender<String>,
    cluster: Option<Cluster>,
}

impl std::fmt::Debug for Spaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spaces").finish_non_exhaustive()
    }
}

impl Spaces {
    /// `kick` is the reconciler's inbox: the name of every space that
    /// changed is sent there. `cluster` answers the objects view and lets a
    /// create refuse a namespace Berth did not make at once.
    pub fn new(
        auth: Arc<Auth>,
        config: SpacesConfig,
        clock: Arc<dyn Clock>,
        kick: UnboundedSender<String>,
        cluster: Option<Cluster>,
    ) -> Result<Spaces, Error> {
        config.validate().map_err(|e| Error::invalid("spaces", e))?;
        Ok(Spaces {
            store: auth.audit().store().clone(),
            audit: auth.audit().clone(),
            auth,
            config,
            clock,
            kick,
            cluster,
        })
    }

    pub fn config(&self) -> &SpacesConfig {
        &self.config
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn kick(&self, name: &str) {
        // The reconciler is gone only while the daemon stops.
        let _ = self.kick.send(name.to_owned());
    }

    /// When a space was made; none when there is no such space. What was
    /// recorded for a space of that name before is not this one's.
    pub fn created_at(&self, name: &str) -> Result<Option<Timestamp>, Error> {
        Ok(self.record(name)?.map(|r| r.created_at))
    }

    pub(crate) fn record(&self, name: &str) -> Result<Option<SpaceRecord>, Error> {
        self.store.get(SPACES, name).map_err(Error::from)
    }

    pub(crate) fn status(&self, name: &str) -> Result<Option<StatusRecord>, Error> {
        self.store.get(STATUS, name).map_err(Error::from)
    }

    /// Every space's name, for a resync.
    pub fn names(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .store
            .scan(SPACES, "")
            .map_err(Error::from)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Writes what the reconciler observed, if the space still exists and
    /// the status differs.
    pub(crate) fn put_status(&self, name: &str, status: &StatusRecord) -> Result<(), Error> {
        self.store
            .transact(&[SPACES.name, STATUS.name], |tx| {
                if tx.get(SPACES, name)?.is_some() && tx.get(STATUS, name)?.as_ref() != Some(status)
                {
                    tx.put(STATUS, name, status)?;
                }
                Ok(())
            })
            .map_err(Error::from)
    }

    /// Removes a space whose namespace is gone: the last step of deletion.
    pub(crate) async fn remove(&self, name: &str) -> Result<(), Error> {
        let event = NewEvent::new(
            EventActor::system(),
            "space.deleted",
            target(name),
            Outcome::Success,
        )
        .reason("the namespace is gone; the space's record is removed");
        self.commit(&[SPACES.name, STATUS.name], |tx| {
            tx.delete(SPACES, name)?;
            tx.delete(STATUS, name)?;
            Ok(((), event.clone()))
        })
        .await
    }

    async fn commit<R>(
        &self,
        tables: &[&'static str],
        change: impl Fn(&Tx<'_>) -> Result<(R, NewEvent), TxError>,
    ) -> Result<R, Error> {
        let (value, event) = self.audit.commit(tables, change)?;
        self.audit.durable(event.seq).await?;
        Ok(value)
    }

    fn load(&self, name: &str) -> Result<SpaceRecord, Error> {
        self.record(name)?
            .ok_or_else(|| Error::not_found("space", name))
    }

    /// Loads a space and authorizes `action` on it; a space the caller may
    /// not see is not found, whether or not it exists.
    async fn authorized<'a>(
        &self,
        actor: &Actor,
        name: &'a str,
        audit_action: &str,
        action: impl Fn(Option<SpaceRole>) -> Action<'a>,
    ) -> Result<SpaceRecord, Error> {
        let record = self.record(name)?;
        let role = record.as_ref().and_then(|r| r.role_of(&actor.user.id));
        self.auth
            .allow(actor, action(role), audit_action, target(name))
            .await?;
        record.ok_or_else(|| Error::not_found("space", name))
    }

    /// Checks that `actor` may use space `name` (for another subsystem that
    /// acts in it, such as a dev session), auditing a refusal as
    /// `audit_action`.
    pub async fn check_use(
        &self,
        actor: &Actor,
        name: &str,
        audit_action: &str,
    ) -> Result<(), Error> {
        self.authorized(actor, name, audit_action, |role| Action::UseSpace {
            name,
            role,
        })
        .await
        .map(|_| ())
    }

    fn member(&self, user_id: &str, role: SpaceRole) -> SpaceMember {
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
                    status.phase
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
        crate::reconciler::spec_of(record, &owner, &self.config)
    }

    fn view_of(&self, record: &SpaceRecord, actor: &Actor) -> Result<SpaceView, Error> {
        Ok(self.view(record, self.status(&record.name)?, Some(&actor.user.id)))
    }

    /// Refuses a name that a namespace Berth did not make already holds,
    /// unless the space adopts it.
    async fn check_namespace_free(&self, name: &str, adopt: bool) -> Result<(), Error> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let found = cluster.namespace(name).await.map_err(|e| Error {
            internal: Some(berth_core::error::chain(&e)),
            ..Error::unavailable("the Kubernetes API did not answer; try again")
        })?;
        match found {
            Some(ns)
                if !adopt && ns["metadata"]["labels"][berth_kube::SPACE_LABEL] != json!(name) =>
            {
                Err(Error::conflict(format!(
                    "namespace {name} exists and was not made by Berth; an admin can adopt it (adopt: true)"
                )))
            }
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

    fn new_record(
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
            deleting: None,
        }
    }

    /// Records a refusal that is not the policy's (a limit, a taken name).
    async fn failed(&self, actor: &Actor, action: &str, name: &str, err: Error) -> Error {
        self.auth
            .failed(err, actor_of(actor), action, target(name), &actor.origin)
            .await
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
        if naming::reserved(name.as_str()) {
            return Err(Error::invalid(
                "name",
                format!("{name} is kept for the cluster's own namespaces; pick another name"),
            ));
        }
        check_labels(&req.labels)?;
        let profile = req
            .quota_profile
            .clone()
            .unwrap_or_else(|| self.config.default_quota_profile.clone());
        if self.config.profile(&profile).is_none() {
            return Err(Error::invalid(
                "quota_profile",
                format!("there is no quota profile {profile:?}"),
            ));
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

    /// Runs `edit` on the stored record in one audited transaction; `edit`
    /// returns the event describing what it changed. It must read nothing
    /// outside the transaction (no user lookups): a store read of another
    /// table inside a transaction blocks.
    async fn edit(
        &self,
        name: &str,
        edit: impl Fn(&mut SpaceRecord) -> Result<NewEvent, Error>,
    ) -> Result<SpaceRecord, Error> {
        let record = self
            .commit(&[SPACES.name], |tx| {
                let mut record = tx
                    .get(SPACES, name)?
                    .ok_or_else(|| abort(Error::not_found("space", name)))?;
                if record.deleting.is_some() {
                    return Err(abort(Error::conflict(format!(
                        "space {name} is being deleted"
                    ))));
                }
                let event = edit(&mut record).map_err(abort)?;
                tx.put(SPACES, name, &record)?;
                Ok((record, event))
            })
            .await?;
        self.kick(name);
        Ok(record)
    }

    fn touched(&self, record: &mut SpaceRecord, what: String) {
        record.last_activity = self.now();
        record.last_activity_reason = what;
    }

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
        let new_owner =
            match &update.owner {
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
                    Some(self.auth.find_user(who).map_err(|_| {
                        Error::invalid("owner", format!("there is no user {who:?}"))
                    })?)
                }
                None => None,
            };
        if let Some(labels) = &update.labels {
            check_labels(labels)?;
        }
        if let Some(profile) = &update.quota_profile
            && self.config.profile(profile).is_none()
        {
            return Err(Error::invalid(
                "quota_profile",
                format!("there is no quota profile {profile:?}"),
            ));
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
        let user = self
            .auth
            .find_user(&req.user)
            .map_err(|_| Error::invalid("user", format!("there is no user {:?}", req.user)))?;
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

    pub async fn sleep(&self, actor: &Actor, name: &str) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.sleep", |role| Action::UseSpace {
            name,
            role,
        })
        .await?;
        let by = actor.user.username.to_string();
        let now = self.now();
        let record = self
            .edit(name, |record| {
                let event = NewEvent::new(
                    actor_of(actor),
                    "space.sleep",
                    target(name),
                    Outcome::Success,
                )
                .origin(actor.origin.clone())
                .change("asleep", json!(record.wakefulness.asleep), json!(true));
                if !record.wakefulness.asleep {
                    record.wakefulness = Wakefulness {
                        asleep: true,
                        reason: format!("put to sleep by {by} at {}", clock_time(now)),
                        by: by.clone(),
                        since: now,
                    };
                }
                Ok(event)
            })
            .await?;
        self.view_of(&record, actor)
    }

    pub async fn wake(&self, actor: &Actor, name: &str) -> Result<SpaceView, Error> {
        self.authorized(actor, name, "space.wake", |role| Action::UseSpace {
            name,
            role,
        })
        .await?;
        let by = actor.user.username.to_string();
        let record = self
            .wake_as(
                name,
                actor_of(actor),
                actor.origin.clone(),
                &by,
                &format!("woken by {by}"),
            )
            .await?;
        self.view_of(&record, actor)
    }

    async fn wake_as(
        &self,
        name: &str,
        who: EventActor,
        origin: berth_audit::Origin,
        by: &str,
        why: &str,
    ) -> Result<SpaceRecord, Error> {
        let now = self.now();
        self.edit(name, |record| {
            let event = NewEvent::new(who.clone(), "space.wake", target(name), Outcome::Success)
                .origin(origin.clone())
                .change("asleep", json!(record.wakefulness.asleep), json!(false))
                .reason(why);
            if record.wakefulness.asleep {
                record.wakefulness = Wakefulness {
                    asleep: false,
                    reason: format!("{why} at {}", clock_time(now)),
                    by: by.to_owned(),
                    since: now,
                };
            }
            record.last_activity = now;
            record.last_activity_reason = why.to_owned();
            Ok(event)
        })
        .await
    }

    /// Activity on a space from another subsystem (a dev session, relay
    /// traffic, a catalog action): restarts its idle clock, and wakes it
    /// when `wake` is set. Written at most once a minute unless it wakes.
    pub async fn activity(&self, name: &str, what: &str, wake: bool) -> Result<(), Error> {
        let record = self.load(name)?;
        if wake && record.wakefulness.asleep {
            self.wake_as(
                name,
                EventActor::system(),
                berth_audit::Origin::default(),
                "berth",
                what,
            )
            .await?;
            return Ok(());
        }
        let now = self.now();
        if now.since(record.last_activity) < std::time::Duration::from_secs(60) {
            return Ok(());
        }
        self.store
            .transact(&[SPACES.name], |tx| {
                if let Some(mut record) = tx.get(SPACES, name)? {
                    record.last_activity = now;
                    record.last_activity_reason = what.to_owned();
                    tx.put(SPACES, name, &record)?;
                }
                Ok(())
            })
            .map_err(Error::from)
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
        let observed = cluster.observed(name);
        Ok(desired
            .iter()
            .map(|want| {
                let have = observed.iter().find(|o| {
                    o["kind"] == want["kind"] && o["metadata"]["name"] == want["metadata"]["name"]
                });
                SpaceObject {
                    api_version: want["apiVersion"].as_str().unwrap_or("").to_owned(),
                    kind: want["kind"].as_str().unwrap_or("").to_owned(),
                    name: want["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                    in_sync: have.is_some_and(|h| berth_kube::contains(h, want)),
                    object: have.cloned().unwrap_or(serde_json::Value::Null),
                }
            })
            .collect())
    }

    /// Puts idle spaces to sleep and deletes those idle past `idle_delete`;
    /// returns how many it changed. Persistent spaces are left alone.
    pub async fn check_idle(&self) -> Result<usize, Error> {
        let now = self.now();
        let mut changed = 0;
        for (name, record) in self.store.scan(SPACES, "").map_err(Error::from)? {
            if record.persistent || record.deleting.is_some() {
                continue;
            }
            let idle = now.since(record.last_activity);
            let since = clock_time(record.last_activity);
            if let Some(limit) = self.config.idle_delete
                && idle >= limit
            {
                let reason = format!(
                    "idle for {} (no activity since {})",
                    humantime::format_duration(limit),
                    record.last_activity
                );
                self.edit(&name, |r| {
                    r.deleting = Some(now);
                    Ok(NewEvent::new(
                        EventActor::system(),
                        "space.delete",
                        target(&name),
                        Outcome::Success,
                    )
                    .reason(reason.clone()))
                })
                .await?;
                changed += 1;
            } else if !record.wakefulness.asleep && idle >= self.config.idle_sleep {
                let reason = format!("idle since {since}");
                self.edit(&name, |r| {
                    r.wakefulness = Wakefulness {
                        asleep: true,
                        reason: reason.clone(),
                        by: "berth".to_owned(),
                        since: now,
                    };
                    Ok(NewEvent::new(
                        EventActor::system(),
                        "space.sleep",
                        target(&name),
                        Outcome::Success,
                    )
                    .reason(reason.clone())
                    .change("asleep", json!(false), json!(true)))
                })
                .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }

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
                tracing::error!(user = %user.username, error = %err.internal.as_deref().unwrap_or(&err.message), "cannot make the personal space");
            }
        })
    }
}

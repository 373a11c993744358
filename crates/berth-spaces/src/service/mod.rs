//! The spaces service: every operation authorizes through the policy,
//! changes the records and appends its audit event in one transaction,
//! answers once the event is durable, and then tells the reconciler.
//!
//! This module holds the service and what its operations share (reading,
//! authorizing, editing and committing records); each operation lives in
//! the module named for it.

mod create;
mod delete;
pub mod endpoints;
mod idle;
mod kube;
mod labels;
mod members;
mod personal;
mod sleep;
mod update;
mod views;

use std::sync::Arc;

use berth_audit::{Audit, EventResource, NewEvent};
use berth_auth::{Action, Actor, Auth, actor_of};
use berth_core::space::SpaceRole;
use berth_core::{Clock, Error, Timestamp};
use berth_kube::Cluster;
use berth_store::{Store, Tx, TxError};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::SpacesConfig;
use crate::records::{SPACES, STATUS, SpaceRecord, StatusRecord};

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

/// The spaces service.
pub struct Spaces {
    store: Arc<Store>,
    audit: Arc<Audit>,
    auth: Arc<Auth>,
    config: SpacesConfig,
    clock: Arc<dyn Clock>,
    kick: UnboundedSender<String>,
    cluster: Option<Cluster>,
    /// Counts the statuses written, so a caller can wait for a pass.
    statuses: tokio::sync::watch::Sender<u64>,
    /// Counts the records changed (a sleep, a wake, a deletion asked for),
    /// so what is kept from a record can tell it is out of date.
    edits: std::sync::atomic::AtomicU64,
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
            statuses: tokio::sync::watch::Sender::new(0),
            edits: std::sync::atomic::AtomicU64::new(0),
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
        let written = self
            .store
            .transact(&[SPACES.name, STATUS.name], |tx| {
                if tx.get(SPACES, name)?.is_some() && tx.get(STATUS, name)?.as_ref() != Some(status)
                {
                    tx.put(STATUS, name, status)?;
                    return Ok(true);
                }
                Ok(false)
            })
            .map_err(Error::from)?;
        if written {
            self.statuses.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    pub(super) async fn commit<R>(
        &self,
        tables: &[&'static str],
        change: impl Fn(&Tx<'_>) -> Result<(R, NewEvent), TxError>,
    ) -> Result<R, Error> {
        self.audit.commit_durable(tables, change).await
    }

    pub(super) fn load(&self, name: &str) -> Result<SpaceRecord, Error> {
        self.record(name)?
            .ok_or_else(|| Error::not_found("space", name))
    }

    /// Loads a space and authorizes `action` on it; a space the caller may
    /// not see is not found, whether or not it exists.
    pub(super) async fn authorized<'a>(
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

    /// Records a refusal that is not the policy's (a limit, a taken name).
    pub(super) async fn failed(
        &self,
        actor: &Actor,
        action: &str,
        name: &str,
        err: Error,
    ) -> Error {
        self.auth
            .failed(err, actor_of(actor), action, target(name), &actor.origin)
            .await
    }

    /// Runs `edit` on the stored record in one audited transaction; `edit`
    /// returns the event describing what it changed. It must read nothing
    /// outside the transaction (no user lookups): a store read of another
    /// table inside a transaction blocks.
    pub(super) async fn edit(
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
        self.edits
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.kick(name);
        Ok(record)
    }

    /// How many records were changed so far (see `edits`).
    pub(crate) fn edits(&self) -> u64 {
        self.edits.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(super) fn touched(&self, record: &mut SpaceRecord, what: String) {
        record.last_activity = self.now();
        record.last_activity_reason = what;
    }
}

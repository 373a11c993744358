//! The audit log as callers read it: filtered pages of events, the export,
//! verification and the checkpoint key, each authorized for the caller.
//!
//! It lives here rather than in `berth-audit` because the log itself sits
//! below `berth-auth` in the layer stack and knows nothing of callers or
//! policy, while who may read it is decided by [`crate::policy::authorize`]
//! (through [`Auth::allow`], which audits refusals). Every service and the
//! server already depend on `berth-auth`, so the server reaches this as
//! [`Auth::audit_log`] without a new edge in `xtask/src/layering.rs`.
//!
//! Every filter is checked (by [`berth_audit::checked`], the check every
//! read of the log makes) before anything is answered, so a bad filter on
//! the export answers 422 like one on the events, instead of a 200 whose
//! body is then cut short.

use std::sync::Arc;

use berth_audit::{Audit, EventResource, Page, Query, Verification};
use berth_core::Error;

use crate::Auth;
use crate::policy::{Action, Actor};

/// Events per page of an export, the most one query returns.
const EXPORT_PAGE: usize = 1000;

/// The audit-log service, a view of [`Auth`]: `auth.audit_log().events(..)`.
#[derive(Debug, Clone, Copy)]
pub struct AuditLog<'a> {
    auth: &'a Auth,
}

impl Auth {
    /// Reading the audit log, for admins and auditors.
    pub fn audit_log(&self) -> AuditLog<'_> {
        AuditLog { auth: self }
    }
}

fn audit_resource() -> EventResource {
    EventResource {
        kind: "audit_log".to_owned(),
        ..EventResource::default()
    }
}

impl AuditLog<'_> {
    async fn allow(&self, actor: &Actor, audit_action: &str) -> Result<(), Error> {
        self.auth
            .allow(actor, Action::ReadAudit, audit_action, audit_resource())
            .await
    }

    /// Events, newest first, filtered; one page, continued with `before`.
    pub async fn events(&self, actor: &Actor, query: &Query) -> Result<Page, Error> {
        self.allow(actor, "audit.list").await?;
        let query = berth_audit::checked(query)?;
        self.auth.audit().query(&query)
    }

    /// Every matching event, newest first, read page by page as the caller
    /// takes them. The filters are checked and the export itself is
    /// recorded before the first page is read.
    pub async fn export(&self, actor: &Actor, query: Query) -> Result<AuditExport, Error> {
        self.allow(actor, "audit.export").await?;
        let checked = berth_audit::checked(&query)?;
        let filters = serde_json::to_string(&query).unwrap_or_default();
        self.auth
            .record_read(
                actor,
                "audit.export",
                audit_resource(),
                &format!("export with filters {filters}"),
            )
            .await?;
        Ok(AuditExport {
            audit: self.auth.audit().clone(),
            query: Some(checked),
        })
    }

    /// Checks the whole chain and every signed checkpoint.
    pub async fn verify(&self, actor: &Actor) -> Result<Verification, Error> {
        self.allow(actor, "audit.verify").await?;
        let audit = self.auth.audit().clone();
        tokio::task::spawn_blocking(move || audit.verify())
            .await
            .map_err(|e| Error::internal(format!("verify task: {e}")))
    }

    /// The Ed25519 key that signs checkpoints, hex.
    pub async fn public_key(&self, actor: &Actor) -> Result<String, Error> {
        self.allow(actor, "audit.public_key").await?;
        Ok(self.auth.audit().public_key())
    }
}

/// An export under way: its pages as JSON lines, one event a line.
pub struct AuditExport {
    audit: Arc<Audit>,
    /// The next page's query; `None` once the last page was given or a read
    /// failed.
    query: Option<Query>,
}

impl std::fmt::Debug for AuditExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditExport")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl AuditExport {
    /// The next page's events as JSON lines; `None` when there are no more.
    /// After an error there is nothing more: the caller ends the download
    /// visibly incomplete instead of looking finished.
    pub async fn next_page(&mut self) -> Option<Result<Vec<u8>, Error>> {
        let mut query = self.query.take()?;
        query.limit = Some(EXPORT_PAGE);
        let audit = self.audit.clone();
        let read = query.clone();
        let page = match tokio::task::spawn_blocking(move || audit.query(&read)).await {
            Ok(Ok(page)) => page,
            Ok(Err(err)) => return Some(Err(failed(err))),
            Err(err) => return Some(Err(failed(Error::internal(format!("export task: {err}"))))),
        };
        if page.events.is_empty() {
            return None;
        }
        let mut lines = Vec::new();
        for event in &page.events {
            if let Err(err) = serde_json::to_writer(&mut lines, event) {
                return Some(Err(failed(Error::internal(format!("export event: {err}")))));
            }
            lines.push(b'\n');
        }
        if let Some(next) = page.next {
            query.before = Some(next);
            self.query = Some(query);
        }
        Some(Ok(lines))
    }
}

/// Logs why an export stopped (its caller only sees the body end).
fn failed(err: Error) -> Error {
    tracing::error!(error = %err.detail(), "audit export failed");
    err
}

//! A space's Kubernetes API as its developers reach it through berthd's
//! proxy: who may, what a request counts as, and what it leaves in the
//! audit log. The proxy itself (what a path reaches, the forwarding by
//! impersonation) is `berth_kube::proxy`.

use berth_audit::{EventResource, NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::Error;
use berth_kube::proxy::{self, KubeRequest};
use bytes::Bytes;

use super::{Spaces, target};
use crate::records::SPACES;

/// What a space's last activity says of a request through the proxy.
const ACTIVITY: &str = "Kubernetes API";

impl Spaces {
    /// Checks that `actor` may reach the proxy at all (a token with the
    /// `kube` scope), auditing a refusal.
    pub async fn check_kube(&self, actor: &Actor) -> Result<(), Error> {
        self.auth
            .allow(actor, Action::ReachKube, "kube.connect", target(""))
            .await
    }

    /// Checks that `actor` may act in namespace `name` through the proxy
    /// (its owner or a member; a refusal is audited as `kube.VERB`), and
    /// counts the request as activity on the space: a request into a
    /// sleeping space wakes it, so what the developer asks for is there.
    pub async fn kube_access(&self, actor: &Actor, name: &str, verb: &str) -> Result<(), Error> {
        let record = self
            .authorized(actor, name, &format!("kube.{verb}"), |role| {
                Action::UseKube { name, role }
            })
            .await?;
        // From the record just read: a request is most often into an awake
        // space whose idle clock was restarted less than a minute ago, and
        // then costs no other read.
        if record.wakefulness.asleep
            || self.now().since(record.last_activity) >= super::sleep::ACTIVITY_EVERY
        {
            self.activity(name, ACTIVITY, true).await?;
        }
        Ok(())
    }

    /// The namespaces of the spaces `actor` is in, as the cluster holds
    /// them: what `kubectl get namespaces` shows them (admins too see only
    /// their own: the proxy acts as them, and the cluster gives them no
    /// role elsewhere). Listing is not activity: it wakes nothing.
    pub async fn kube_namespaces(&self, actor: &Actor) -> Result<Vec<serde_json::Value>, Error> {
        self.check_kube(actor).await?;
        let names: Vec<String> = self
            .store
            .scan::<crate::records::SpaceRecord>(SPACES, "")
            .map_err(Error::from)?
            .into_iter()
            .filter(|(_, r)| r.role_of(&actor.user.id).is_some())
            .map(|(name, _)| name)
            .collect();
        let Some(cluster) = &self.cluster else {
            return Ok(Vec::new());
        };
        let mut objects = Vec::with_capacity(names.len());
        for name in names {
            if let Some(object) = cluster
                .namespace_object(&name)
                .await
                .map_err(unreachable_api)?
            {
                objects.push(object);
            }
        }
        Ok(objects)
    }

    /// Sends `request` (under the API's root) on to the cluster as
    /// `actor`, by impersonation, once the caller has decided it may go
    /// (see [`berth_kube::proxy`]).
    pub async fn kube_forward(
        &self,
        actor: &Actor,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<proxy::Body>, Error> {
        let cluster = self
            .cluster
            .as_ref()
            .ok_or_else(|| Error::unavailable("this daemon has no Kubernetes cluster"))?;
        cluster
            .forward(request, &proxy::user_name(actor.user.username.as_str()))
            .await
            .map_err(unreachable_api)
    }

    /// The namespace object of space `name`, read by berthd itself (the
    /// developer's role is inside the namespace, not on it); none when
    /// the cluster does not have it yet.
    pub async fn kube_namespace(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Option<serde_json::Value>, Error> {
        self.kube_access(actor, name, "get").await?;
        let Some(cluster) = &self.cluster else {
            return Ok(None);
        };
        cluster
            .namespace_object(name)
            .await
            .map_err(unreachable_api)
    }

    /// Records a request the proxy's own rule refused (see
    /// [`proxy::classify`]) and gives the refusal back as the error the
    /// developer sees.
    pub async fn kube_refused(
        &self,
        actor: &Actor,
        method: &http::Method,
        path: &str,
        refused: proxy::Refused,
    ) -> Error {
        let err = Error::forbidden(refused.0);
        let event = NewEvent::new(
            actor_of(actor),
            &format!("kube.{}", method.as_str().to_ascii_lowercase()),
            EventResource {
                kind: "kube-path".to_owned(),
                id: None,
                name: Some(path.chars().take(200).collect()),
                space: None,
            },
            Outcome::Denied,
        )
        .origin(actor.origin.clone())
        .status(403)
        .reason(err.message.clone());
        if let Err(failed) = self.audit.record_durable(event).await {
            return failed;
        }
        err
    }

    /// Records a request the proxy sent into a space (a change, or a
    /// stream into a workload) with the status the API answered, durably:
    /// the developer hears the answer only once its event is on disk.
    pub async fn kube_record(
        &self,
        actor: &Actor,
        request: &KubeRequest<'_>,
        status: u16,
    ) -> Result<(), Error> {
        let kind = if request.group.is_empty() {
            request.resource.to_owned()
        } else {
            format!("{}.{}", request.resource, request.group)
        };
        let name = match (request.name, request.subresource) {
            (Some(name), Some(sub)) => Some(format!("{name}/{sub}")),
            (name, _) => name.map(str::to_owned),
        };
        let (outcome, reason) = match status {
            100..=399 => (Outcome::Success, None),
            403 => (
                Outcome::Denied,
                Some("the cluster's RBAC or admission refused it"),
            ),
            _ => (Outcome::Failure, None),
        };
        let mut event = NewEvent::new(
            actor_of(actor),
            &format!("kube.{}", request.verb),
            EventResource {
                kind,
                id: None,
                name,
                space: Some(request.namespace.to_owned()),
            },
            outcome,
        )
        .origin(actor.origin.clone())
        .status(status);
        if let Some(reason) = reason {
            event = event.reason(reason);
        }
        self.audit.record_durable(event).await.map(|_| ())
    }
}

/// A Kubernetes API that did not answer (or refused berthd), for the
/// caller; what happened goes to the log.
pub(super) fn unreachable_api(err: impl std::error::Error + 'static) -> Error {
    Error {
        internal: Some(berth_core::error::chain(&err)),
        ..Error::unavailable("the Kubernetes API did not answer")
    }
}

//! Endpoints: a Service in a space that its owner serves at
//! `SERVICE-SPACE.<domain>` through berthd's reverse proxy. This is what
//! the proxy asks before it sends a request on: which endpoint a host
//! names, whether the caller may reach it, and where its Service answers
//! (waking the space first when it sleeps). The records live in the store,
//! keyed by the host's first label; what a request needs is kept for a
//! second, so most requests read nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_audit::{EventResource, NewEvent, Outcome};
use berth_auth::{Action, Actor, actor_of};
use berth_core::endpoint::{EndpointAccess, EndpointSpec, EndpointView, host_label};
use berth_core::name::ServiceName;
use berth_core::{DnsLabel, Error, Timestamp};
use berth_store::Table;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

use super::kube::unreachable_api;
use super::{Spaces, abort};
use crate::records::SPACES;
use crate::workloads;

/// Endpoints by the first label of their host, `SERVICE-SPACE`.
pub(crate) const ENDPOINTS: Table<EndpointRecord> = Table::new("spaces.endpoints");

/// How long after a wake a Service that does not answer yet is still
/// starting (a waiting page) rather than broken (an error page).
const WAKE_GRACE: Duration = Duration::from_secs(180);
/// How long an endpoint's route, and where its awake Service answers, are
/// trusted before they are read again: a request then costs no store read
/// and no API call. What an owner changes here takes effect at once (the
/// entries go); a sleep, or a Service changed in the cluster, within this.
const HOT_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub space: String,
    pub service: String,
    pub port: Option<u16>,
    pub access: EndpointAccess,
    pub set_by: String,
    pub updated_at: Timestamp,
}

/// The `[endpoints]` section of `berthd.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointsConfig {
    /// Endpoints are served at `SERVICE-SPACE.<domain>`; off when absent.
    /// The domain's wildcard must lead to berthd (a wildcard DNS record
    /// and Ingress); `localhost` works on one machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl EndpointsConfig {
    pub fn validate(&self) -> Result<(), String> {
        match &self.domain {
            Some(domain) if !DnsLabel::is_subdomain(domain) => Err(format!(
                "endpoints.domain `{domain}` is not a DNS name (lowercase labels joined by `.`)"
            )),
            _ => Ok(()),
        }
    }
}

/// The endpoint a request's host names.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The host, without a port.
    pub host: String,
    pub space: String,
    pub service: String,
    pub port: Option<u16>,
    pub access: EndpointAccess,
}

/// Where a request to an endpoint goes now.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// The Service answers at this `host:port`.
    Ready(String),
    /// The space is waking; ask again shortly.
    Waking,
    /// The Service cannot be reached, in words for whoever asked.
    Unreachable(String),
}

/// The endpoints service.
pub struct Endpoints {
    spaces: Arc<Spaces>,
    domain: Option<String>,
    /// `scheme://` and `:port` of berthd's public URL: endpoints are served
    /// on the same listener.
    scheme: String,
    port: String,
    /// berthd's own host: never an endpoint's, even under the domain.
    public_host: String,
    /// By host: the route, and the address once its space was seen awake.
    hot: Mutex<HashMap<String, Hot>>,
}

struct Hot {
    route: Route,
    address: Option<String>,
    read: Instant,
    /// [`Spaces::edits`] when the space was seen awake: a sleep since
    /// makes the address stale at once.
    edits: u64,
}

impl Endpoints {
    /// `public_url` is where users reach berthd; endpoint URLs take its
    /// scheme and port.
    pub fn new(
        spaces: Arc<Spaces>,
        config: &EndpointsConfig,
        public_url: &str,
    ) -> Result<Endpoints, Error> {
        config
            .validate()
            .map_err(|e| Error::invalid("endpoints", e))?;
        let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
        let authority = rest.split('/').next().unwrap_or_default();
        let (public_host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, format!(":{port}")),
            _ => (authority, String::new()),
        };
        Ok(Endpoints {
            spaces,
            domain: config.domain.as_ref().map(|d| d.to_ascii_lowercase()),
            scheme: scheme.to_owned(),
            port,
            public_host: public_host.to_ascii_lowercase(),
            hot: Mutex::default(),
        })
    }

    /// The URL of the endpoint whose host is `host`.
    pub fn url(&self, host: &str) -> String {
        format!("{}://{host}{}", self.scheme, self.port)
    }

    fn host(&self, label: &str) -> String {
        format!("{label}.{}", self.domain.as_deref().unwrap_or("invalid"))
    }

    fn view(&self, label: &str, record: &EndpointRecord) -> EndpointView {
        EndpointView {
            space: record.space.clone(),
            service: record.service.clone(),
            port: record.port,
            access: record.access,
            url: self.url(&self.host(label)),
            set_by: record.set_by.clone(),
            updated_at: record.updated_at,
        }
    }

    fn of_space(&self, space: &str) -> Result<Vec<(String, EndpointRecord)>, Error> {
        Ok(self
            .spaces
            .store
            .scan(ENDPOINTS, "")
            .map_err(Error::from)?
            .into_iter()
            .filter(|(_, record)| record.space == space)
            .collect())
    }

    /// The endpoints of space `space`.
    pub async fn list(&self, actor: &Actor, space: &str) -> Result<Vec<EndpointView>, Error> {
        self.spaces
            .authorized(actor, space, "endpoint.list", |role| Action::ReadSpace {
                name: space,
                role,
            })
            .await?;
        let mut views: Vec<EndpointView> = self
            .of_space(space)?
            .iter()
            .map(|(label, record)| self.view(label, record))
            .collect();
        views.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(views)
    }

    fn require_domain(&self) -> Result<(), Error> {
        match self.domain {
            Some(_) => Ok(()),
            None => Err(Error::conflict(
                "endpoints are off on this Berth: an admin sets endpoints.domain to serve them",
            )),
        }
    }

    /// Serves Service `service` of space `space` as an endpoint, or changes
    /// its port or access.
    pub async fn set(
        &self,
        actor: &Actor,
        space: &str,
        service: &str,
        spec: EndpointSpec,
    ) -> Result<EndpointView, Error> {
        self.spaces
            .authorized(actor, space, "endpoint.set", |role| Action::OwnSpace {
                name: space,
                role,
            })
            .await?;
        let checked = self.require_domain().and_then(|()| {
            spec.validate()?;
            ServiceName::parse(service)?;
            host_label(service, space)
        });
        let label = match checked {
            Ok(label) => label,
            Err(err) => return Err(self.spaces.failed(actor, "endpoint.set", space, err).await),
        };
        let now = self.spaces.now();
        let record = EndpointRecord {
            space: space.to_owned(),
            service: service.to_owned(),
            port: spec.port,
            access: spec.access,
            set_by: actor.user.username.to_string(),
            updated_at: now,
        };
        let stored = self
            .spaces
            .commit(&[SPACES.name, ENDPOINTS.name], |tx| {
                let owner = tx
                    .get(SPACES, space)?
                    .ok_or_else(|| abort(Error::not_found("space", space)))?;
                if owner.deleting.is_some() {
                    return Err(abort(Error::conflict(format!(
                        "space {space} is being deleted"
                    ))));
                }
                let before = tx.get(ENDPOINTS, &label)?;
                if let Some(other) = &before
                    && (other.space != space || other.service != service)
                {
                    return Err(abort(Error::conflict(format!(
                        "the host {} is taken by service {} of space {}",
                        self.host(&label),
                        other.service,
                        other.space
                    ))));
                }
                tx.put(ENDPOINTS, &label, &record)?;
                let mut event = NewEvent::new(
                    actor_of(actor),
                    "endpoint.set",
                    resource(space, service),
                    Outcome::Success,
                )
                .origin(actor.origin.clone());
                let (access, port) = match &before {
                    Some(b) => (json!(b.access), json!(b.port)),
                    None => (json!(null), json!(null)),
                };
                if access != json!(record.access) {
                    event = event.change("access", access, json!(record.access));
                }
                if port != json!(record.port) {
                    event = event.change("port", port, json!(record.port));
                }
                Ok((record.clone(), event))
            })
            .await?;
        self.hot.lock().remove(&self.host(&label));
        Ok(self.view(&label, &stored))
    }

    /// Stops serving Service `service` of space `space`.
    pub async fn remove(&self, actor: &Actor, space: &str, service: &str) -> Result<(), Error> {
        self.spaces
            .authorized(actor, space, "endpoint.delete", |role| Action::OwnSpace {
                name: space,
                role,
            })
            .await?;
        // The label is the endpoint's key: one read, no scan.
        let found = match host_label(service, space) {
            Ok(label) => self
                .spaces
                .store
                .get(ENDPOINTS, &label)
                .map_err(Error::from)?
                .filter(|r| r.space == space && r.service == service)
                .map(|_| label),
            Err(_) => None,
        };
        let label = match found {
            Some(label) => label,
            None => {
                let err = Error::not_found("endpoint", service);
                return Err(self
                    .spaces
                    .failed(actor, "endpoint.delete", space, err)
                    .await);
            }
        };
        self.spaces
            .commit(&[ENDPOINTS.name], |tx| {
                let before = tx.get(ENDPOINTS, &label)?;
                tx.delete(ENDPOINTS, &label)?;
                let event = NewEvent::new(
                    actor_of(actor),
                    "endpoint.delete",
                    resource(space, service),
                    Outcome::Success,
                )
                .origin(actor.origin.clone())
                .change("access", json!(before.map(|b| b.access)), json!(null));
                Ok(((), event))
            })
            .await?;
        self.hot.lock().remove(&self.host(&label));
        Ok(())
    }

    /// The endpoint `host` (without a port) names; none when it is not
    /// under the endpoints' domain, or no endpoint has it.
    pub fn route(&self, host: &str) -> Result<Option<Route>, Error> {
        let host = host.to_ascii_lowercase();
        let Some(label) = self.label_of(&host) else {
            return Ok(None);
        };
        if let Some(hot) = self.hot.lock().get(&host)
            && hot.read.elapsed() < HOT_TTL
        {
            return Ok(Some(hot.route.clone()));
        }
        let route = self
            .spaces
            .store
            .get(ENDPOINTS, label)
            .map_err(Error::from)?
            .map(|record| Route {
                host: host.clone(),
                space: record.space,
                service: record.service,
                port: record.port,
                access: record.access,
            });
        // Only endpoints are kept: a request for any other name costs a
        // read, not memory.
        if let Some(route) = &route {
            let mut hot = self.hot.lock();
            hot.retain(|_, h| h.read.elapsed() < HOT_TTL);
            hot.insert(
                host,
                Hot {
                    route: route.clone(),
                    address: None,
                    read: Instant::now(),
                    edits: 0,
                },
            );
        }
        Ok(route)
    }

    /// The first label of `host` when it is directly under the endpoints'
    /// domain.
    pub fn label_of<'h>(&self, host: &'h str) -> Option<&'h str> {
        label_under(host, self.domain.as_deref()?, &self.public_host)
    }

    /// Whether `actor` (none when not signed in) may reach `route`. A
    /// member's refusal is audited; a caller not signed in is told to sign
    /// in.
    pub async fn admit(&self, route: &Route, actor: Option<&Actor>) -> Result<(), Error> {
        if route.access == EndpointAccess::Public {
            return Ok(());
        }
        let actor = actor
            .ok_or_else(|| Error::unauthenticated("sign in to Berth to open this endpoint"))?;
        if route.access == EndpointAccess::Team {
            return Ok(());
        }
        let space = route.space.as_str();
        self.spaces
            .authorized(actor, space, "endpoint.request", |role| Action::ReadSpace {
                name: space,
                role,
            })
            .await
            .map(|_| ())
    }

    /// Where a request to `route` goes now: a request counts as activity
    /// on its space, and wakes it when it sleeps.
    pub async fn backend(&self, route: &Route) -> Result<Backend, Error> {
        let spaces = &self.spaces;
        // Read before the record, so a sleep committed in between leaves
        // what is kept below already stale.
        let edits = spaces.edits();
        if let Some(Hot {
            address: Some(address),
            read,
            edits: seen,
            ..
        }) = self.hot.lock().get(&route.host)
            && read.elapsed() < HOT_TTL
            && *seen == edits
        {
            return Ok(Backend::Ready(address.clone()));
        }
        let record = spaces.load(&route.space)?;
        let what = format!("a request to endpoint {}", route.host);
        if record.wakefulness.asleep {
            spaces.activity(&route.space, &what, true).await?;
            return Ok(Backend::Waking);
        }
        spaces.activity(&route.space, &what, false).await?;
        // Still on its way back. A wake that stopped short (a kind it may
        // not touch) is as awake as it gets: the Service may answer.
        let waking = spaces.status(&route.space)?.is_some_and(|status| {
            !workloads::wholly_awake(&record, &status)
                && !workloads::stopped_short(&record, &status)
        });
        if waking {
            return Ok(Backend::Waking);
        }
        let Some(cluster) = &spaces.cluster else {
            return Ok(Backend::Unreachable(
                "this Berth has no Kubernetes cluster".to_owned(),
            ));
        };
        let service = cluster
            .service(&route.space, &route.service)
            .await
            .map_err(unreachable_api)?;
        let Some(service) = service else {
            return Ok(Backend::Unreachable(format!(
                "space {} has no service {}",
                route.space, route.service
            )));
        };
        match berth_kube::endpoint::address(&service, &route.space, route.port) {
            Ok(address) => {
                self.hot.lock().insert(
                    route.host.clone(),
                    Hot {
                        route: route.clone(),
                        address: Some(address.clone()),
                        read: Instant::now(),
                        edits,
                    },
                );
                Ok(Backend::Ready(address))
            }
            Err(why) => Ok(Backend::Unreachable(why)),
        }
    }

    /// Whether `route`'s space woke so lately that a Service not answering
    /// yet is still starting.
    pub fn starting(&self, route: &Route) -> bool {
        self.spaces.load(&route.space).is_ok_and(|record| {
            !record.wakefulness.asleep
                && self.spaces.now().since(record.wakefulness.since) < WAKE_GRACE
        })
    }
}

/// The first label of `host` when it is directly under `domain` and is not
/// berthd's own host (`public_host`), which may be under it too.
fn label_under<'h>(host: &'h str, domain: &str, public_host: &str) -> Option<&'h str> {
    if host.eq_ignore_ascii_case(public_host) {
        return None;
    }
    let (label, rest) = host.split_once('.')?;
    rest.eq_ignore_ascii_case(domain).then_some(label)
}

fn resource(space: &str, service: &str) -> EventResource {
    EventResource {
        kind: "endpoint".to_owned(),
        id: None,
        name: Some(service.to_owned()),
        space: Some(space.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::label_under;

    #[test]
    fn an_endpoint_host_is_one_label_under_the_domain_and_never_berthds_own() {
        let public = "berth.example.com";
        assert_eq!(
            label_under("web-alice.example.com", "example.com", public),
            Some("web-alice")
        );
        assert_eq!(
            label_under("WEB-alice.Example.com", "example.com", public),
            Some("WEB-alice")
        );
        assert_eq!(
            label_under("berth.example.com", "example.com", public),
            None
        );
        assert_eq!(label_under("a.b.example.com", "example.com", public), None);
        assert_eq!(label_under("example.com", "example.com", public), None);
        assert_eq!(label_under("127.0.0.1", "localhost", "127.0.0.1"), None);
        assert_eq!(
            label_under("web-alice.localhost", "localhost", "127.0.0.1"),
            Some("web-alice")
        );
    }
}

//! The Kubernetes API as developers reach it through berthd: what a request
//! reaches ([`classify`], pure), and sending one on to the cluster as the
//! developer, by impersonation ([`Cluster::forward`]).
//!
//! The rule is narrow on purpose: discovery and the OpenAPI documents (the
//! same for everyone, read only), the list and the objects of the caller's
//! own namespaces (answered by Berth, from its own view), and anything
//! inside one namespace. Everything else (cluster-scoped objects, lists
//! across every namespace, changes to a namespace itself) is refused with
//! the rule that refuses it. A path is read exactly as the API server
//! reads it or not at all: empty, `.` and `..` segments and percent
//! escapes are refused, so what is decided here is what the server does.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response};

use crate::Cluster;

/// A body as the API answers it, streamed.
pub type Body = kube::client::Body;
/// A request the API did not answer (a connection refused, a timeout).
pub type Unanswered = kube::Error;

/// Every user berthd impersonates is named with this prefix and the Berth
/// user name, so a Berth user can never be taken for one of the cluster's
/// own users or groups.
pub const USER_PREFIX: &str = "berth:";

/// The Kubernetes user name of Berth user `username`.
pub fn user_name(username: &str) -> String {
    format!("{USER_PREFIX}{username}")
}

/// What a request to the Kubernetes API reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// Discovery, `/version` and the OpenAPI documents: read only, the same
    /// for every user.
    Discovery,
    /// A question about oneself (`kubectl auth whoami`, `kubectl auth
    /// can-i`): a self review, answered by the cluster for the
    /// impersonated user, changing nothing.
    SelfReview,
    /// `GET /api/v1/namespaces`: answered with the caller's spaces.
    Namespaces,
    /// `GET /api/v1/namespaces/NAME`: one of the caller's spaces.
    Namespace(&'a str),
    /// Anything inside one namespace.
    InNamespace(KubeRequest<'a>),
}

/// A request inside one namespace, as RBAC and the audit log name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRequest<'a> {
    pub namespace: &'a str,
    /// The API group; empty for the core group.
    pub group: &'a str,
    /// The resource's plural, such as `pods` or `deployments`.
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or for the streams, `exec`, `attach`,
    /// `portforward` and `proxy`.
    pub verb: &'static str,
}

impl KubeRequest<'_> {
    /// Whether the request changes something or opens a stream into a
    /// workload: what the audit log records one event for.
    pub fn audited(&self) -> bool {
        !matches!(self.verb, "get" | "list" | "watch")
    }
}

/// Why a request is not sent to the cluster, in words for the developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The subresources that open a stream into a pod or service.
const STREAMS: [&str; 4] = ["exec", "attach", "portforward", "proxy"];

/// What `method` on `path` (relative to the API's root, such as
/// `/api/v1/namespaces/alice/pods`) with `query` reaches, or why it is
/// refused.
pub fn classify<'a>(
    method: &Method,
    path: &'a str,
    query: Option<&str>,
) -> Result<Target<'a>, Refused> {
    let malformed = || Refused(format!("{path} is not a path of the Kubernetes API"));
    let segments: Vec<&str> = path
        .strip_prefix('/')
        .ok_or_else(malformed)?
        .split('/')
        .collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == ".." || s.contains('%'))
    {
        return Err(malformed());
    }
    let reads = matches!(*method, Method::GET | Method::HEAD);
    let (group, rest) = match segments.as_slice() {
        ["version"] | ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] => {
            return discovery(reads, path);
        }
        ["openapi", ..] => return discovery(reads, path),
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"]
        | [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews" | "selfsubjectrulesreviews",
        ] if *method == Method::POST => return Ok(Target::SelfReview),
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _, rest @ ..] => (*group, rest),
        _ => return Err(malformed()),
    };
    let watch = query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
    });
    let core = group.is_empty();
    let own_namespace = |ns: &str| {
        Refused(format!(
            "namespace {ns} is a Berth space: it is changed through Berth (`berth space ...`), \
             not through the Kubernetes API"
        ))
    };
    match rest {
        ["namespaces"] if core => {
            if !reads {
                return Err(Refused(
                    "namespaces are Berth spaces: make one with `berth space create`".to_owned(),
                ));
            }
            if watch {
                return Err(Refused(
                    "watching namespaces is not offered through Berth; `kubectl get namespaces` \
                     lists your spaces"
                        .to_owned(),
                ));
            }
            Ok(Target::Namespaces)
        }
        ["namespaces", ns] if core => {
            if reads && !watch {
                Ok(Target::Namespace(ns))
            } else {
                Err(own_namespace(ns))
            }
        }
        ["namespaces", ns, "status" | "finalize"] if core => Err(own_namespace(ns)),
        ["namespaces", namespace, resource, tail @ ..] => {
            let (name, subresource) = match tail {
                [] => (None, None),
                [name] => (Some(*name), None),
                [name, sub] => (Some(*name), Some(*sub)),
                // Only a proxy carries a path of its own past the name.
                [name, "proxy", ..] => (Some(*name), Some("proxy")),
                _ => return Err(malformed()),
            };
            let verb = verb(method, name.is_some(), subresource, watch)?;
            Ok(Target::InNamespace(KubeRequest {
                namespace,
                group,
                resource,
                name,
                subresource,
                verb,
            }))
        }
        [resource, ..] => Err(Refused(format!(
            "{resource} outside a namespace are not reachable through Berth: name one of your \
             spaces (`-n SPACE`); cluster-wide objects are your cluster admins'"
        ))),
        [] => Err(malformed()),
    }
}

fn discovery(reads: bool, path: &str) -> Result<Target<'_>, Refused> {
    if reads {
        Ok(Target::Discovery)
    } else {
        Err(Refused(format!("{path} is read only")))
    }
}

fn verb(
    method: &Method,
    named: bool,
    subresource: Option<&str>,
    watch: bool,
) -> Result<&'static str, Refused> {
    if let Some(stream) = subresource.and_then(|s| STREAMS.iter().find(|v| **v == s)) {
        return Ok(stream);
    }
    Ok(match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => {
            return Err(Refused(format!(
                "{method} is not a method of the Kubernetes API"
            )));
        }
    })
}

/// Headers that belong to one connection, not to the request (RFC 9110
/// section 7.6.1), and the caller's own credentials: none of them is sent on.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Strips the hop-by-hop headers of `headers`, keeping an upgrade (a
/// WebSocket or SPDY stream) as one: `Connection: Upgrade` and its
/// `Upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let upgrade = headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten();
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

impl Cluster {
    /// Sends `request` (its URI the path and query under the API's root)
    /// to the API as the Kubernetes user `user`, by impersonation, and
    /// returns the API's answer as it comes: the body streams, and an
    /// upgrade's connection is the response's (`hyper::upgrade::on`).
    /// The caller's credentials, cookies and any impersonation of its own
    /// are never sent; the request carries berthd's credentials and
    /// `Impersonate-User: user` only.
    pub async fn forward(
        &self,
        request: Request<Bytes>,
        user: &str,
    ) -> Result<Response<Body>, Unanswered> {
        let (mut parts, body) = request.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let own: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("impersonate-"))
            .cloned()
            .collect();
        for name in own
            .iter()
            .chain(&[header::AUTHORIZATION, header::COOKIE, header::HOST])
        {
            parts.headers.remove(name);
        }
        let user = HeaderValue::from_str(user).map_err(|e| {
            kube::Error::Service(format!("{user:?} cannot be sent as a user name: {e}").into())
        })?;
        parts
            .headers
            .insert(HeaderName::from_static("impersonate-user"), user);
        self.client()
            .send(Request::from_parts(parts, kube::client::Body::from(body)))
            .await
    }

    /// The namespace `name` as the API holds it, in full (berthd's own
    /// read, for a developer's view of their space), or none.
    pub async fn namespace_object(
        &self,
        name: &str,
    ) -> Result<Option<serde_json::Value>, Unanswered> {
        let found = self.namespaces().get_opt(name).await?;
        Ok(found.map(|ns| {
            let mut value = serde_json::to_value(ns).unwrap_or_default();
            value["apiVersion"] = "v1".into();
            value["kind"] = "Namespace".into();
            value
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach<'a>(
        method: Method,
        path: &'a str,
        query: Option<&str>,
    ) -> Result<Target<'a>, Refused> {
        classify(&method, path, query)
    }

    fn inside(target: Result<Target<'_>, Refused>) -> KubeRequest<'_> {
        match target {
            Ok(Target::InNamespace(r)) => r,
            other => panic!("not a namespaced request: {other:?}"),
        }
    }

    #[test]
    fn discovery_is_read_only() {
        for path in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/openapi/v3",
            "/openapi/v3/apis/apps/v1",
        ] {
            assert_eq!(
                reach(Method::GET, path, None),
                Ok(Target::Discovery),
                "{path}"
            );
            assert!(reach(Method::POST, path, None).is_err(), "{path}");
        }
    }

    #[test]
    fn requests_in_a_namespace_are_named_as_rbac_names_them() {
        let r = inside(reach(Method::GET, "/api/v1/namespaces/alice/pods", None));
        assert_eq!(
            (r.namespace, r.group, r.resource, r.verb),
            ("alice", "", "pods", "list")
        );
        let r = inside(reach(
            Method::GET,
            "/apis/apps/v1/namespaces/alice/deployments",
            Some("watch=true&resourceVersion=5"),
        ));
        assert_eq!(
            (r.group, r.resource, r.verb),
            ("apps", "deployments", "watch")
        );
        assert!(!r.audited());
        let r = inside(reach(
            Method::PATCH,
            "/apis/apps/v1/namespaces/a/deployments/web/scale",
            None,
        ));
        assert_eq!(
            (r.name, r.subresource, r.verb),
            (Some("web"), Some("scale"), "patch")
        );
        assert!(r.audited());
        let r = inside(reach(
            Method::DELETE,
            "/api/v1/namespaces/a/configmaps",
            None,
        ));
        assert_eq!(r.verb, "deletecollection");
        let r = inside(reach(
            Method::POST,
            "/api/v1/namespaces/a/pods/web-1/exec",
            Some("command=sh"),
        ));
        assert_eq!(r.verb, "exec");
        let r = inside(reach(
            Method::GET,
            "/api/v1/namespaces/a/pods/web-1/portforward",
            None,
        ));
        assert_eq!(r.verb, "portforward");
        let r = inside(reach(
            Method::GET,
            "/api/v1/namespaces/a/services/web/proxy/x/y",
            None,
        ));
        assert_eq!((r.name, r.verb), (Some("web"), "proxy"));
    }

    #[test]
    fn questions_about_oneself_go_to_the_cluster() {
        for path in [
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        ] {
            assert_eq!(
                reach(Method::POST, path, None),
                Ok(Target::SelfReview),
                "{path}"
            );
        }
        let refused = reach(
            Method::POST,
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            None,
        )
        .expect_err("about someone else");
        assert!(refused.0.contains("outside a namespace"), "{refused}");
    }

    #[test]
    fn namespaces_are_answered_by_berth_and_never_changed() {
        assert_eq!(
            reach(Method::GET, "/api/v1/namespaces", None),
            Ok(Target::Namespaces)
        );
        assert_eq!(
            reach(Method::GET, "/api/v1/namespaces/alice", None),
            Ok(Target::Namespace("alice"))
        );
        for (method, path, query) in [
            (Method::POST, "/api/v1/namespaces", None),
            (Method::GET, "/api/v1/namespaces", Some("watch=1")),
            (Method::DELETE, "/api/v1/namespaces/alice", None),
            (Method::PATCH, "/api/v1/namespaces/alice", None),
            (Method::PUT, "/api/v1/namespaces/alice/finalize", None),
            (Method::PUT, "/api/v1/namespaces/alice/status", None),
        ] {
            let refused = reach(method.clone(), path, query).expect_err("refused");
            assert!(
                refused.0.contains("namespace"),
                "{method} {path}: {refused}"
            );
        }
    }

    #[test]
    fn the_cluster_outside_namespaces_is_refused_naming_the_rule() {
        for path in [
            "/api/v1/nodes",
            "/api/v1/pods",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "/apis/apps/v1/deployments",
        ] {
            let refused = reach(Method::GET, path, None).expect_err("refused");
            assert!(
                refused.0.contains("outside a namespace"),
                "{path}: {refused}"
            );
        }
    }

    #[test]
    fn paths_the_server_could_read_otherwise_are_refused() {
        for path in [
            "/api/v1/namespaces/alice/../bob/pods",
            "/api/v1/namespaces/alice//pods",
            "/api/v1/namespaces/alice/./pods",
            "/api/v1/namespaces/al%69ce/pods",
            "/api/v1/namespaces/alice/pods/a/b/c",
            "api/v1",
            "/healthz",
        ] {
            let refused = reach(Method::GET, path, None).expect_err("refused");
            assert!(refused.0.contains("not a path"), "{path}: {refused}");
        }
    }

    #[test]
    fn hop_by_hop_headers_go_and_an_upgrade_stays_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade, x-private"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            "x-stream-protocol-version",
            HeaderValue::from_static("v4.channel.k8s.io"),
        );
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers[header::CONNECTION], "Upgrade");
        assert_eq!(headers[header::UPGRADE], "SPDY/3.1");
        assert!(!headers.contains_key("x-private"));
        assert!(headers.contains_key("x-stream-protocol-version"));
        let mut plain = HeaderMap::new();
        plain.insert(header::CONNECTION, HeaderValue::from_static("close"));
        plain.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        strip_hop_by_hop(&mut plain);
        assert!(plain.is_empty());
    }
}

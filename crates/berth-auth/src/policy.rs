//! The one place that decides who may do what. Handlers and services never
//! compare roles themselves; they ask [`authorize`].

use berth_core::Error;
use berth_core::identity::{Role, Scope};
use berth_core::space::SpaceRole;

use crate::records::UserRecord;

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    Session { key: String, csrf_token: String },
    Token { id: String, scopes: Vec<Scope> },
}

/// An authenticated caller, and where the request came from (for the audit
/// log).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: UserRecord,
    pub via: Via,
    pub origin: berth_audit::Origin,
}

impl Actor {
    pub fn scopes(&self) -> Vec<Scope> {
        match &self.via {
            Via::Session { .. } => vec![Scope::Read, Scope::Write],
            Via::Token { scopes, .. } => scopes.clone(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

/// Everything the identity API lets a caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Who am I; my own tokens.
    ReadSelf,
    /// Make or revoke my own tokens.
    ManageOwnTokens,
    /// A user's record: themselves, or anyone for admins.
    ReadUser {
        id: &'a str,
    },
    ListUsers,
    /// Change a user's role or disable them.
    UpdateUsers,
    /// See and revoke anyone's tokens.
    ManageAllTokens,
    ReadSsoMapping,
    WriteSsoMapping,
    ReadAudit,
    /// See the spaces you are in (admins: every space).
    ListSpaces,
    /// Make a space for yourself.
    CreateSpace,
    /// Make a space for someone else, choose its quota profile, or adopt a
    /// namespace Berth did not make.
    AdministerSpaces,
    /// See every space, not only your own.
    ListAllSpaces,
    /// See a space; `role` is the caller's role in it.
    ReadSpace {
        name: &'a str,
        role: Option<SpaceRole>,
    },
    /// Use a space: change its labels and persistence, sleep and wake it.
    UseSpace {
        name: &'a str,
        role: Option<SpaceRole>,
    },
    /// Attach to, read or end a dev session; `own` when the caller started it.
    UseSession {
        id: &'a str,
        own: bool,
    },
    /// See every dev session.
    ListAllSessions,
    /// See the catalog's items (hidden ones: admins).
    ReadCatalog,
    /// See the catalog's chart repositories.
    ReadCatalogSources,
    /// Add, refresh and remove chart repositories; create, edit, hide and
    /// delete catalog items.
    ManageCatalog,
    /// Reach the Kubernetes API proxy at all: its discovery documents and
    /// the list of one's own namespaces.
    ReachKube,
    /// Reach a space's Kubernetes API through the proxy, as oneself: its
    /// owner and members only (an admin who is neither has no role in
    /// the namespace to act with).
    UseKube {
        name: &'a str,
        role: Option<SpaceRole>,
    },
    /// Share, unshare, transfer or delete a space.
    OwnSpace {
        name: &'a str,
        role: Option<SpaceRole>,
    },
}

impl Action<'_> {
    fn writes(self) -> bool {
        matches!(
            self,
            Action::ManageOwnTokens
                | Action::UpdateUsers
                | Action::ManageAllTokens
                | Action::WriteSsoMapping
                | Action::CreateSpace
                | Action::AdministerSpaces
                | Action::UseSpace { .. }
                | Action::OwnSpace { .. }
                | Action::UseSession { .. }
                | Action::ManageCatalog
        )
    }
}

pub fn authorize(actor: &Actor, action: Action<'_>) -> Result<(), Error> {
    let scopes = actor.scopes();
    let scope = if let Action::ReachKube | Action::UseKube { .. } = action {
        Scope::Kube
    } else if action.writes() {
        Scope::Write
    } else {
        Scope::Read
    };
    if !scopes.contains(&scope) {
        return Err(Error::forbidden(format!(
            "this token lacks the {} scope",
            scope.as_str()
        )));
    }
    let role = actor.user.role;
    let allowed = match action {
        Action::ReadSelf | Action::ManageOwnTokens => true,
        Action::ReadUser { id } => {
            if id == actor.user.id || role == Role::Admin {
                true
            } else {
                // Not the caller's to know about.
                return Err(Error::not_found("user", id));
            }
        }
        Action::ListUsers
        | Action::UpdateUsers
        | Action::ManageAllTokens
        | Action::ReadSsoMapping
        | Action::WriteSsoMapping => role == Role::Admin,
        Action::ReadAudit => matches!(role, Role::Admin | Role::Auditor),
        Action::ReadCatalog => true,
        Action::ReadCatalogSources | Action::ManageCatalog => role == Role::Admin,
        Action::ListSpaces | Action::CreateSpace | Action::ReachKube => true,
        Action::ListAllSessions => role == Role::Admin,
        Action::UseSession { id, own } => {
            if !own && role != Role::Admin {
                return Err(Error::not_found("session", id));
            }
            true
        }
        Action::AdministerSpaces | Action::ListAllSpaces => role == Role::Admin,
        Action::UseKube { name, role: member } => {
            // The same answer whether or not the space exists.
            if member.is_none() {
                return Err(Error::forbidden(format!(
                    "namespace {name} is not one of your spaces"
                )));
            }
            true
        }
        Action::ReadSpace { name, role: member }
        | Action::UseSpace { name, role: member }
        | Action::OwnSpace { name, role: member } => {
            if member.is_none() && role != Role::Admin {
                // A space you are not in is not yours to know about.
                return Err(Error::not_found("space", name));
            }
            role == Role::Admin
                || !matches!(action, Action::OwnSpace { .. })
                || member == Some(SpaceRole::Owner)
        }
    };
    match (allowed, action) {
        (true, _) => Ok(()),
        (false, Action::ReadAudit) => Err(Error::forbidden("this needs the admin or auditor role")),
        (false, Action::OwnSpace { .. }) => Err(Error::forbidden(
            "only the space's owner or an admin may do this",
        )),
        (false, _) => Err(Error::forbidden("this needs the admin role")),
    }
}

#[cfg(test)]
mod tests {
    use berth_core::Timestamp;
    use berth_core::identity::{RoleSource, Username};

    use super::*;

    fn actor(role: Role, scopes: &[Scope]) -> Actor {
        Actor {
            user: UserRecord {
                id: "u1".to_owned(),
                username: Username::try_from("u".to_owned()).expect("valid"),
                email: None,
                display_name: None,
                role,
                role_source: RoleSource::Manual,
                disabled: false,
                created_at: Timestamp(0),
                last_login_at: None,
                groups: vec![],
                groups_claim_missing: false,
                credentials_after: None,
                password_hash: None,
                sso: None,
            },
            via: Via::Token {
                id: "t".to_owned(),
                scopes: scopes.to_vec(),
            },
            origin: berth_audit::Origin::default(),
        }
    }

    #[test]
    fn the_policy_table() {
        use berth_core::ErrorCode::*;
        let rw = [Scope::Read, Scope::Write];
        let kube = [Scope::Kube];
        let member_of = |name| Action::UseKube {
            name,
            role: Some(SpaceRole::Member),
        };
        let outside = |name| Action::UseKube { name, role: None };
        let cases: Vec<(Role, &[Scope], Action<'_>, Option<berth_core::ErrorCode>)> = vec![
            // The Kubernetes API proxy: a kube token, into one's own spaces
            // only (admins too: they have no role elsewhere to act with);
            // a kube token reaches nothing else, nor another token the proxy.
            (Role::Member, &kube, Action::ReachKube, None),
            (Role::Member, &kube, member_of("s"), None),
            (Role::Member, &kube, outside("s"), Some(Forbidden)),
            (Role::Admin, &kube, outside("s"), Some(Forbidden)),
            (Role::Member, &rw, member_of("s"), Some(Forbidden)),
            (Role::Member, &rw, Action::ReachKube, Some(Forbidden)),
            (Role::Member, &kube, Action::ReadSelf, Some(Forbidden)),
            (
                Role::Member,
                &kube,
                Action::ManageOwnTokens,
                Some(Forbidden),
            ),
            (Role::Member, &rw, Action::ReadSelf, None),
            (Role::Member, &rw, Action::ManageOwnTokens, None),
            (
                Role::Member,
                &[Scope::Read],
                Action::ManageOwnTokens,
                Some(Forbidden),
            ),
            (Role::Member, &rw, Action::ReadUser { id: "u1" }, None),
            (
                Role::Member,
                &rw,
                Action::ReadUser { id: "u2" },
                Some(NotFound),
            ),
            (Role::Admin, &rw, Action::ReadUser { id: "u2" }, None),
            (Role::Member, &rw, Action::ListUsers, Some(Forbidden)),
            (Role::Admin, &rw, Action::ListUsers, None),
            (
                Role::Admin,
                &[Scope::Read],
                Action::UpdateUsers,
                Some(Forbidden),
            ),
            (Role::Auditor, &rw, Action::ReadAudit, None),
            (Role::Member, &rw, Action::ReadAudit, Some(Forbidden)),
            (Role::Auditor, &rw, Action::WriteSsoMapping, Some(Forbidden)),
            (Role::Member, &rw, Action::CreateSpace, None),
            (
                Role::Member,
                &[Scope::Read],
                Action::CreateSpace,
                Some(Forbidden),
            ),
            (Role::Member, &rw, Action::AdministerSpaces, Some(Forbidden)),
            (Role::Member, &rw, Action::ListAllSpaces, Some(Forbidden)),
            (Role::Admin, &rw, Action::ListAllSpaces, None),
            (
                Role::Member,
                &rw,
                Action::ReadSpace {
                    name: "s",
                    role: None,
                },
                Some(NotFound),
            ),
            (
                Role::Auditor,
                &rw,
                Action::UseSpace {
                    name: "s",
                    role: None,
                },
                Some(NotFound),
            ),
            (
                Role::Member,
                &rw,
                Action::UseSpace {
                    name: "s",
                    role: Some(SpaceRole::Member),
                },
                None,
            ),
            (
                Role::Member,
                &rw,
                Action::OwnSpace {
                    name: "s",
                    role: Some(SpaceRole::Member),
                },
                Some(Forbidden),
            ),
            (
                Role::Member,
                &rw,
                Action::OwnSpace {
                    name: "s",
                    role: Some(SpaceRole::Owner),
                },
                None,
            ),
            (
                Role::Admin,
                &rw,
                Action::OwnSpace {
                    name: "s",
                    role: None,
                },
                None,
            ),
        ];
        for (role, scopes, action, expected) in cases {
            let got = authorize(&actor(role, scopes), action)
                .err()
                .map(|e| e.code);
            assert_eq!(got, expected, "{role:?} {scopes:?} {action:?}");
        }
    }
}

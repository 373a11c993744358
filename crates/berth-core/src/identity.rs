//! Users, roles, tokens and sessions as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Error;
use crate::time::Timestamp;

/// A global role. Per-space roles (owner, member) are the spaces' own.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uses Berth: their own spaces, sessions and tokens.
    Member,
    /// A member who may also read the audit log.
    Auditor,
    /// Manages users, settings, the catalog and every space.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// What a token may do. A session may do everything its user may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read-only calls.
    Read,
    /// Calls that change state.
    Write,
    /// The Kubernetes API of one's own spaces, through berthd's proxy
    /// (`/kube/`), and nothing else.
    Kube,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Kube => "kube",
        }
    }
}

/// A user name: 1 to 63 characters of lowercase letters, digits, `-`, `_`
/// and `.`, starting with a letter or digit. SSO names are normalized into
/// this form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// The check below as a regular expression, for the API document; a
    /// test holds the two to the same answers.
    pub const PATTERN: &'static str = "^[a-z0-9][-a-z0-9_.]{0,62}$";

    pub fn is_valid(value: &str) -> bool {
        !value.is_empty()
            && value.len() <= 63
            && value.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            })
            && value.as_bytes()[0].is_ascii_alphanumeric()
    }
}

impl utoipa::PartialSchema for Username {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Self::PATTERN))
            .min_length(Some(1))
            .max_length(Some(63))
            .description(Some(
                "A user name: 1 to 63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit.",
            ))
            .into()
    }
}

impl ToSchema for Username {}

impl TryFrom<String> for Username {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if Self::is_valid(&value) {
            Ok(Username(value))
        } else {
            Err(Error::invalid(
                "username",
                format!(
                    "{value:?} must be 1 to 63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
                ),
            ))
        }
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl Username {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a user's role came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleSource {
    /// Made by the first-admin setup link.
    Setup,
    /// Set by an admin; SSO group mapping leaves it alone.
    Manual,
    /// Decided by SSO group mapping at each login.
    Mapping,
}

/// How a user signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Local,
    Sso,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: Username,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    pub role_source: RoleSource,
    pub kind: AccountKind,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
    /// Groups from the identity provider at the last login.
    pub groups: Vec<String>,
    /// Set when the last SSO login carried no groups claim: the role was
    /// kept, not recomputed.
    pub groups_claim_missing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Made by a user for scripts and CI.
    Personal,
    /// Made by `berth login`.
    Cli,
    /// Short-lived, for kubectl and helm: made by `berth kube-credential`.
    Kube,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub kind: TokenKind,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub user_id: String,
    pub username: Username,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// A new token: the secret is shown this once and never again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub token: TokenView,
    pub secret: String,
}

/// Who the caller is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    pub user: UserView,
    /// `session` (the console) or `token`.
    pub via: String,
    pub scopes: Vec<Scope>,
    /// For console sessions: send it as `x-csrf-token` on every change.
    pub csrf_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "a", "bob.smith", "x_1-2"] {
            assert!(Username::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in ["", "Alice", "-a", "a b", &"a".repeat(64), "é"] {
            assert!(Username::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_documented_pattern_is_the_check() {
        let pattern = regex::Regex::new(Username::PATTERN).expect("a regular expression");
        for value in [
            "alice",
            "a",
            "bob.smith",
            "x_1-2",
            "0",
            "a.",
            "a-",
            "",
            "Alice",
            "-a",
            ".a",
            "_a",
            "a b",
            "é",
            "aé",
            "a\n",
            &"a".repeat(63),
            &"a".repeat(64),
        ] {
            assert_eq!(
                pattern.is_match(value),
                Username::is_valid(value),
                "{value:?}"
            );
        }
    }
}

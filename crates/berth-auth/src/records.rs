//! What the store keeps for identity, and the tables it keeps it in.

use berth_core::Timestamp;
use berth_core::identity::{
    AccountKind, Role, RoleSource, Scope, TokenKind, TokenView, UserView, Username,
};
use berth_store::Table;
use serde::{Deserialize, Serialize};

pub const USERS: Table<UserRecord> = Table::new("auth.users");
/// Username -> user id: keeps names unique.
pub const USERNAMES: Table<String> = Table::new("auth.usernames");
/// `issuer subject` -> user id.
pub const SSO_SUBJECTS: Table<String> = Table::new("auth.sso_subjects");
/// Keyed hash of the session secret -> session.
pub const SESSIONS: Table<SessionRecord> = Table::new("auth.sessions");
/// Keyed hash of the token secret -> token.
pub const TOKENS: Table<TokenRecord> = Table::new("auth.tokens");
/// Token id -> keyed hash, to revoke by id.
pub const TOKEN_IDS: Table<String> = Table::new("auth.token_ids");
pub const SETUP: Table<SetupRecord> = Table::new("auth.setup");
pub const MAPPING: Table<MappingRules> = Table::new("auth.mapping");

pub const ALL: &[&str] = &[
    USERS.name,
    USERNAMES.name,
    SSO_SUBJECTS.name,
    SESSIONS.name,
    TOKENS.name,
    TOKEN_IDS.name,
    SETUP.name,
    MAPPING.name,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsoIdentity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub username: Username,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    pub role_source: RoleSource,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub groups_claim_missing: bool,
    /// Sessions and tokens made at or before this time stop working: set
    /// when the user is disabled, so a credential made while the disable was
    /// in flight does not come back on re-enable.
    #[serde(default)]
    pub credentials_after: Option<Timestamp>,
    /// Argon2id PHC string, for local accounts.
    pub password_hash: Option<String>,
    pub sso: Option<SsoIdentity>,
}

impl UserRecord {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            role_source: self.role_source,
            kind: if self.sso.is_some() {
                AccountKind::Sso
            } else {
                AccountKind::Local
            },
            disabled: self.disabled,
            created_at: self.created_at,
            last_login_at: self.last_login_at,
            groups: self.groups.clone(),
            groups_claim_missing: self.groups_claim_missing,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub csrf_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub kind: TokenKind,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl TokenRecord {
    pub fn view(&self, username: &Username) -> TokenView {
        TokenView {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            prefix: self.prefix.clone(),
            scopes: self.scopes.clone(),
            user_id: self.user_id.clone(),
            username: username.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRecord {
    pub token_hash: String,
    pub expires_at: Timestamp,
}

/// SSO groups to global roles. The highest role any of a user's groups
/// maps to wins; a user in none of them is a member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MappingRules {
    pub admin_groups: Vec<String>,
    pub auditor_groups: Vec<String>,
}

impl MappingRules {
    pub fn role_for(&self, groups: &[String]) -> Role {
        let any = |list: &[String]| groups.iter().any(|g| list.contains(g));
        if any(&self.admin_groups) {
            Role::Admin
        } else if any(&self.auditor_groups) {
            Role::Auditor
        } else {
            Role::Member
        }
    }
}

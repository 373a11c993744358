//! `berth user list|disable|enable|role` (admins).

use berth_core::identity::{Role, UserView};
use serde_json::json;

use crate::client::Client;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Every user.
    #[command(alias = "ls")]
    List,
    /// Make a local account; the password is read from stdin.
    Create {
        username: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
        #[arg(long)]
        email: Option<String>,
    },
    /// Disable a user: their sessions and tokens stop working at once.
    Disable { user: String },
    /// Enable a disabled user.
    Enable { user: String },
    /// Set a user's global role; SSO group mapping then leaves it alone.
    Role {
        user: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Auditor,
    Member,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Member => Role::Member,
        }
    }
}

/// A user by user name or id.
async fn find(client: &Client, who: &str) -> Result<UserView, Failure> {
    let users: Vec<UserView> = client.get("/api/v1/users").await?;
    users
        .into_iter()
        .find(|u| u.username.as_str() == who || u.id == who)
        .ok_or_else(|| {
            Failure::new(
                format!("no user named {who}"),
                "see the users with `berth user list`",
            )
        })
}

pub async fn run(client: &Client, command: UserCommand, format: Format) -> Result<(), Failure> {
    let (user, change) = match command {
        UserCommand::List => {
            let users: Vec<UserView> = client.get("/api/v1/users").await?;
            return match format {
                Format::Table => output::table(
                    &[
                        "USER NAME",
                        "KIND",
                        "ROLE",
                        "STATUS",
                        "EMAIL",
                        "LAST SIGN-IN",
                    ],
                    users
                        .iter()
                        .map(|u| {
                            vec![
                                u.username.to_string(),
                                format!("{:?}", u.kind).to_lowercase(),
                                format!(
                                    "{}{}",
                                    u.role.as_str(),
                                    if u.groups_claim_missing {
                                        " (no groups claim)"
                                    } else {
                                        ""
                                    }
                                ),
                                if u.disabled { "disabled" } else { "active" }.to_owned(),
                                u.email.clone().unwrap_or_default(),
                                u.last_login_at
                                    .map(|t| t.to_string())
                                    .unwrap_or_else(|| "-".to_owned()),
                            ]
                        })
                        .collect(),
                ),
                _ => output::structured(format, &users),
            };
        }
        UserCommand::Create {
            username,
            role,
            email,
        } => {
            eprint!("Password for {username} (at least 12 characters): ");
            let password = rpassword::read_password()
                .or_else(|_| {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map(|_| line.trim().to_owned())
                })
                .map_err(|e| {
                    Failure::new(
                        format!("cannot read the password: {e}"),
                        "pipe it into stdin",
                    )
                })?;
            let created: UserView = client
                .post("/api/v1/users", &json!({"username": username, "password": password, "email": email, "role": Role::from(role)}))
                .await?;
            eprintln!("{} made ({}).", created.username, created.role.as_str());
            return Ok(());
        }
        UserCommand::Disable { user } => (user, json!({"disabled": true})),
        UserCommand::Enable { user } => (user, json!({"disabled": false})),
        UserCommand::Role { user, role } => (user, json!({"role": Role::from(role)})),
    };
    let target = find(client, &user).await?;
    let updated: UserView = client
        .patch(&format!("/api/v1/users/{}", target.id), &change)
        .await?;
    eprintln!(
        "{}: {} ({}).",
        updated.username,
        updated.role.as_str(),
        if updated.disabled {
            "disabled; sessions and tokens revoked"
        } else {
            "active"
        }
    );
    Ok(())
}

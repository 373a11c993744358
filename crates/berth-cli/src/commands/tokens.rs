//! `berth token create|list|revoke`.

use berth_core::identity::{Scope, TokenCreated, TokenView};
use serde_json::json;

use crate::client::Client;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a personal access token; its secret is printed once.
    Create {
        name: String,
        /// Days until it expires.
        #[arg(long)]
        expires_in_days: Option<u64>,
        /// read or write; repeat for both (the default).
        #[arg(long = "scope", value_enum)]
        scopes: Vec<ScopeArg>,
    },
    /// Your tokens; with --all (admins), everyone's.
    #[command(alias = "ls")]
    List {
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token by its id.
    Revoke { id: String },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ScopeArg {
    Read,
    Write,
    /// The Kubernetes API of your spaces through Berth (kubectl in CI).
    Kube,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::Read => Scope::Read,
            ScopeArg::Write => Scope::Write,
            ScopeArg::Kube => Scope::Kube,
        }
    }
}

fn scopes(list: &[Scope]) -> String {
    list.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn run(client: &Client, command: TokenCommand, format: Format) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            name,
            expires_in_days,
            scopes: wanted,
        } => {
            let wanted: Vec<Scope> = wanted.into_iter().map(Scope::from).collect();
            let created: TokenCreated = client
                .post(
                    "/api/v1/tokens",
                    &json!({"name": name, "expires_in_days": expires_in_days, "scopes": wanted}),
                )
                .await?;
            match format {
                Format::Table => {
                    output::write_stdout(format!("{}\n", created.secret).as_bytes())?;
                    eprintln!(
                        "Token {} ({}) made, expires {}. Copy the secret above now: it is not shown again.",
                        created.token.name,
                        created.token.id,
                        created
                            .token
                            .expires_at
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "never".to_owned())
                    );
                    Ok(())
                }
                _ => output::structured(format, &created),
            }
        }
        TokenCommand::List { all } => {
            let tokens: Vec<TokenView> = client.get(&format!("/api/v1/tokens?all={all}")).await?;
            match format {
                Format::Table => output::table(
                    &[
                        "ID",
                        "NAME",
                        "USER",
                        "KIND",
                        "PREFIX",
                        "SCOPES",
                        "EXPIRES",
                        "LAST USED",
                    ],
                    tokens
                        .iter()
                        .map(|t| {
                            vec![
                                t.id.clone(),
                                t.name.clone(),
                                t.username.to_string(),
                                format!("{:?}", t.kind).to_lowercase(),
                                t.prefix.clone(),
                                scopes(&t.scopes),
                                t.expires_at
                                    .map(|e| e.to_string())
                                    .unwrap_or_else(|| "never".to_owned()),
                                t.last_used_at
                                    .map(|e| e.to_string())
                                    .unwrap_or_else(|| "-".to_owned()),
                            ]
                        })
                        .collect(),
                ),
                _ => output::structured(format, &tokens),
            }
        }
        TokenCommand::Revoke { id } => {
            let revoked: TokenView = client.delete(&format!("/api/v1/tokens/{id}")).await?;
            // kubectl's cached token, if it was this one, is made again.
            crate::commands::kube::forget_revoked(&revoked.id);
            eprintln!("Token {} ({}) revoked.", revoked.name, revoked.id);
            Ok(())
        }
    }
}

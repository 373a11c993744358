//! `berth audit list|export|verify|public-key` (admins and auditors).

use std::io::Write;

use berth_core::audit::{AuditEvent, Page, Verification};

use crate::client::Client;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Events, newest first.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        filter: Filter,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Every matching event as JSON lines on stdout, newest first.
    Export {
        #[command(flatten)]
        filter: Filter,
    },
    /// Check the hash chain and the signed checkpoints.
    Verify,
    /// The public key that signs checkpoints; keep a copy outside the cluster.
    PublicKey,
}

#[derive(Debug, Default, clap::Args)]
pub struct Filter {
    /// Events at or after this time (RFC 3339, such as 2026-11-27T10:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Events at or before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// A user name or component.
    #[arg(long)]
    actor: Option<String>,
    /// An action or a prefix, such as `token.`.
    #[arg(long)]
    action: Option<String>,
    /// success, failure or denied.
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    space: Option<String>,
}

fn nanos(flag: &str, value: &str) -> Result<u64, Failure> {
    humantime::parse_rfc3339_weak(value)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .ok_or_else(|| {
            Failure::new(
                format!("--{flag} {value:?} is not a time"),
                "write it as RFC 3339, such as 2026-11-27T10:00:00Z",
            )
        })
}

impl Filter {
    fn query(&self) -> Result<Vec<(String, String)>, Failure> {
        let mut q = Vec::new();
        if let Some(v) = &self.since {
            q.push(("since".to_owned(), nanos("since", v)?.to_string()));
        }
        if let Some(v) = &self.until {
            q.push(("until".to_owned(), nanos("until", v)?.to_string()));
        }
        for (key, value) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("space", &self.space),
        ] {
            if let Some(v) = value {
                q.push((key.to_owned(), v.clone()));
            }
        }
        Ok(q)
    }
}

fn encode(query: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish()
}

fn row(e: &AuditEvent) -> Vec<String> {
    let resource = match (&e.resource.name, &e.resource.id) {
        (Some(name), _) => format!("{}/{name}", e.resource.kind),
        (None, Some(id)) => format!("{}/{id}", e.resource.kind),
        _ => e.resource.kind.clone(),
    };
    vec![
        e.seq.to_string(),
        e.time(),
        e.actor.name.clone(),
        e.action.clone(),
        resource,
        e.outcome.as_str().to_owned(),
        e.reason.clone().unwrap_or_default(),
    ]
}

pub async fn run(client: &Client, command: AuditCommand, format: Format) -> Result<(), Failure> {
    match command {
        AuditCommand::List { filter, limit } => {
            let mut query = filter.query()?;
            query.push(("limit".to_owned(), limit.to_string()));
            let page: Page = client
                .get(&format!("/api/v1/audit/events?{}", encode(&query)))
                .await?;
            match format {
                Format::Table => output::table(
                    &[
                        "SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "OUTCOME", "REASON",
                    ],
                    page.events.iter().map(row).collect(),
                ),
                _ => output::structured(format, &page.events),
            }
        }
        AuditCommand::Export { filter } => {
            let mut query = filter.query()?;
            query.push(("limit".to_owned(), "1000".to_owned()));
            let mut stdout = std::io::stdout().lock();
            let mut before: Option<u64> = None;
            let mut count = 0;
            loop {
                let mut page_query = query.clone();
                if let Some(b) = before {
                    page_query.push(("before".to_owned(), b.to_string()));
                }
                let page: Page = client
                    .get(&format!("/api/v1/audit/events?{}", encode(&page_query)))
                    .await?;
                for event in &page.events {
                    let line = serde_json::to_string(event)
                        .map_err(|e| Failure::new(e.to_string(), "report this as a bug"))?;
                    if writeln!(stdout, "{line}").is_err() {
                        return Ok(());
                    }
                    count += 1;
                }
                match page.next {
                    Some(next) => before = Some(next),
                    None => break,
                }
            }
            eprintln!("{count} events exported.");
            Ok(())
        }
        AuditCommand::Verify => {
            let result: Verification = client.get("/api/v1/audit/verify").await?;
            if format != Format::Table {
                return output::structured(format, &result);
            }
            if result.ok {
                output::write_stdout(
                    format!(
                        "ok: {} events ({}..{}), {} signed checkpoints verify\n",
                        result.events,
                        result.first_seq.unwrap_or(0),
                        result.last_seq.unwrap_or(0),
                        result.checkpoints
                    )
                    .as_bytes(),
                )
            } else {
                Err(Failure::new(
                    format!(
                        "the audit log is damaged at event {}: {:?}: {}",
                        result.first_broken_seq.unwrap_or(0),
                        result.problem,
                        result.detail.unwrap_or_default()
                    ),
                    "keep the data directory as it is and compare with a backup",
                ))
            }
        }
        AuditCommand::PublicKey => {
            let key: serde_json::Value = client.get("/api/v1/audit/public-key").await?;
            output::write_stdout(
                format!("{}\n", key["public_key"].as_str().unwrap_or("")).as_bytes(),
            )
        }
    }
}

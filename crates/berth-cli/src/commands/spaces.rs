//! `berth space create|list|get|use|delete|share|unshare|sleep|wake`.

use berth_core::space::{Condition, SpaceObject, SpaceView};
use serde_json::json;

use crate::client::Client;
use crate::context::Contexts;
use crate::output::{self, Failure, Format};

#[derive(Debug, clap::Subcommand)]
pub enum SpaceCommand {
    /// Make a space you own.
    Create {
        name: String,
        /// Never put it to sleep or delete it for idleness.
        #[arg(long)]
        persistent: bool,
        /// A label for its namespace, as KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// Use it from now on (`berth space use`).
        #[arg(long = "use")]
        make_current: bool,
    },
    /// The spaces you are a member of (admins: every space).
    #[command(alias = "ls")]
    List,
    /// A space's status, members, conditions and objects.
    Get {
        /// The current space when left out.
        name: Option<String>,
    },
    /// Make a space the current one for this context.
    Use {
        name: String,
        /// Switch kubectl's current context to the space too (after
        /// `berth kubeconfig`).
        #[arg(long)]
        kube: bool,
    },
    /// Delete a space and everything in it.
    #[command(alias = "rm")]
    Delete {
        name: String,
        /// Do not ask; required when stdin is not a terminal.
        #[arg(long, short)]
        yes: bool,
    },
    /// Share a space with a user (by user name or email), as a member.
    Share {
        user: String,
        #[arg(long)]
        space: Option<String>,
    },
    /// Remove a member from a space (yourself, to leave it).
    Unshare {
        user: String,
        #[arg(long)]
        space: Option<String>,
    },
    /// Put a space to sleep now: its workloads scale to zero.
    Sleep { name: Option<String> },
    /// Wake a sleeping space: its workloads come back as they were.
    Wake { name: Option<String> },
}

/// The space named, else `BERTH_SPACE`, else the context's current one.
pub(crate) fn space_or_current(
    name: Option<String>,
    context: Option<&str>,
) -> Result<String, Failure> {
    if let Some(name) = name {
        return Ok(name);
    }
    if let Ok(name) = std::env::var("BERTH_SPACE")
        && !name.is_empty()
    {
        return Ok(name);
    }
    let contexts = Contexts::load()?;
    contexts
        .select(context)
        .ok()
        .and_then(|c| c.space.clone())
        .ok_or_else(|| {
            Failure::new(
                "no space named and no current space",
                "name one, or pick one with `berth space use NAME` (see `berth space list`)",
            )
        })
}

/// `username`'s personal space, if the server made one (and answers).
pub(crate) async fn personal(client: &Client, username: &str) -> Option<String> {
    let spaces: Vec<SpaceView> = client.get("/api/v1/spaces").await.ok()?;
    spaces
        .into_iter()
        .find(|s| s.personal && s.owner.username == username)
        .map(|s| s.name.to_string())
}

fn remember(context: Option<&str>, name: &str) -> Result<(), Failure> {
    let mut contexts = Contexts::load()?;
    let selected = contexts.selected_name(context)?;
    contexts.get_mut(&selected)?.space = Some(name.to_owned());
    contexts.save()
}

fn phase(view: &SpaceView) -> String {
    format!("{:?}", view.status.phase)
}

/// The Awake/Asleep line: why it is so, and, while a sleep or a wake is
/// not complete, how far it got (the head of the `Asleep` condition's
/// message: "waking: 1 of 2 workloads restored, CronJobs pending"; the
/// whole message is under Conditions).
fn wakefulness(view: &SpaceView) -> String {
    wakefulness_line(&view.wakefulness.reason, &view.status.conditions)
}

fn wakefulness_line(reason: &str, conditions: &[Condition]) -> String {
    let on_the_way = conditions
        .iter()
        .find(|c| c.kind == "Asleep" && matches!(c.reason.as_str(), "Waking" | "GoingToSleep"))
        .map(|c| {
            c.message
                .split_once("; ")
                .map_or(c.message.as_str(), |(head, _)| head)
        });
    match on_the_way {
        Some(progress) => format!("{reason} ({progress})"),
        None => reason.to_owned(),
    }
}

fn quota(view: &SpaceView) -> String {
    let q = &view.status.quota;
    ["pods", "requests.cpu", "requests.memory"]
        .iter()
        .filter_map(|key| {
            q.hard.get(*key).map(|hard| {
                let used = q.used.get(*key).map(String::as_str).unwrap_or("0");
                format!("{key} {used}/{hard}")
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(view: &SpaceView, objects: &[SpaceObject]) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    line("Space:", view.name.to_string());
    line("Phase:", phase(view));
    line("Owner:", view.owner.username.clone());
    line(
        "Members:",
        view.members
            .iter()
            .map(|m| format!("{} ({:?})", m.username, m.role).to_lowercase())
            .collect::<Vec<_>>()
            .join(", "),
    );
    line("Persistent:", view.persistent.to_string());
    if !view.labels.is_empty() {
        line(
            "Labels:",
            view.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    line(
        if view.wakefulness.asleep {
            "Asleep:"
        } else {
            "Awake:"
        },
        wakefulness(view),
    );
    line(
        "Activity:",
        format!("{} at {}", view.last_activity_reason, view.last_activity),
    );
    if let Some(at) = view.sleeps_at {
        line("Sleeps at:", at.to_string());
    }
    if let Some(at) = view.deleted_at {
        line("Deleted at:", at.to_string());
    }
    line(
        "Quota:",
        format!("{} ({})", view.quota_profile, quota(view)),
    );
    out.push_str("Conditions:\n");
    for c in &view.status.conditions {
        out.push_str(&format!(
            "  {:<8}{:<6}{:<20}{}\n",
            c.kind, c.status, c.reason, c.message
        ));
    }
    if !objects.is_empty() {
        out.push_str("Objects:\n");
        for o in objects {
            out.push_str(&format!(
                "  {:<16}{:<20}{}\n",
                o.kind,
                o.name,
                if o.in_sync {
                    "in sync"
                } else {
                    "not yet in sync"
                }
            ));
        }
    }
    out
}

fn show(format: Format, view: &SpaceView) -> Result<(), Failure> {
    match format {
        Format::Table => output::write_stdout(describe(view, &[]).as_bytes()),
        _ => output::structured(format, view),
    }
}

pub async fn run(
    client: &Client,
    command: SpaceCommand,
    format: Format,
    context: Option<&str>,
) -> Result<(), Failure> {
    match command {
        SpaceCommand::Create {
            name,
            persistent,
            labels,
            make_current,
        } => {
            let mut map = serde_json::Map::new();
            for label in &labels {
                let (k, v) = label.split_once('=').ok_or_else(|| {
                    Failure::new(
                        format!("--label {label} is not KEY=VALUE"),
                        "write it as --label team=payments",
                    )
                })?;
                map.insert(k.to_owned(), json!(v));
            }
            let view: SpaceView = client
                .post(
                    "/api/v1/spaces",
                    &json!({"name": name, "persistent": persistent, "labels": map}),
                )
                .await?;
            if make_current {
                remember(context, view.name.as_str())?;
            }
            eprintln!(
                "Space {} made{}; it is ready once `berth space get {}` says Active.",
                view.name,
                if make_current { " and in use" } else { "" },
                view.name
            );
            Ok(())
        }
        SpaceCommand::List => {
            let spaces: Vec<SpaceView> = client.get("/api/v1/spaces").await?;
            let current = space_or_current(None, context).ok();
            match format {
                Format::Table => output::table(
                    &[
                        "",
                        "NAME",
                        "PHASE",
                        "OWNER",
                        "MEMBERS",
                        "QUOTA",
                        "AWAKE/ASLEEP",
                    ],
                    spaces
                        .iter()
                        .map(|s| {
                            vec![
                                if current.as_deref() == Some(s.name.as_str()) {
                                    "*".to_owned()
                                } else {
                                    String::new()
                                },
                                s.name.to_string(),
                                phase(s),
                                s.owner.username.clone(),
                                s.members.len().to_string(),
                                quota(s),
                                wakefulness(s),
                            ]
                        })
                        .collect(),
                ),
                _ => output::structured(format, &spaces),
            }
        }
        SpaceCommand::Get { name } => {
            let name = space_or_current(name, context)?;
            let view: SpaceView = client.get(&format!("/api/v1/spaces/{name}")).await?;
            match format {
                Format::Table => {
                    let objects: Vec<SpaceObject> = client
                        .get(&format!("/api/v1/spaces/{name}/objects"))
                        .await
                        .unwrap_or_default();
                    output::write_stdout(describe(&view, &objects).as_bytes())
                }
                _ => output::structured(format, &view),
            }
        }
        SpaceCommand::Use { name, kube } => {
            // Only a space you can see becomes current.
            let view: SpaceView = client.get(&format!("/api/v1/spaces/{name}")).await?;
            remember(context, view.name.as_str())?;
            eprintln!("Using space {}.", view.name);
            if kube {
                crate::commands::kube::use_space(context, view.name.as_str())?;
            }
            Ok(())
        }
        SpaceCommand::Delete { name, yes } => {
            if !yes {
                use std::io::IsTerminal;
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::new(
                        format!("deleting {name} needs confirmation"),
                        format!("run `berth space delete {name} --yes`"),
                    ));
                }
                eprint!("Delete space {name} and everything in it? Type its name to confirm: ");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map_err(|e| {
                    Failure::new(
                        format!("cannot read the answer: {e}"),
                        "try again with --yes",
                    )
                })?;
                if line.trim() != name {
                    return Err(Failure::new(
                        "not confirmed; nothing was deleted",
                        format!("type {name} exactly, or pass --yes"),
                    ));
                }
            }
            let view: SpaceView = client.delete(&format!("/api/v1/spaces/{name}")).await?;
            eprintln!(
                "Space {} is being deleted; it goes once its namespace has.",
                view.name
            );
            Ok(())
        }
        SpaceCommand::Share { user, space } => {
            let name = space_or_current(space, context)?;
            let view: SpaceView = client
                .post(
                    &format!("/api/v1/spaces/{name}/members"),
                    &json!({"user": user}),
                )
                .await?;
            eprintln!("{user} is now a member of {}.", view.name);
            Ok(())
        }
        SpaceCommand::Unshare { user, space } => {
            let name = space_or_current(space, context)?;
            let _: SpaceView = client
                .delete(&format!("/api/v1/spaces/{name}/members/{user}"))
                .await?;
            eprintln!("{user} is no longer a member of {name}.");
            Ok(())
        }
        SpaceCommand::Sleep { name } => {
            let name = space_or_current(name, context)?;
            let view: SpaceView = client
                .post(&format!("/api/v1/spaces/{name}/sleep"), &json!({}))
                .await?;
            eprintln!(
                "Space {} is going to sleep: its workloads scale to zero.",
                view.name
            );
            show(format, &view)
        }
        SpaceCommand::Wake { name } => {
            let name = space_or_current(name, context)?;
            let view: SpaceView = client
                .post(&format!("/api/v1/spaces/{name}/wake"), &json!({}))
                .await?;
            eprintln!(
                "Space {} is waking: its workloads come back as they were.",
                view.name
            );
            show(format, &view)
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_core::Timestamp;
    use berth_core::space::Condition;

    use super::wakefulness_line;

    fn asleep(reason: &str, message: &str) -> Condition {
        Condition {
            kind: "Asleep".to_owned(),
            status: false,
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition: Timestamp(0),
        }
    }

    #[test]
    fn the_awake_line_says_how_far_a_wake_got() {
        for (conditions, expected) in [
            (vec![], "woken by admin at 10:05"),
            (
                vec![asleep("Running", "woken by admin at 10:05")],
                "woken by admin at 10:05",
            ),
            (
                vec![asleep(
                    "Waking",
                    "waking: 1 of 2 workloads restored, CronJobs pending; attempt 3 failed, retrying with backoff: listing CronJobs failed: the Kubernetes API answered 500 InternalError",
                )],
                "woken by admin at 10:05 (waking: 1 of 2 workloads restored, CronJobs pending)",
            ),
        ] {
            assert_eq!(
                wakefulness_line("woken by admin at 10:05", &conditions),
                expected
            );
        }
    }
}

//! `berth ssh` and `berth ssh-config`: SSH into a dev container through the
//! relay, for `ssh`, `scp`, `sftp`, `rsync` and IDEs (VS Code Remote-SSH,
//! JetBrains Gateway). `berth ssh --stdio NAME` carries one SSH connection on
//! its stdin and stdout, as OpenSSH's `ProxyCommand`; the agent's SSH server
//! answers at the other end. `berth ssh NAME` runs `ssh` so, and
//! `berth ssh-config` writes one `Host *.berth` entry that does it for every
//! dev container.
//!
//! A NAME is a dev session id (`s-1a2b3c`), a dev target of the space
//! (`api`), or either as `berth ssh-config`'s hosts write them:
//! `s-1a2b3c.berth`, `api.SPACE.berth`.

use std::path::{Path, PathBuf};

use berth_core::dev::DevView;
use berth_core::session::SessionView;
use berth_proto::SshOpen;

use crate::client::Client;
use crate::commands::sessions::attach;
use crate::commands::spaces::space_or_current;
use crate::output::Failure;

#[derive(Debug, clap::Args)]
pub struct SshArgs {
    /// A dev session id, a dev target of the space, or TARGET.SPACE.berth.
    name: String,
    /// The space of a dev target; the current one when left out.
    #[arg(long)]
    space: Option<String>,
    /// Carry one SSH connection on stdin and stdout (for ssh's ProxyCommand).
    #[arg(long)]
    stdio: bool,
    /// A command to run instead of a login shell.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct SshConfigArgs {
    /// The file to write the entry into [default: ~/.ssh/config].
    #[arg(long)]
    file: Option<PathBuf>,
    /// Print the entry instead of writing it.
    #[arg(long)]
    print: bool,
}

/// The suffix of the hosts `berth ssh-config` serves.
const SUFFIX: &str = ".berth";
const BEGIN: &str =
    "# --- Berth: begin (written by `berth ssh-config`; edits here are replaced) ---";
const END: &str = "# --- Berth: end ---";

/// The options every connection through Berth takes. The host key is the
/// dev session's own, made when its agent starts, so it changes with each
/// session: the server is known by the relay that carries the connection
/// (HTTPS to berthd, and a session only its owner can attach to), not by a
/// remembered key.
const OPTIONS: [(&str, &str); 3] = [
    ("StrictHostKeyChecking", "no"),
    ("UserKnownHostsFile", "/dev/null"),
    ("LogLevel", "ERROR"),
];

/// Quotes a word for the shell that runs ssh's ProxyCommand.
fn quoted(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `berth [--context C] ssh --stdio`, with this binary's path.
fn proxy_command(context: Option<&str>) -> Result<String, Failure> {
    let exe = std::env::current_exe().map_err(|e| {
        Failure::new(
            format!("cannot find this binary's path: {e}"),
            "run berth by its full path",
        )
    })?;
    let mut words = vec![quoted(&exe.to_string_lossy())];
    if let Some(context) = context {
        words.push("--context".to_owned());
        words.push(quoted(context));
    }
    words.extend(["ssh".to_owned(), "--stdio".to_owned()]);
    Ok(words.join(" "))
}

/// The dev session a NAME leads to.
async fn session_of(
    client: &Client,
    name: &str,
    space: Option<String>,
    context: Option<&str>,
) -> Result<String, Failure> {
    let host = name.strip_suffix(SUFFIX).unwrap_or(name);
    let (first, named_space) = match host.split_once('.') {
        Some((first, space)) => (first, Some(space.to_owned())),
        None => (host, None),
    };
    if named_space.is_none() {
        let sessions: Vec<SessionView> = client.get("/api/v1/sessions").await?;
        if let Some(session) = sessions.iter().find(|s| s.id == first) {
            return Ok(session.id.clone());
        }
    }
    let space = space_or_current(space.or(named_space), context)?;
    let devs: Vec<DevView> = client.get(&format!("/api/v1/spaces/{space}/dev")).await?;
    devs.into_iter()
        .find(|d| d.target == first)
        .map(|d| d.session.id)
        .ok_or_else(|| {
            Failure::new(
                format!("no dev session {first}, and no dev target {first} in space {space}"),
                "start it with `berth up`, or see `berth session list` and `berth up`'s target names",
            )
        })
}

/// `berth ssh --stdio NAME`: one SSH connection between stdin/stdout and
/// the agent's SSH server. Returns once either side closes.
async fn stdio(client: &Client, session: &str) -> Result<(), Failure> {
    let relay = attach(client, session).await?;
    let stream = relay.mux.open_with(&SshOpen {}).await.map_err(|e| {
        Failure::new(
            format!("cannot open an SSH stream: {e}"),
            "check the session with `berth session list`",
        )
    })?;
    if let Some(reason) = berth_agent::pump(tokio::io::stdin(), tokio::io::stdout(), stream).await {
        return Err(Failure::new(
            format!("the agent refused SSH: {reason}"),
            "the dev container's agent may be older than this berth; run `berth up` again",
        ));
    }
    Ok(())
}

/// `berth ssh [--stdio] NAME [-- COMMAND...]`.
pub async fn ssh(client: &Client, args: SshArgs, context: Option<&str>) -> Result<(), Failure> {
    let session = session_of(client, &args.name, args.space.clone(), context).await?;
    if args.stdio {
        // Exits here: a read of stdin still waiting would hold the
        // runtime's end.
        let carried = stdio(client, &session).await;
        if let Err(failure) = &carried {
            crate::output::report(failure);
        }
        std::process::exit(i32::from(carried.is_err()));
    }
    let mut proxy = proxy_command(context)?;
    proxy.push(' ');
    proxy.push_str(&quoted(&session));
    let mut ssh = std::process::Command::new("ssh");
    ssh.arg("-o").arg(format!("ProxyCommand={proxy}"));
    for (key, value) in OPTIONS {
        ssh.arg("-o").arg(format!("{key}={value}"));
    }
    ssh.arg(format!("{session}{SUFFIX}"));
    if !args.command.is_empty() {
        ssh.arg("--").args(&args.command);
    }
    use std::os::unix::process::CommandExt;
    let error = ssh.exec();
    Err(Failure::new(
        format!("cannot run ssh: {error}"),
        "install an OpenSSH client (`ssh`), or use `berth shell` and `berth exec`",
    ))
}

/// The entry `berth ssh-config` writes, between its markers.
fn entry(context: Option<&str>) -> Result<String, Failure> {
    let mut lines = vec![
        BEGIN.to_owned(),
        format!("Host *{SUFFIX}"),
        format!("  ProxyCommand {} %h", proxy_command(context)?),
    ];
    for (key, value) in OPTIONS {
        lines.push(format!("  {key} {value}"));
    }
    lines.push(END.to_owned());
    Ok(lines.join("\n") + "\n")
}

/// `text` with Berth's entry replaced by `entry`, or `entry` added at the
/// end. Everything else is kept as it was.
fn with_entry(text: &str, entry: &str) -> String {
    match (text.find(BEGIN), text.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let after = text[end + END.len()..]
                .strip_prefix('\n')
                .unwrap_or(&text[end + END.len()..]);
            format!("{}{entry}{after}", &text[..begin])
        }
        _ if text.is_empty() => entry.to_owned(),
        _ if text.ends_with('\n') => format!("{text}\n{entry}"),
        _ => format!("{text}\n\n{entry}"),
    }
}

/// `~/.ssh/config`, which `ssh` reads.
fn default_config() -> Result<PathBuf, Failure> {
    let home = etcetera::home_dir().map_err(|e| {
        Failure::new(
            format!("cannot find your home folder: {e}"),
            "set HOME, or name the file with --file FILE",
        )
    })?;
    Ok(home.join(".ssh").join("config"))
}

/// `berth ssh-config`: writes (or replaces) the `Host *.berth` entry.
pub fn ssh_config(args: SshConfigArgs, context: Option<&str>) -> Result<(), Failure> {
    let entry = entry(context)?;
    if args.print {
        return crate::output::write_stdout(entry.as_bytes());
    }
    let file = match args.file {
        Some(file) => file,
        None => default_config()?,
    };
    write_config(&file, &entry)?;
    eprintln!(
        "Wrote Host *{SUFFIX} into {}: `ssh TARGET.SPACE{SUFFIX}` (a dev target of `berth up`) or `ssh SESSION{SUFFIX}` reaches the dev container; so do scp, sftp, rsync and IDEs' remote SSH.",
        file.display()
    );
    Ok(())
}

/// Puts `entry` into the ssh config at `file`, made readable by its owner
/// only (and its folder, when it is made here, as `~/.ssh` is).
fn write_config(file: &Path, entry: &str) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    const TODO: &str = "check the file's permissions, or pass --print and add the entry yourself";
    let failed = |what: &str, e: std::io::Error| {
        Failure::new(format!("cannot {what} {}: {e}", file.display()), TODO)
    };
    if let Some(folder) = file.parent()
        && !folder.as_os_str().is_empty()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|e| failed("make the folder of", e))?;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(failed("read", e)),
    };
    let updated = with_entry(&text, entry);
    if updated == text {
        return Ok(());
    }
    crate::context::write_private(file, updated.as_bytes(), TODO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_is_added_once_and_replaced_in_place() {
        let entry = "BEGIN\n".replace("BEGIN", BEGIN) + "Host *.berth\n" + END + "\n";
        assert_eq!(with_entry("", &entry), entry);
        let mine = "Host work\n  User me\n";
        let added = with_entry(mine, &entry);
        assert_eq!(added, format!("{mine}\n{entry}"));
        assert_eq!(with_entry(&added, &entry), added);
        let newer = entry.replace("*.berth", "*.berth other");
        let around = format!("{added}Host after\n");
        assert_eq!(
            with_entry(&around, &newer),
            format!("{mine}\n{newer}Host after\n")
        );
    }

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(quoted("/usr/bin/berth"), "/usr/bin/berth");
        assert_eq!(quoted("/my tools/berth"), "'/my tools/berth'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}

//! How the CLI speaks: listings as a table, JSON or YAML on stdout; failures
//! on stderr as one line saying what went wrong and one saying what to do.

use std::io::IsTerminal;

use berth_core::BuildInfo;
use comfy_table::{Table, presets};
use serde::Serialize;

use crate::context::Contexts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// A failure the user can act on.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub todo: String,
}

impl Failure {
    pub fn new(what: impl Into<String>, todo: impl Into<String>) -> Failure {
        Failure {
            what: what.into(),
            todo: todo.into(),
        }
    }
}

/// Writes to stdout; a reader that went away (`berth ... | head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::new(
            format!("cannot write the output: {err}"),
            "check where stdout goes",
        )),
        _ => Ok(()),
    }
}

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

pub fn report(failure: &Failure) {
    use crossterm::style::Stylize;
    let (error, to_fix) = if color() {
        (
            "error:".red().bold().to_string(),
            "  to fix:".bold().to_string(),
        )
    } else {
        ("error:".to_owned(), "  to fix:".to_owned())
    };
    eprintln!("{error} {}", failure.what);
    eprintln!("{to_fix} {}", failure.todo);
}

pub fn structured<T: Serialize>(format: Format, value: &T) -> Result<(), Failure> {
    let encoded = match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml_ng::to_string(value).map_err(|e| e.to_string()),
        Format::Table => unreachable!("tables are printed by their own command"),
    }
    .map_err(|err| {
        Failure::new(
            format!("cannot encode the output: {err}"),
            "report this as a bug",
        )
    })?;
    write_stdout(encoded.as_bytes())
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Result<(), Failure> {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    write_stdout(format!("{}\n", table.trim_fmt()).as_bytes())
}

#[derive(Serialize)]
struct VersionReport<'a> {
    client: &'a BuildInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a BuildInfo>,
}

/// Prints the client version and, when a server is configured, its version;
/// a server that cannot be asked is a failure.
pub fn version(
    format: Format,
    client: &BuildInfo,
    server: Option<Result<BuildInfo, Failure>>,
) -> Result<(), Failure> {
    let server = server.transpose()?;
    match format {
        Format::Table => {
            println!("client: berth {} (api {})", client.version, client.api);
            match &server {
                Some(server) => println!("server: berthd {} (api {})", server.version, server.api),
                None => {
                    println!("server: none configured (add one with `berth context add NAME URL`)")
                }
            }
            Ok(())
        }
        _ => structured(
            format,
            &VersionReport {
                client,
                server: server.as_ref(),
            },
        ),
    }
}

#[derive(Serialize)]
struct ContextRow<'a> {
    name: &'a str,
    url: &'a str,
    current: bool,
}

pub fn contexts(format: Format, contexts: &Contexts) -> Result<(), Failure> {
    let rows: Vec<ContextRow<'_>> = contexts
        .contexts
        .iter()
        .map(|(name, context)| ContextRow {
            name,
            url: &context.url,
            current: contexts.current.as_deref() == Some(name.as_str()),
        })
        .collect();
    match format {
        Format::Table => table(
            &["CURRENT", "NAME", "URL"],
            rows.iter()
                .map(|row| {
                    vec![
                        if row.current { "*" } else { "" }.to_owned(),
                        row.name.to_owned(),
                        row.url.to_owned(),
                    ]
                })
                .collect(),
        ),
        _ => structured(format, &rows),
    }
}

//! The CLI's side of the relay: [`berth_dial`] with the CLI's
//! errors.

pub use berth_dial::{Refused, Role, Session, first, run};

use crate::output::Failure;

/// The CLI's side: connects (the first connection must work) and keeps the
/// attachment going.
pub async fn start(
    base: String,
    token: String,
    session: String,
    say: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Session, Failure> {
    let connected = first(&base, Role::Client, &token, Some(&session), &say)
        .await
        .map_err(|e| match e {
            Refused::Relay(reason) => Failure::new(
                format!("the relay refused: {reason}"),
                "check the session id and that it has not ended (`berth session list`)",
            ),
            Refused::Network(reason) => Failure::new(
                format!("cannot reach the relay: {reason}"),
                "check that berthd runs there and the URL is right",
            ),
        })?;
    Ok(run(
        base,
        Role::Client,
        token,
        Some(session),
        connected,
        say,
    ))
}

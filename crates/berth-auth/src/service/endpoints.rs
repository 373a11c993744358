//! Signing a browser in to an endpoint's host. An endpoint lives on its own
//! host, where the console's session cookie is not sent; the console hands
//! the signed-in browser a one-time ticket for that host, which the
//! endpoint's host trades for its own cookie. That cookie names the console
//! session and carries a MAC binding it to the host: it lives exactly as
//! long as the session (signing out of the console ends it), works on no
//! other host, and is not a console credential.

use std::time::{Duration, Instant};

use berth_audit::Origin;
use berth_core::Error;

use super::Auth;
use crate::policy::{Actor, Via};
use crate::secrets;

/// A ticket is good for this long after it is issued, and once.
const TICKET_TTL: Duration = Duration::from_secs(60);

pub(super) struct Ticket {
    session_key: String,
    host: String,
    issued: Instant,
}

impl Auth {
    /// A one-time ticket that signs the browser of `actor`'s console
    /// session in to the endpoint at `host`.
    pub fn endpoint_ticket(&self, actor: &Actor, host: &str) -> Result<String, Error> {
        let Via::Session { key, .. } = &actor.via else {
            return Err(Error::unauthenticated(
                "an endpoint sign-in starts from a console session, not a token",
            ));
        };
        let ticket = secrets::random_secret();
        let mut tickets = self.endpoint_tickets.lock();
        tickets.retain(|_, t| t.issued.elapsed() < TICKET_TTL);
        tickets.insert(
            self.hasher.hash(&ticket),
            Ticket {
                session_key: key.clone(),
                host: host.to_owned(),
                issued: Instant::now(),
            },
        );
        Ok(ticket)
    }

    /// Trades a ticket issued for `host` for the value of that host's
    /// cookie.
    pub fn redeem_endpoint_ticket(&self, ticket: &str, host: &str) -> Result<String, Error> {
        let spent = || {
            Error::unauthenticated(
                "this sign-in link was used already or is too old; open the endpoint again",
            )
        };
        let entry = self
            .endpoint_tickets
            .lock()
            .remove(&self.hasher.hash(ticket))
            .ok_or_else(spent)?;
        if entry.issued.elapsed() > TICKET_TTL || entry.host != host {
            return Err(spent());
        }
        let mac = self
            .hasher
            .hash(&endpoint_message(host, &entry.session_key));
        Ok(format!("{}.{mac}", entry.session_key))
    }

    /// The caller whose endpoint cookie for `host` is `cookie`, if its
    /// console session is still live.
    pub fn authenticate_endpoint(
        &self,
        cookie: &str,
        host: &str,
        origin: &Origin,
    ) -> Result<Actor, Error> {
        let signed_out = || Error::unauthenticated("sign in to Berth to open this endpoint");
        let (key, mac) = cookie.split_once('.').ok_or_else(signed_out)?;
        if !self.hasher.verify(&endpoint_message(host, key), mac) {
            return Err(signed_out());
        }
        self.session_actor(key.to_owned(), origin)
    }
}

fn endpoint_message(host: &str, session_key: &str) -> String {
    format!("berth endpoint\n{host}\n{session_key}")
}

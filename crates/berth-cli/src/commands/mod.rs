//! The commands that talk to a signed-in server.

pub mod agent;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod doctor;
pub mod endpoints;
pub mod kube;
pub mod quickstart;
pub mod sessions;
pub mod spaces;
pub mod ssh;
pub mod tokens;
pub mod up;
pub mod users;

use crate::client::Client;
use crate::context::Contexts;
use crate::output::Failure;

/// Where to send API calls, and with which token: `BERTH_URL` and
/// `BERTH_TOKEN` (for CI) win over the selected context.
pub fn client(context: Option<&str>) -> Result<Client, Failure> {
    let env_token = std::env::var("BERTH_TOKEN").ok().filter(|t| !t.is_empty());
    if let Ok(url) = std::env::var("BERTH_URL")
        && !url.is_empty()
    {
        return Client::new(&url, env_token);
    }
    let contexts = Contexts::load()?;
    let selected = contexts.select(context)?;
    Client::new(&selected.url, env_token.or_else(|| selected.token.clone()))
}

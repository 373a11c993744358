//! `berth login`, `logout` and `whoami`.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine;
use berth_core::identity::{TokenCreated, Whoami};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest;

use crate::client::Client;
use crate::context::Contexts;
use crate::output::{self, Failure, Format};

#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// The Berth server; saved as a context (named after its host unless
    /// --name is given) and made current.
    pub url: Option<String>,
    /// The context name for URL.
    #[arg(long)]
    pub name: Option<String>,
    /// Sign in through the browser on this machine (loopback redirect).
    #[arg(long, conflicts_with_all = ["token", "username"])]
    pub web: bool,
    /// Use an existing API token (for CI); `-` reads it from stdin.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Sign in with a local account instead of single sign-on.
    #[arg(long)]
    pub username: Option<String>,
    /// Read the local account's password from stdin instead of prompting.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
}

#[derive(Deserialize)]
struct Methods {
    local: bool,
    sso: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct DeviceStarted {
    login_id: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in_seconds: u64,
    interval_seconds: u64,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum DevicePoll {
    Pending,
    Done { token: TokenCreated },
    Failed { message: String },
}

fn context_name_for(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .map(|h| h.replace(':', "-"))
        .unwrap_or_else(|| "default".to_owned())
}

pub async fn login(args: LoginArgs, context: Option<&str>) -> Result<(), Failure> {
    let mut contexts = Contexts::load()?;
    let name = match &args.url {
        Some(url) => {
            let name = args
                .name
                .clone()
                .or_else(|| context.map(str::to_owned))
                .unwrap_or_else(|| context_name_for(url));
            contexts.upsert(&name, url)?;
            name
        }
        None => contexts.selected_name(context)?,
    };
    let url = contexts.get_mut(&name)?.url.clone();
    let anonymous = Client::new(&url, None)?;

    let token = if let Some(token) = args.token.clone() {
        if token == "-" {
            read_stdin_line()?
        } else {
            token
        }
    } else {
        let methods: Methods = anonymous.get("/api/v1/auth/methods").await?;
        if args.web {
            if methods.sso.is_none() {
                return Err(Failure::new(
                    "this server has no single sign-on",
                    "sign in with --username",
                ));
            }
            web_login(&anonymous).await?.secret
        } else if args.username.is_some() || methods.sso.is_none() {
            if !methods.local {
                return Err(Failure::new(
                    "this server has no local accounts",
                    "sign in with single sign-on: `berth login`",
                ));
            }
            password_login(&anonymous, args.username.clone(), args.password_stdin)
                .await?
                .secret
        } else {
            device_login(&anonymous).await?.secret
        }
    };
    let authed = Client::new(&url, Some(token.clone()))?;
    let me: Whoami = authed.get("/api/v1/whoami").await?;
    // Somewhere to work at once: the personal space, unless the context
    // already has a current space.
    let personal = match contexts.get_mut(&name)?.space {
        Some(_) => None,
        None => crate::commands::spaces::personal(&authed, me.user.username.as_str()).await,
    };
    let context = contexts.get_mut(&name)?;
    context.token = Some(token);
    if personal.is_some() {
        context.space = personal.clone();
    }
    contexts.current = Some(name.clone());
    contexts.save()?;
    // kubectl's token was made from the login this one replaces.
    crate::commands::kube::forget_credential(None, &name).await;
    eprintln!(
        "Signed in to {name} ({url}) as {} ({}).",
        me.user.username,
        me.user.role.as_str()
    );
    if let Some(space) = personal {
        eprintln!("Using your personal space {space} (`berth space use NAME` picks another).");
    }
    Ok(())
}

fn read_stdin_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::new(
            format!("cannot read stdin: {e}"),
            "pipe the secret into stdin",
        )
    })?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(Failure::new(
            "stdin was empty",
            "pipe the secret into stdin",
        ));
    }
    Ok(line)
}

async fn password_login(
    client: &Client,
    username: Option<String>,
    from_stdin: bool,
) -> Result<TokenCreated, Failure> {
    let username = match username {
        Some(u) => u,
        None => {
            eprint!("User name: ");
            let _ = std::io::stderr().flush();
            read_stdin_line()?
        }
    };
    let password = if from_stdin {
        read_stdin_line()?
    } else {
        rpassword::prompt_password("Password: ").map_err(|e| {
            Failure::new(
                format!("cannot read the password: {e}"),
                "use --password-stdin when there is no terminal",
            )
        })?
    };
    client
        .post(
            "/api/v1/auth/cli/password",
            &json!({"username": username, "password": password}),
        )
        .await
}

/// The device authorization grant: works over SSH with no browser here.
async fn device_login(client: &Client) -> Result<TokenCreated, Failure> {
    let started: DeviceStarted = client.post("/api/v1/auth/device", &json!({})).await?;
    eprintln!(
        "To sign in, open {} and enter the code {}",
        started.verification_uri, started.user_code
    );
    if let Some(complete) = &started.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    let deadline = Instant::now() + Duration::from_secs(started.expires_in_seconds.max(1));
    let interval = Duration::from_secs(started.interval_seconds.clamp(1, 10));
    loop {
        if Instant::now() > deadline {
            return Err(Failure::new(
                "the sign-in code expired",
                "run `berth login` again",
            ));
        }
        tokio::time::sleep(interval).await;
        match client
            .post(
                "/api/v1/auth/device/poll",
                &json!({"login_id": started.login_id}),
            )
            .await?
        {
            DevicePoll::Pending => continue,
            DevicePoll::Done { token } => return Ok(token),
            DevicePoll::Failed { message } => {
                return Err(Failure::new(message, "run `berth login` again"));
            }
        }
    }
}

/// The loopback flow: the browser signs in and comes back to a one-shot
/// server on 127.0.0.1, carrying a code exchanged with a PKCE verifier.
async fn web_login(client: &Client) -> Result<TokenCreated, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| {
        Failure::new(
            format!("cannot listen on loopback: {e}"),
            "use `berth login` (device code) instead",
        )
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::new(e.to_string(), "try again"))?
        .port();
    let verifier = random_hex(32);
    let state = random_hex(16);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("port", &port.to_string())
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .finish();
    let url = format!("{}/auth/cli/login?{query}", client.base());
    eprintln!("Opening the browser to sign in. If it does not open, visit:\n  {url}");
    let _ = webbrowser::open(&url);
    let expected_state = state.clone();
    let code = tokio::task::spawn_blocking(move || wait_for_callback(listener, &expected_state))
        .await
        .map_err(|e| Failure::new(format!("the sign-in listener failed: {e}"), "try again"))??;
    client
        .post(
            "/api/v1/auth/cli/exchange",
            &json!({"code": code, "code_verifier": verifier}),
        )
        .await
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Serves the one request the browser comes back with, on the listener
/// the sign-in URL named, and answers it with a page the user reads.
fn wait_for_callback(listener: TcpListener, expected_state: &str) -> Result<String, Failure> {
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| Failure::new(format!("the sign-in listener failed: {e}"), "try again"))?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let request = match server.recv_timeout(left) {
            Ok(Some(request)) => request,
            Ok(None) => {
                return Err(Failure::new(
                    "no sign-in arrived within 5 minutes",
                    "run `berth login --web` again",
                ));
            }
            Err(e) => return Err(Failure::new(e.to_string(), "try again")),
        };
        let Some(query) = request.url().strip_prefix("/callback?") else {
            let _ = request.respond(tiny_http::Response::empty(404));
            continue;
        };
        let params: std::collections::HashMap<String, String> =
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
        let code = params
            .get("code")
            .filter(|_| params.get("state").map(String::as_str) == Some(expected_state))
            .cloned();
        let page = if code.is_some() {
            "Signed in to Berth. You can close this tab and return to the terminal."
        } else {
            "This sign-in does not match the one the terminal started. Run berth login --web again."
        };
        let content_type =
            tiny_http::Header::from_bytes("content-type", "text/plain; charset=utf-8")
                .expect("a static header is valid");
        let _ = request.respond(tiny_http::Response::from_string(page).with_header(content_type));
        return code.ok_or_else(|| {
            Failure::new(
                "the browser came back with a different sign-in",
                "run `berth login --web` again",
            )
        });
    }
}

/// Revokes this context's token on the server and forgets it here.
pub async fn logout(context: Option<&str>) -> Result<(), Failure> {
    let mut contexts = Contexts::load()?;
    let name = contexts.selected_name(context)?;
    let entry = contexts.get_mut(&name)?;
    let Some(token) = entry.token.take() else {
        eprintln!("Not signed in to {name}.");
        return Ok(());
    };
    let url = entry.url.clone();
    contexts.save()?;
    let client = Client::new(&url, Some(token))?;
    crate::commands::kube::forget_credential(Some(&client), &name).await;
    match client.post_empty("/api/v1/auth/logout").await {
        Ok(()) => eprintln!("Signed out of {name}; the token is revoked."),
        Err(failure) => eprintln!(
            "Signed out of {name} here; the server could not revoke the token: {}",
            failure.what
        ),
    }
    Ok(())
}

pub async fn whoami(client: &Client, format: Format) -> Result<(), Failure> {
    let me: Whoami = client.get("/api/v1/whoami").await?;
    match format {
        Format::Table => output::write_stdout(
            format!(
                "{} ({}), signed in with a {}{}\n",
                me.user.username,
                me.user.role.as_str(),
                me.via,
                me.user.email.map(|e| format!(", {e}")).unwrap_or_default()
            )
            .as_bytes(),
        ),
        _ => output::structured(format, &me),
    }
}

//! OpenID Connect with the `openidconnect` crate: discovery and signing keys
//! cached and refreshed when the provider rotates keys, the authorization
//! code flow with PKCE, the device authorization grant, and ID token
//! verification (issuer, audience, expiry with a configured clock skew,
//! nonce, signature).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::{Clock, Error};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError,
    ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl, IdToken, IdTokenVerifier, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::OidcConfig;

/// Discovery is read again after this long, and signing keys whenever a
/// token names a key the cache does not have (at most every few seconds).
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
const KEY_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DeviceEndpoint {
    device_authorization_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for DeviceEndpoint {}

type Metadata = ProviderMetadata<
    DeviceEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Every claim that is not a standard one, such as `groups`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ExtraClaims(HashMap<String, Value>);

impl AdditionalClaims for ExtraClaims {}

type BerthIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What Berth takes from a verified ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claims {
    pub issuer: String,
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    /// `None` when the token carried no groups claim at all.
    pub groups: Option<Vec<String>>,
}

struct Discovered {
    metadata: Metadata,
    fetched: Instant,
    /// When keys were last fetched because a token named an unknown key.
    forced: Option<Instant>,
}

pub struct Oidc {
    pub config: OidcConfig,
    secret: ClientSecret,
    http: reqwest::Client,
    cache: tokio::sync::RwLock<Option<Discovered>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer_url)
            .finish()
    }
}

fn provider_error(what: &str, err: impl std::fmt::Display) -> Error {
    Error {
        code: berth_core::ErrorCode::Unavailable,
        message:
            "the identity provider cannot be reached or answered unexpectedly; try again later"
                .to_owned(),
        internal: Some(format!("{what}: {err}")),
    }
}

/// A token the provider issued that Berth refuses. The reason is shown: it
/// names a configuration problem, never a secret.
fn rejected(reason: impl std::fmt::Display) -> Error {
    Error::unauthenticated(format!(
        "the identity provider's token was refused: {reason}"
    ))
}

pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl Oidc {
    pub fn new(config: OidcConfig, clock: Arc<dyn Clock>) -> Result<Oidc, Error> {
        let secret = std::fs::read_to_string(&config.client_secret_file).map_err(|e| {
            Error::internal(format!(
                "reading {}: {e}",
                config.client_secret_file.display()
            ))
        })?;
        let http = reqwest::Client::builder()
            // Following redirects from the provider's endpoints invites SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        Ok(Oidc {
            secret: ClientSecret::new(secret.trim().to_owned()),
            config,
            http,
            cache: tokio::sync::RwLock::new(None),
            clock,
        })
    }

    async fn discover(&self) -> Result<Metadata, Error> {
        let issuer = IssuerUrl::new(self.config.issuer_url.clone())
            .map_err(|e| provider_error("issuer URL", e))?;
        Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| provider_error("discovery", error_chain(&e)))
    }

    /// The provider's metadata and keys, from cache when fresh.
    pub async fn metadata(&self) -> Result<Metadata, Error> {
        if let Some(found) = self.cache.read().await.as_ref()
            && found.fetched.elapsed() < DISCOVERY_TTL
        {
            return Ok(found.metadata.clone());
        }
        let metadata = self.discover().await?;
        let mut cache = self.cache.write().await;
        let forced = cache.as_ref().and_then(|c| c.forced);
        *cache = Some(Discovered {
            metadata: metadata.clone(),
            fetched: Instant::now(),
            forced,
        });
        Ok(metadata)
    }

    /// Reads discovery and keys again because a token named a key we do not
    /// know; at most every few seconds, so tokens with made-up key ids cannot
    /// make Berth hammer the provider.
    async fn refresh(&self) -> Result<Metadata, Error> {
        if let Some(found) = self.cache.read().await.as_ref()
            && found
                .forced
                .is_some_and(|t| t.elapsed() < KEY_REFRESH_MIN_INTERVAL)
        {
            return Ok(found.metadata.clone());
        }
        tracing::info!(issuer = %self.config.issuer_url, "a token names an unknown signing key: fetching the provider's keys again");
        let metadata = self.discover().await?;
        *self.cache.write().await = Some(Discovered {
            metadata: metadata.clone(),
            fetched: Instant::now(),
            forced: Some(Instant::now()),
        });
        Ok(metadata)
    }

    fn client(&self, metadata: Metadata, redirect: Option<&str>) -> Result<ProviderClient, Error> {
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(self.secret.clone()),
        );
        Ok(match redirect {
            Some(redirect) => client.set_redirect_uri(
                RedirectUrl::new(redirect.to_owned())
                    .map_err(|e| Error::internal(format!("redirect URL {redirect}: {e}")))?,
            ),
            None => client,
        })
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.config
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
            .map(|s| Scope::new(s.clone()))
    }

    /// Where to send the browser to sign in, with fresh state, nonce and
    /// PKCE verifier to remember until the callback.
    pub async fn authorize(&self, redirect: &str) -> Result<Authorization, Error> {
        let client = self.client(self.metadata().await?, Some(redirect))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges an authorization code and verifies the ID token against the
    /// nonce of the sign-in that started it.
    pub async fn finish(
        &self,
        redirect: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Claims, Error> {
        let client = self.client(self.metadata().await?, Some(redirect))?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| provider_error("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| rejected(format!("the code exchange failed: {}", error_chain(&e))))?;
        let id_token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| rejected("no ID token in the token response"))?
            .to_string();
        self.verify(&id_token, Some(nonce)).await
    }

    /// A client for the provider's device authorization endpoint.
    async fn device_client(&self) -> Result<DeviceClient, Error> {
        let metadata = self.metadata().await?;
        let endpoint = metadata
            .additional_metadata()
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| {
                Error::unavailable(
                    "the identity provider does not offer device sign-in; use `berth login --web`",
                )
            })?;
        Ok(self.client(metadata, None)?.set_device_authorization_url(
            DeviceAuthorizationUrl::new(endpoint)
                .map_err(|e| provider_error("device endpoint", e))?,
        ))
    }

    /// Starts a device authorization; the provider shows the user a code.
    pub async fn device_start(
        &self,
    ) -> Result<openidconnect::core::CoreDeviceAuthorizationResponse, Error> {
        self.device_client()
            .await?
            .exchange_device_code()
            .add_scopes(self.scopes())
            .request_async(&self.http)
            .await
            .map_err(|e| provider_error("device authorization", error_chain(&e)))
    }

    /// Polls the provider until the user approves or refuses the device, or
    /// it expires; then verifies the ID token.
    pub async fn device_finish(
        &self,
        details: &openidconnect::core::CoreDeviceAuthorizationResponse,
    ) -> Result<Claims, Error> {
        let response = self
            .device_client()
            .await?
            .exchange_device_access_token(details)
            .map_err(|e| provider_error("token endpoint", e))?
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(|e| {
                rejected(format!(
                    "the device sign-in did not complete: {}",
                    error_chain(&e)
                ))
            })?;
        let id_token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| rejected("no ID token in the token response"))?
            .to_string();
        self.verify(&id_token, None).await
    }

    /// Verifies an ID token: signature (fetching the provider's keys again
    /// once when the token names a key not yet known), issuer, audience,
    /// expiry and issue time with the configured skew, and the nonce when
    /// one is expected.
    pub async fn verify(&self, raw: &str, nonce: Option<&str>) -> Result<Claims, Error> {
        let token: BerthIdToken = raw
            .parse()
            .map_err(|e| rejected(format!("not a well-formed ID token: {e}")))?;
        let metadata = self.metadata().await?;
        match self.check(&token, &metadata, nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let metadata = self.refresh().await?;
                self.check(&token, &metadata, nonce)
                    .map_err(|e| rejected(error_chain(&e)))
            }
            other => other.map_err(|e| rejected(error_chain(&e))),
        }
    }

    fn check(
        &self,
        token: &BerthIdToken,
        metadata: &Metadata,
        nonce: Option<&str>,
    ) -> Result<Claims, ClaimsVerificationError> {
        let skew = chrono::Duration::from_std(self.config.clock_skew).unwrap_or_default();
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp(self.clock.now().0 as i64, 0)
            .unwrap_or_default();
        let verifier: IdTokenVerifier<'_, CoreJsonWebKey> =
            IdTokenVerifier::new_confidential_client(
                ClientId::new(self.config.client_id.clone()),
                self.secret.clone(),
                metadata.issuer().clone(),
                metadata.jwks().clone(),
            )
            // Expiry is checked against now minus the skew...
            .set_time_fn(move || now - skew)
            // ...and a token may say it was issued up to the skew in the future.
            .set_issue_time_verifier_fn(move |iat| {
                if iat > now + skew {
                    Err(format!("issued in the future ({iat})"))
                } else {
                    Ok(())
                }
            });
        let expected = nonce.map(|n| Nonce::new(n.to_owned()));
        let claims = match &expected {
            Some(expected) => token.claims(&verifier, expected)?,
            None => token.claims(&verifier, |_: Option<&Nonce>| Ok(()))?,
        };
        let extra = &claims.additional_claims().0;
        let text = |name: &str| extra.get(name).and_then(Value::as_str).map(str::to_owned);
        let email = match self.config.email_claim.as_str() {
            "email" => claims.email().map(|e| e.as_str().to_owned()),
            other => text(other),
        };
        let username = match self.config.username_claim.as_str() {
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_owned()),
            "email" => email.clone(),
            "sub" => Some(claims.subject().as_str().to_owned()),
            "name" => claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            other => text(other),
        };
        let groups = extra
            .get(&self.config.groups_claim)
            .map(|value| match value {
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Value::String(single) => vec![single.clone()],
                _ => Vec::new(),
            });
        Ok(Claims {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            username,
            email,
            email_verified: claims.email_verified(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            groups,
        })
    }
}

type DeviceClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

type ProviderClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

pub(crate) use berth_core::error::chain as error_chain;

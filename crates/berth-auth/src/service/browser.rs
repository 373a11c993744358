//! The browser's side of signing in: the identity provider's callback
//! checked and finished, and who the holder of a new console session is.

use berth_audit::Origin;
use berth_core::Error;
use berth_core::identity::Whoami;
use serde::Deserialize;

use super::Auth;
use super::sso::SsoDone;
use crate::records::UserRecord;

/// What the identity provider sends the browser back with: the callback's
/// query. Berth always sends a state, which the provider returns whether it
/// grants the sign-in (with a code) or refuses it (with an error).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SsoCallback {
    /// The authorization code, when the sign-in was granted.
    pub code: Option<String>,
    pub state: String,
    /// Why the provider refused, when it did.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl Auth {
    /// Finishes a browser sign-in from the provider's callback.
    /// `browser_state` is the sign-in state held by the browser the callback
    /// came to (the server keeps it in a cookie): it must be this sign-in's,
    /// so a callback link sent to someone else cannot sign them in to the
    /// sender's account.
    pub async fn sso_callback(
        &self,
        redirect: &str,
        callback: SsoCallback,
        browser_state: Option<&str>,
        origin: &Origin,
    ) -> Result<SsoDone, Error> {
        let (code, state) = check_callback(callback, browser_state)?;
        self.sso_finish(redirect, &state, &code, origin).await
    }

    /// Who holds the console session just made for `user` (`secret`), with
    /// its CSRF token: what setup and a password sign-in answer.
    pub async fn session_whoami(
        &self,
        user: &UserRecord,
        secret: &str,
        origin: &Origin,
    ) -> Result<Whoami, Error> {
        let actor = self.authenticate_session(secret, origin)?;
        debug_assert_eq!(actor.user.id, user.id);
        self.whoami(&actor).await
    }
}

/// The callback's code and state, unless the provider refused the sign-in,
/// either is missing, or the sign-in was started in another browser.
fn check_callback(
    callback: SsoCallback,
    browser_state: Option<&str>,
) -> Result<(String, String), Error> {
    if let Some(error) = callback.error {
        let detail = callback.error_description.unwrap_or_default();
        return Err(Error::unauthenticated(
            format!("the identity provider refused the sign-in: {error} {detail}")
                .trim()
                .to_owned(),
        ));
    }
    // Neither a code nor an error: a sign-in the provider did not grant.
    let Some(code) = callback.code else {
        return Err(Error::unauthenticated(
            "the identity provider sent no code: the sign-in was not granted",
        ));
    };
    let state = callback.state;
    if browser_state != Some(state.as_str()) {
        return Err(Error::unauthenticated(
            "this sign-in was started in another browser (or its cookie expired); start it again here",
        ));
    }
    Ok((code, state))
}

#[cfg(test)]
mod tests {
    use berth_core::ErrorCode;

    use super::{SsoCallback, check_callback};

    #[test]
    fn a_callback_is_checked_before_the_provider_is_asked() {
        let callback = |code: Option<&str>, state: &str, error: Option<&str>| SsoCallback {
            code: code.map(str::to_owned),
            state: state.to_owned(),
            error: error.map(str::to_owned),
            error_description: error.map(|_| "the user said no".to_owned()),
        };
        for (case, sent, browser, want) in [
            (
                "finished here",
                callback(Some("c"), "s", None),
                Some("s"),
                Ok(("c", "s")),
            ),
            (
                "the provider refused",
                callback(Some("c"), "s", Some("access_denied")),
                Some("s"),
                Err((
                    ErrorCode::Unauthenticated,
                    "the identity provider refused the sign-in: access_denied the user said no",
                )),
            ),
            (
                "no code",
                callback(None, "s", None),
                Some("s"),
                Err((
                    ErrorCode::Unauthenticated,
                    "the identity provider sent no code: the sign-in was not granted",
                )),
            ),
            (
                "started in another browser",
                callback(Some("c"), "s", None),
                Some("another sign-in's state"),
                Err((
                    ErrorCode::Unauthenticated,
                    "this sign-in was started in another browser (or its cookie expired); start it again here",
                )),
            ),
            (
                "no cookie",
                callback(Some("c"), "s", None),
                None,
                Err((
                    ErrorCode::Unauthenticated,
                    "this sign-in was started in another browser (or its cookie expired); start it again here",
                )),
            ),
        ] {
            let got = check_callback(sent, browser);
            let got = match &got {
                Ok((code, state)) => Ok((code.as_str(), state.as_str())),
                Err(err) => Err((err.code, err.message.as_str())),
            };
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_refusal_without_a_description_has_no_trailing_space() {
        let sent = SsoCallback {
            error: Some("login_required".to_owned()),
            ..SsoCallback::default()
        };
        let err = check_callback(sent, None).expect_err("refused");
        assert_eq!(
            err.message,
            "the identity provider refused the sign-in: login_required"
        );
    }
}

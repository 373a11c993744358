//! Whether the Kubernetes API answers, as the watches and the version check
//! find it: the last failure (what it was, when it was last tried), for
//! `/readyz` to show, and a log that says each cause once.
//!
//! Seven watches and the version check retry on their own backoffs, so one
//! unreachable API fails a dozen times a second at first. Each distinct
//! cause is logged once, as a warning naming the API's URL (an error when
//! retrying cannot help: the API refuses Berth's credentials), again only
//! after [`REMIND_AFTER`] if it lasts, and the recovery once; the retries
//! themselves are debug lines.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long a failure that goes on is left unrepeated in the log.
pub const REMIND_AFTER: Duration = Duration::from_secs(10 * 60);

/// One failure to reach or use the API, as `/readyz` and the log say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, naming the API's URL: "cannot reach the Kubernetes
    /// API at https://10.96.0.1:443: connection refused (os error 111)".
    pub cause: String,
    /// Whether retrying can help: false when the API answered and refused
    /// (401, 403), which only a change of credentials or RBAC mends.
    pub transient: bool,
}

impl Failure {
    /// What `err` says about the API at `url` (none when the client was
    /// given without one).
    pub fn of(url: Option<&str>, err: &kube::Error) -> Failure {
        let at = url.map(|u| format!(" at {u}")).unwrap_or_default();
        match err {
            kube::Error::Api(status) => {
                let transient = !matches!(status.code, 401 | 403);
                let what = if status.reason.is_empty() {
                    status.code.to_string()
                } else {
                    format!("{} {}", status.code, status.reason)
                };
                Failure {
                    cause: format!("the Kubernetes API{at} answered {what}: {}", status.message),
                    transient,
                }
            }
            // Connecting failed (refused, no route, a name that does not
            // resolve, TLS): the client's own wrapping ("ServiceError:
            // client error (Connect): …") says nothing an operator can act
            // on; the innermost error does ("Connection refused (os error
            // 111)").
            other if has_io_error(other) => Failure {
                cause: format!("cannot reach the Kubernetes API{at}: {}", root_cause(other)),
                transient: true,
            },
            // The request could not be made (an unusable token, say).
            kube::Error::Service(inner) => Failure {
                cause: format!("a request to the Kubernetes API{at} failed: {inner}"),
                transient: true,
            },
            other => Failure {
                cause: format!("a request to the Kubernetes API{at} failed: {other}"),
                transient: true,
            },
        }
    }
}

fn has_io_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<std::io::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    let text = last.to_string();
    // "Connection refused (os error 111)" reads better in a sentence as
    // "connection refused (os error 111)".
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text,
    }
}

/// The API's health as the last requests found it.
#[derive(Debug, Default)]
pub struct Reach {
    url: Option<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    failure: Failure,
    since: Instant,
    last_tried: Instant,
    attempts: u64,
    /// The causes logged in this outage, with when each was last logged.
    logged: Vec<(String, Instant)>,
}

/// What `/readyz` shows of a failing API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub failure: Failure,
    /// When a request last failed so.
    pub last_tried: Instant,
    /// When the API stopped answering.
    pub since: Instant,
}

impl Problem {
    /// The cause and how long ago it was last seen: "cannot reach the
    /// Kubernetes API at https://10.96.0.1:443: connection refused (os
    /// error 111); last tried 2 s ago".
    pub fn describe(&self, now: Instant) -> String {
        let ago = now.saturating_duration_since(self.last_tried).as_secs();
        format!("{}; last tried {ago} s ago", self.failure.cause)
    }
}

impl Reach {
    pub fn new(url: Option<String>) -> Reach {
        Reach {
            url,
            state: Mutex::default(),
        }
    }

    /// The API's URL, when the client was made from a configuration.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// A request for `what` ("the Namespace watch", "the version check")
    /// failed with `err`.
    pub fn failed(&self, what: &str, err: &kube::Error) {
        let failure = Failure::of(self.url(), err);
        let detail = berth_core::error::chain(err);
        let now = Instant::now();
        let mut state = self.state.lock();
        let failing = state.failing.get_or_insert_with(|| Failing {
            failure: failure.clone(),
            since: now,
            last_tried: now,
            attempts: 0,
            logged: Vec::new(),
        });
        failing.failure = failure.clone();
        failing.last_tried = now;
        failing.attempts += 1;
        let logged = failing
            .logged
            .iter_mut()
            .find(|(cause, _)| *cause == failure.cause);
        let remind = match logged {
            None => {
                failing.logged.push((failure.cause.clone(), now));
                Some(false)
            }
            Some((_, at)) if now.duration_since(*at) >= REMIND_AFTER => {
                *at = now;
                Some(true)
            }
            Some(_) => None,
        };
        let since = now.duration_since(failing.since);
        let attempts = failing.attempts;
        drop(state);
        let api = self.url().unwrap_or("");
        match remind {
            None => {
                tracing::debug!(api, during = what, error = %detail, "{}; retrying", failure.cause)
            }
            Some(again) => {
                let failing_for = humanize(since);
                if failure.transient {
                    tracing::warn!(api, during = what, error = %detail, attempts, failing_for, still = again, "{}; retrying with backoff", failure.cause);
                } else {
                    tracing::error!(api, during = what, error = %detail, attempts, failing_for, still = again, "{}; berthd's service account needs the access the Helm chart's RBAC grants", failure.cause);
                }
            }
        }
    }

    /// A request answered: a failure, if there was one, is over.
    pub fn answered(&self) {
        let mut state = self.state.lock();
        if let Some(failing) = state.failing.take() {
            drop(state);
            tracing::info!(
                api = self.url().unwrap_or(""),
                failed_for = humanize(failing.since.elapsed()),
                attempts = failing.attempts,
                "the Kubernetes API answers again"
            );
        }
    }

    /// The failure requests see now, if they fail.
    pub fn problem(&self) -> Option<Problem> {
        let state = self.state.lock();
        state.failing.as_ref().map(|f| Problem {
            failure: f.failure.clone(),
            last_tried: f.last_tried,
            since: f.since,
        })
    }
}

fn humanize(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> kube::Error {
        let io = std::io::Error::from_raw_os_error(111);
        kube::Error::Service(Box::new(io))
    }

    #[test]
    fn a_connection_failure_names_the_url_and_the_innermost_cause() {
        let failure = Failure::of(Some("https://10.96.0.1:443"), &refused());
        assert_eq!(
            failure.cause,
            "cannot reach the Kubernetes API at https://10.96.0.1:443: connection refused (os error 111)"
        );
        assert!(failure.transient);
    }

    #[test]
    fn a_request_that_cannot_be_made_is_not_called_unreachable() {
        let err = kube::Error::Service("invalid bearer token: failed to parse header value".into());
        let failure = Failure::of(Some("https://10.96.0.1:443"), &err);
        assert_eq!(
            failure.cause,
            "a request to the Kubernetes API at https://10.96.0.1:443 failed: invalid bearer token: failed to parse header value"
        );
    }

    #[test]
    fn a_refusal_of_credentials_is_not_transient() {
        let status =
            kube::core::Status::failure("namespaces is forbidden", "Forbidden").with_code(403);
        let failure = Failure::of(
            Some("https://api:6443"),
            &kube::Error::Api(Box::new(status)),
        );
        assert_eq!(
            failure.cause,
            "the Kubernetes API at https://api:6443 answered 403 Forbidden: namespaces is forbidden"
        );
        assert!(!failure.transient);
    }

    #[test]
    fn the_problem_lasts_until_a_request_answers() {
        let reach = Reach::new(Some("https://127.0.0.1:1".to_owned()));
        assert_eq!(reach.problem(), None);
        reach.failed("the Namespace watch", &refused());
        reach.failed("the version check", &refused());
        let problem = reach.problem().expect("failing");
        let said = problem.describe(problem.last_tried + Duration::from_secs(2));
        assert_eq!(
            said,
            "cannot reach the Kubernetes API at https://127.0.0.1:1: connection refused (os error 111); last tried 2 s ago"
        );
        reach.answered();
        assert_eq!(reach.problem(), None);
    }
}

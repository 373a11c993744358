//! Fault injection, for tests of code that must survive a misbehaving API
//! server: refused requests (500s, 409s, a 404 for a kind it does not
//! serve, a 403, a webhook's 400, a 504 timeout: any status), slow
//! answers, and watches cut off mid-stream.

use parking_lot::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiError;

#[derive(Debug, Clone)]
struct Rule {
    method: Option<String>,
    path_contains: String,
    remaining: usize,
    effect: Effect,
}

#[derive(Debug, Clone)]
enum Effect {
    Fail(u16),
    Delay(Duration),
}

/// The faults a simulator will inject. Reach it with [`crate::Simulator::faults`].
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    watch_epoch: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Mutex::new(Vec::new()),
            watch_epoch: watch::channel(0).0,
        }
    }
}

fn status_reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

impl Faults {
    fn add(&self, rule: Rule) {
        self.rules.lock().push(rule);
    }

    /// The next `count` requests whose path contains `path_contains` (and,
    /// when given, whose method is `method`, such as "PATCH") fail with
    /// `status` and a `Status` body, as an overloaded or racing API server's
    /// would.
    pub fn fail_next(&self, method: Option<&str>, path_contains: &str, status: u16, count: usize) {
        self.add(Rule {
            method: method.map(str::to_ascii_uppercase),
            path_contains: path_contains.to_owned(),
            remaining: count,
            effect: Effect::Fail(status),
        });
    }

    /// The next `count` matching requests are answered only after `delay`.
    pub fn delay_next(
        &self,
        method: Option<&str>,
        path_contains: &str,
        delay: Duration,
        count: usize,
    ) {
        self.add(Rule {
            method: method.map(str::to_ascii_uppercase),
            path_contains: path_contains.to_owned(),
            remaining: count,
            effect: Effect::Delay(delay),
        });
    }

    /// Ends every open watch stream now, without a final event, as a proxy
    /// or an API server restart would. Watches started later are unaffected.
    pub fn drop_watches(&self) {
        self.watch_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Forgets every pending rule.
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// Forgets the pending rules whose path contains `path_contains` (say,
    /// one namespace's), so that tests sharing a simulator stop only their
    /// own faults.
    pub fn clear_matching(&self, path_contains: &str) {
        self.rules
            .lock()
            .retain(|rule| !rule.path_contains.contains(path_contains));
    }

    pub(crate) fn watch_epoch(&self) -> watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }

    /// Applies the first matching rule to a request: waits for a delay, or
    /// returns the error to answer with.
    pub(crate) async fn apply(&self, method: &str, path: &str) -> Result<(), ApiError> {
        let effect = {
            let mut rules = self.rules.lock();
            let found = rules.iter_mut().position(|rule| {
                rule.remaining > 0
                    && rule.method.as_deref().is_none_or(|m| m == method)
                    && path.contains(&rule.path_contains)
            });
            match found {
                Some(index) => {
                    rules[index].remaining -= 1;
                    let effect = rules[index].effect.clone();
                    if rules[index].remaining == 0 {
                        rules.remove(index);
                    }
                    Some(effect)
                }
                None => None,
            }
        };
        match effect {
            None => Ok(()),
            Some(Effect::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Some(Effect::Fail(code)) => Err(ApiError {
                code,
                reason: status_reason(code),
                message: format!("injected fault: {method} {path} answered {code}"),
                details: serde_json::json!({}),
            }),
        }
    }
}

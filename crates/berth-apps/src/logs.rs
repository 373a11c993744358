//! An operation's output: kept in memory while it runs (its end, where
//! Helm's error is), followed by callers as it grows, and read from the
//! record once the operation ended.

use parking_lot::Mutex;
use std::sync::Arc;

use berth_auth::Actor;
use berth_core::Error;
use tokio::sync::watch;

use crate::Apps;
use crate::records::key;

/// The most of an operation's output kept (its end, where Helm's error is).
const MAX_LOG: usize = 256 << 10;

/// Where the last `MAX_LOG` bytes of `text` start (at a character).
pub(crate) fn tail_start(text: &str) -> usize {
    let start = text.len().saturating_sub(MAX_LOG);
    (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}

/// The output of a running operation, for those following it.
pub(crate) struct Live {
    text: Mutex<String>,
    /// (bytes written so far, finished); set with `send_replace`, which
    /// keeps the value while no one follows.
    progress: watch::Sender<(usize, bool)>,
}

impl Live {
    pub(crate) fn new() -> Arc<Live> {
        Arc::new(Live {
            text: Mutex::new(String::new()),
            progress: watch::channel((0, false)).0,
        })
    }

    pub(crate) fn push(&self, line: &str) {
        let mut text = self.text.lock();
        text.push_str(line);
        text.push('\n');
        // The end is kept (Helm's error is there); a follower that falls
        // behind a cut is sent the rest whole.
        if text.len() > 2 * MAX_LOG {
            let cut = tail_start(&text);
            text.drain(..cut);
        }
        self.progress.send_replace((text.len(), false));
    }

    /// Replaces the whole output (a Job's log, read again).
    pub(crate) fn set(&self, log: &str) {
        let mut text = self.text.lock();
        if *text != log {
            *text = log.to_owned();
            self.progress.send_replace((text.len(), false));
        }
    }

    pub(crate) fn text(&self) -> String {
        self.text.lock().clone()
    }

    /// What was written after the first `from` bytes, and the length now
    /// (copying only the new part). A log that got shorter (a Job's read
    /// again from a new Pod, or its start cut) is given whole.
    fn since(&self, from: usize) -> (String, usize) {
        let text = self.text.lock();
        let chunk = match text.get(from..) {
            Some(rest) => rest.to_owned(),
            None => text.clone(),
        };
        (chunk, text.len())
    }

    pub(crate) fn finish(&self) {
        let len = self.text.lock().len();
        self.progress.send_replace((len, true));
    }
}

/// An operation's output so far, and while it runs, a way to follow what
/// comes after.
pub struct Logs {
    pub text: String,
    pub follow: Option<LogFollower>,
}

pub struct LogFollower {
    live: Arc<Live>,
    progress: watch::Receiver<(usize, bool)>,
    sent: usize,
}

impl LogFollower {
    /// What was written since the last call; none once the operation ended
    /// and everything was given.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            let (len, done) = *self.progress.borrow_and_update();
            if len != self.sent {
                let (chunk, now) = self.live.since(self.sent);
                self.sent = now;
                return Some(chunk);
            }
            if done {
                return None;
            }
            if self.progress.changed().await.is_err() {
                return None;
            }
        }
    }
}

impl Apps {
    /// The latest operation's output, and a way to follow it while it runs.
    pub async fn logs(&self, actor: &Actor, space: &str, name: &str) -> Result<Logs, Error> {
        self.spaces.check_use(actor, space, "app.logs").await?;
        // The running operation first: its end is recorded before it
        // leaves the map, so no output falls between the two.
        let live = self.running.lock().get(&key(space, name)).cloned();
        Ok(match live {
            Some(live) => {
                let progress = live.progress.subscribe();
                let text = live.text();
                Logs {
                    follow: Some(LogFollower {
                        progress,
                        live,
                        sent: text.len(),
                    }),
                    text,
                }
            }
            None => Logs {
                text: self.current_one(space, name).await?.log,
                follow: None,
            },
        })
    }
}

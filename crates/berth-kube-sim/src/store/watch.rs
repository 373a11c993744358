//! The event history: what each committed change emits (to the bounded
//! log, to watches and to the controllers), and watches started from it,
//! replaying from a resourceVersion or 410 Gone when it is too old.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::{Cluster, State};
use crate::error::ApiError;
use crate::resources::{ResKey, ResourceType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub res: ResKey,
    pub kind: EventType,
    pub object: Value,
    /// The object before a modification, so label-filtered watches can tell
    /// an object leaving their selection.
    pub old: Option<Value>,
}

pub struct WatchStart {
    pub initial: Vec<Arc<Event>>,
    pub receiver: broadcast::Receiver<Arc<Event>>,
    pub rv: u64,
}

impl State {
    pub(super) fn emit(&mut self, res: ResKey, kind: EventType, object: Value, old: Option<Value>) {
        let event = Arc::new(Event {
            rv: self.rv,
            res,
            kind,
            object,
            old,
        });
        self.log.push_back(event.clone());
        while self.log.len() > self.history {
            if let Some(dropped) = self.log.pop_front() {
                self.log_start_rv = dropped.rv;
            }
        }
        self.dirty = true;
        let _ = self.watchers.send(event.clone());
        if let Some(controllers) = &self.controllers {
            let _ = controllers.send(event);
        }
    }

    /// Forgets the event history, after loading a snapshot: watches from
    /// before it must relist.
    pub(crate) fn reset_history(&mut self) {
        self.log.clear();
        self.log_start_rv = self.rv;
    }
}

impl Cluster {
    /// Starts a watch: the events to send first, and a receiver for what
    /// follows. Subscribing under the lock means no event falls in between.
    pub fn watch_start(
        &self,
        rt: &ResourceType,
        from: Option<u64>,
        send_initial: bool,
    ) -> Result<WatchStart, ApiError> {
        let state = self.lock();
        let receiver = state.watchers.subscribe();
        let mut initial = Vec::new();
        match from {
            Some(rv) if !send_initial => {
                if rv < state.log_start_rv {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        state.log_start_rv
                    )));
                }
                for event in state.log.iter().filter(|e| e.rv > rv && e.res == rt.key()) {
                    initial.push(event.clone());
                }
            }
            _ => {
                for object in state
                    .objects
                    .get(&rt.key())
                    .into_iter()
                    .flatten()
                    .map(|(_, o)| o)
                {
                    initial.push(Arc::new(Event {
                        rv: object["metadata"]["resourceVersion"]
                            .as_str()
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0),
                        res: rt.key(),
                        kind: EventType::Added,
                        object: object.clone(),
                        old: None,
                    }));
                }
            }
        }
        Ok(WatchStart {
            initial,
            receiver,
            rv: state.rv,
        })
    }
}

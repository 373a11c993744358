//! The audit log on the embedded store: append-only, hash-chained, signed at
//! checkpoints, indexed for fast filtered queries.
//!
//! Invariant: an event is committed in the same store transaction as the
//! change it records (or on its own for refusals), in sequence, with
//! `prev_hash` equal to the previous event's `hash`; nothing but retention
//! pruning ever removes an event, and pruning leaves an anchor so what remains
//! still verifies. A caller acknowledges a request only after
//! [`Audit::durable`] says its event is on disk.

mod event;
pub mod forward;
mod query;
mod verify;

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_core::Error;
use berth_store::{Store, StoreError, Table, Tx, TxError};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

pub use event::{
    ActorKind, AuditEvent, Change, EventActor, EventResource, NewEvent, Origin, Outcome, hash_of,
};
pub use query::{Page, Query, checked};
pub use verify::{Verification, VerifyProblem, verify_store};

// The log lives in one sled tree, its parts told apart by key prefix, so an
// append is one atomic batch on one tree (much cheaper than a transaction
// across trees).
pub(crate) const TREE: &str = "audit";
/// `e/<seq>` -> the event.
pub(crate) const EVENTS: Table<AuditEvent> = Table::new(TREE);
/// `i/<term>\0<seq>` -> (): one entry per indexed attribute of each event.
pub(crate) const INDEX: Table<()> = Table::new(TREE);
/// `a/<action>` -> (): the distinct actions, to expand an action prefix.
pub(crate) const ACTIONS: Table<()> = Table::new(TREE);
/// `m/head`, `m/anchor`.
pub(crate) const META: Table<ChainPoint> = Table::new(TREE);
/// `c/<seq>` -> a signed checkpoint.
pub(crate) const CHECKPOINTS: Table<Checkpoint> = Table::new(TREE);

pub(crate) const EVENT_PREFIX: &str = "e/";
/// The first key past every event key ('0' sorts right after '/').
pub(crate) const EVENT_END: &str = "e0";
pub(crate) const INDEX_PREFIX: &str = "i/";
pub(crate) const ACTION_PREFIX: &str = "a/";
pub(crate) const CHECKPOINT_PREFIX: &str = "c/";
pub(crate) const HEAD: &str = "m/head";
pub(crate) const ANCHOR: &str = "m/anchor";

/// The tables an audited transaction must name besides its own.
pub const TABLES: &[&str] = &[TREE];

/// How long a request waits for its event to reach disk before it fails.
const DURABLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// The hash of the empty chain, before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn seq_key(seq: u64) -> String {
    format!("{EVENT_PREFIX}{seq:016x}")
}

pub(crate) fn checkpoint_key(seq: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{seq:016x}")
}

pub(crate) fn index_key(term: &str, seq: u64) -> String {
    format!("{INDEX_PREFIX}{term}\0{seq:016x}")
}

/// A position in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    pub seq: u64,
    pub hash: String,
}

/// A signed statement that the chain reached `hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub time_unix_nano: u64,
    /// Ed25519 over `"berth-audit-checkpoint\n<seq>\n<hash>\n<time>"`, hex.
    pub signature: String,
}

impl Checkpoint {
    pub(crate) fn message(seq: u64, hash: &str, time: u64) -> Vec<u8> {
        format!("berth-audit-checkpoint\n{seq}\n{hash}\n{time}").into_bytes()
    }
}

fn store_err(err: StoreError) -> Error {
    match err {
        StoreError::Aborted(err) => err,
        other => Error::internal(format!("audit log: {other}")),
    }
}

/// Group commit: writers wait for one flush that covers them all, instead
/// of one fsync each.
struct Durability {
    committed: AtomicU64,
    flushed: watch::Sender<u64>,
    wake: Notify,
}

/// The audit log.
pub struct Audit {
    store: Arc<Store>,
    head: Mutex<ChainPoint>,
    signer: SigningKey,
    durability: Arc<Durability>,
    clock: fn() -> u64,
    last_time: AtomicU64,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Audit {
    /// Opens the log on `store` and starts the group-commit flusher on the
    /// current runtime.
    pub fn open(store: Arc<Store>) -> Result<Arc<Audit>, Error> {
        let head = store
            .get(META, HEAD)
            .map_err(store_err)?
            .unwrap_or(ChainPoint {
                seq: 0,
                hash: GENESIS.to_owned(),
            });
        let signer = SigningKey::from_bytes(&store.secret_key("audit-signing").map_err(store_err)?);
        let (flushed, _) = watch::channel(head.seq);
        let durability = Arc::new(Durability {
            committed: AtomicU64::new(head.seq),
            flushed,
            wake: Notify::new(),
        });
        let flusher = durability.clone();
        let flush_store = store.clone();
        tokio::spawn(async move {
            loop {
                flusher.wake.notified().await;
                loop {
                    let target = flusher.committed.load(Ordering::SeqCst);
                    if *flusher.flushed.borrow() >= target {
                        break;
                    }
                    match flush_store.flush().await {
                        Ok(_) => {
                            flusher.flushed.send_modify(|f| *f = (*f).max(target));
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "cannot flush the audit log; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        });
        Ok(Arc::new(Audit {
            store,
            head: Mutex::new(head),
            signer,
            durability,
            clock: now_ns,
            last_time: AtomicU64::new(0),
        }))
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Event times never go backwards, even when the wall clock does: queries
    /// find time ranges by binary search over the sequence.
    fn next_time(&self) -> u64 {
        let now = (self.clock)();
        self.last_time.fetch_max(now, Ordering::SeqCst).max(now)
    }

    /// The public half of the checkpoint signing key, hex.
    pub fn public_key(&self) -> String {
        hex::encode(self.signer.verifying_key().as_bytes())
    }

    pub fn head(&self) -> ChainPoint {
        self.head.lock().clone()
    }

    /// Runs `change` and appends the event it returns in one transaction
    /// over `tables` and the audit tables. Nothing is written if `change`
    /// fails. Call [`Audit::durable`] with the event's `seq` before
    /// acknowledging the request.
    pub fn commit<R>(
        &self,
        tables: &[&'static str],
        change: impl Fn(&Tx<'_>) -> Result<(R, NewEvent), TxError>,
    ) -> Result<(R, AuditEvent), Error> {
        let mut all: Vec<&'static str> = tables.to_vec();
        for table in TABLES {
            if !all.contains(table) {
                all.push(table);
            }
        }
        // One writer extends the chain at a time; the transaction itself
        // then never conflicts on the head.
        let mut head = self.head.lock();
        let time = self.next_time();
        let result = self
            .store
            .transact(&all, |tx| {
                let (value, new) = change(tx)?;
                let event = event::seal(head.seq + 1, time, &head.hash, new);
                append(tx, &event)?;
                Ok((value, event))
            })
            .map_err(store_err)?;
        *head = ChainPoint {
            seq: result.1.seq,
            hash: result.1.hash.clone(),
        };
        self.durability
            .committed
            .fetch_max(result.1.seq, Ordering::SeqCst);
        Ok(result)
    }

    /// Appends an event that accompanies no change (a refusal, a sign-in).
    pub fn record(&self, event: NewEvent) -> Result<AuditEvent, Error> {
        // No other table changes: one atomic batch on the audit tree is
        // enough, and much cheaper than a transaction.
        let mut head = self.head.lock();
        let event = event::seal(head.seq + 1, self.next_time(), &head.hash, event);
        let mut batch = self.store.batch(EVENTS);
        batch
            .put(EVENTS, &seq_key(event.seq), &event)
            .map_err(store_err)?;
        for term in query::terms(&event) {
            batch
                .put(INDEX, &index_key(&term, event.seq), &())
                .map_err(store_err)?;
        }
        batch
            .put(ACTIONS, &format!("{ACTION_PREFIX}{}", event.action), &())
            .map_err(store_err)?;
        batch
            .put(
                META,
                HEAD,
                &ChainPoint {
                    seq: event.seq,
                    hash: event.hash.clone(),
                },
            )
            .map_err(store_err)?;
        self.store.apply(batch).map_err(store_err)?;
        *head = ChainPoint {
            seq: event.seq,
            hash: event.hash.clone(),
        };
        self.durability
            .committed
            .fetch_max(event.seq, Ordering::SeqCst);
        Ok(event)
    }

    /// Runs `change` and appends its event in one transaction, then waits
    /// until the event is on disk: what a request does before it answers.
    pub async fn commit_durable<R>(
        &self,
        tables: &[&'static str],
        change: impl Fn(&Tx<'_>) -> Result<(R, NewEvent), TxError>,
    ) -> Result<R, Error> {
        let (value, event) = self.commit(tables, change)?;
        self.durable(event.seq).await?;
        Ok(value)
    }

    /// Appends an event that goes with no change (a refusal, a failure), then
    /// waits until it is on disk.
    pub async fn record_durable(&self, event: NewEvent) -> Result<AuditEvent, Error> {
        let event = self.record(event)?;
        self.durable(event.seq).await?;
        Ok(event)
    }

    /// Waits until every event up to `seq` is on disk. Concurrent callers
    /// share flushes.
    pub async fn durable(&self, seq: u64) -> Result<(), Error> {
        let mut flushed = self.durability.flushed.subscribe();
        if *flushed.borrow() >= seq {
            return Ok(());
        }
        self.durability.wake.notify_one();
        // A disk that keeps refusing writes must not hang every request:
        // after a bound, the request fails and says why.
        match tokio::time::timeout(DURABLE_DEADLINE, flushed.wait_for(|f| *f >= seq)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(Error::internal("the audit flusher stopped")),
            Err(_) => Err(Error::unavailable(
                "the audit log cannot be written to disk right now; the change was not confirmed",
            )),
        }
    }

    /// Signs the current head, if it moved since the last checkpoint.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        let head = self.head();
        if head.seq == 0 {
            return Ok(None);
        }
        let key = checkpoint_key(head.seq);
        if self
            .store
            .get(CHECKPOINTS, &key)
            .map_err(store_err)?
            .is_some()
        {
            return Ok(None);
        }
        let time = (self.clock)();
        let signature = self
            .signer
            .sign(&Checkpoint::message(head.seq, &head.hash, time));
        let checkpoint = Checkpoint {
            seq: head.seq,
            hash: head.hash,
            time_unix_nano: time,
            signature: hex::encode(signature.to_bytes()),
        };
        self.store
            .transact(&[TREE], |tx| tx.put(CHECKPOINTS, &key, &checkpoint))
            .map_err(store_err)?;
        Ok(Some(checkpoint))
    }

    /// Removes events older than `before_ns`, keeping the chain verifiable:
    /// the anchor records the last removed event's hash. Returns how many
    /// went.
    pub fn prune(&self, before_ns: u64) -> Result<u64, Error> {
        // Appends only ever go past the head, so pruning the old end needs
        // no lock. Each event goes in its own transaction together with the
        // anchor that names it: at every moment the first remaining event
        // links to the anchor, and an interrupted prune leaves a log that
        // verifies.
        let Some(cut) = query::first_seq_at_or_after(&self.store, before_ns).map_err(store_err)?
        else {
            // Every event is older than the cut: keep the newest, so the
            // head stays on disk.
            return self.prune_below(self.head().seq);
        };
        self.prune_below(cut)
    }

    fn prune_below(&self, cut: u64) -> Result<u64, Error> {
        let Some(first) = query::first_seq(&self.store).map_err(store_err)? else {
            return Ok(0);
        };
        let mut removed = 0;
        for seq in first..cut {
            let Some(event) = self.store.get(EVENTS, &seq_key(seq)).map_err(store_err)? else {
                continue;
            };
            let anchor = ChainPoint {
                seq: event.seq,
                hash: event.hash.clone(),
            };
            self.store
                .transact(&[TREE], |tx| {
                    for term in query::terms(&event) {
                        tx.delete(INDEX, &index_key(&term, seq))?;
                    }
                    tx.delete(EVENTS, &seq_key(seq))?;
                    tx.delete(CHECKPOINTS, &checkpoint_key(seq))?;
                    tx.put(META, ANCHOR, &anchor)?;
                    Ok(())
                })
                .map_err(store_err)?;
            removed += 1;
        }
        Ok(removed)
    }
}

fn append(tx: &Tx<'_>, event: &AuditEvent) -> Result<(), TxError> {
    tx.put(EVENTS, &seq_key(event.seq), event)?;
    for term in query::terms(event) {
        tx.put(INDEX, &index_key(&term, event.seq), &())?;
    }
    tx.put(ACTIONS, &format!("{ACTION_PREFIX}{}", event.action), &())?;
    tx.put(
        META,
        HEAD,
        &ChainPoint {
            seq: event.seq,
            hash: event.hash.clone(),
        },
    )?;
    Ok(())
}

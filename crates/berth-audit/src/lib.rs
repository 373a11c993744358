//! The audit log on the embedded store: append-only, hash-chained, signed at
//! checkpoints, indexed for fast filtered queries.
//!
//! Invariant: an event is committed in the same store transaction as the
//! change it records (or on its own for refusals), in sequence, with
//! `prev_hash` equal to the previous event's `hash`; nothing but retention
//! pruning ever removes an event, and pruning leaves an anchor so what remains
//! still verifies. A caller acknowledges a request only after
//! [`Audit::durable`] says its event is on disk.
//!
//! An append writes one key, the event's JSON (the unsealed tail); a
//! background sealer later moves full runs of tail events, byte for byte,
//! into compressed blocks with per-block postings for the index, in one
//! atomic batch, so that every committed event is at every moment in
//! exactly one of the two places (see `layout`). Sealing changes where an
//! event's bytes are kept, never the bytes.

mod event;
pub mod forward;
mod layout;
mod query;
mod seal;
mod verify;

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use berth_core::Error;
use berth_store::{Store, StoreError, Table, Tx, TxError};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, watch};

pub use event::{
    ActorKind, AuditEvent, Change, EventActor, EventResource, NewEvent, Origin, Outcome, hash_of,
};
pub use query::{Page, Query, checked};
pub use verify::{Verification, VerifyProblem, verify_store};

use layout::{RAW, Reader, TREE, seq_key};

/// `m/head`, `m/anchor`: the last sealed event and pruning's anchor.
pub(crate) const META: Table<ChainPoint> = Table::new(TREE);
/// `c/<seq>` -> a signed checkpoint.
pub(crate) const CHECKPOINTS: Table<Checkpoint> = Table::new(TREE);

pub(crate) const ACTION_PREFIX: &str = "a/";
pub(crate) const CHECKPOINT_PREFIX: &str = "c/";
pub(crate) const HEAD: &str = "m/head";
pub(crate) const ANCHOR: &str = "m/anchor";

/// The tables an audited transaction must name besides its own.
pub const TABLES: &[&str] = &[TREE];

/// Events per sealed block: enough that a block compresses well and a
/// term's postings in it are one short key, few enough that reading one
/// event of it (a query's answer) decompresses little.
pub const BLOCK_EVENTS: u32 = 1024;

/// How long a request waits for its event to reach disk before it fails.
const DURABLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// The hash of the empty chain, before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn checkpoint_key(seq: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{seq:016x}")
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
        full @ StoreError::DiskFull { .. } => Error::unavailable(full.to_string()),
        other => Error::internal(format!("audit log: {}", berth_core::error::chain(&other))),
    }
}

/// Pruning up to `last` leaves it as the anchor the rest verifies from.
fn put_anchor(batch: &mut berth_store::Batch, last: &AuditEvent) -> Result<(), Error> {
    batch
        .put(
            META,
            ANCHOR,
            &ChainPoint {
                seq: last.seq,
                hash: last.hash.clone(),
            },
        )
        .map_err(store_err)
}

fn read_err(err: layout::ReadError) -> Error {
    match err {
        layout::ReadError::Store(err) => store_err(err),
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
    sealer: Arc<seal::Sealer>,
    /// Wakes the sealing task; dropping it (with the log) ends the task.
    seal_wake: mpsc::Sender<()>,
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
    /// Opens the log on `store` and starts the group-commit flusher and the
    /// sealer on the current runtime. Tail events that fill a block (all of
    /// them, after a migration from schema 1) are sealed before it returns.
    pub fn open(store: Arc<Store>) -> Result<Arc<Audit>, Error> {
        Audit::open_with(store, BLOCK_EVENTS)
    }

    /// [`Audit::open`] with blocks of `block_events` events.
    pub fn open_with(store: Arc<Store>, block_events: u32) -> Result<Arc<Audit>, Error> {
        let sealer = Arc::new(seal::Sealer {
            store: store.clone(),
            block_events: block_events.max(1),
            maintenance: Mutex::new(()),
            sealed_end: AtomicU64::new(0),
            stuck: AtomicBool::new(false),
        });
        // A tail that cannot be sealed (a damaged event) stays a tail: the
        // log still opens, answers and appends, and `verify` names the
        // damage; sealing it is not worth refusing to start.
        match sealer.seal_ready() {
            Ok(backlog) if backlog >= 10 * u64::from(block_events) => {
                tracing::info!(
                    events = backlog,
                    "audit log: sealed the unsealed events into blocks"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(
                error = %e,
                "audit log: the unsealed events cannot be sealed; run `berthd audit verify`"
            ),
        }
        let head = last_point(&store)?;
        let signer = SigningKey::from_bytes(&store.secret_key("audit-signing").map_err(store_err)?);
        let (flushed, _) = watch::channel(head.seq);
        let durability = Arc::new(Durability {
            committed: AtomicU64::new(head.seq),
            flushed,
            wake: Notify::new(),
        });
        let flusher = durability.clone();
        // Weak: the log's tasks end with it and do not keep the store (and
        // its data-directory lock) open.
        let flush_store = Arc::downgrade(&store);
        tokio::spawn(async move {
            loop {
                flusher.wake.notified().await;
                loop {
                    let target = flusher.committed.load(Ordering::SeqCst);
                    if *flusher.flushed.borrow() >= target {
                        break;
                    }
                    let Some(store) = flush_store.upgrade() else {
                        return;
                    };
                    let flushed = store.flush().await;
                    drop(store);
                    match flushed {
                        Ok(_) => {
                            flusher.flushed.send_modify(|f| *f = (*f).max(target));
                        }
                        Err(err) => {
                            tracing::error!(error = %berth_core::error::chain(&err), "cannot flush the audit log; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            }
        });
        let (seal_wake, mut woken) = mpsc::channel::<()>(1);
        let task_sealer = sealer.clone();
        tokio::spawn(async move {
            while woken.recv().await.is_some() {
                let sealer = task_sealer.clone();
                let result = tokio::task::spawn_blocking(move || {
                    let result = sealer.seal_ready();
                    (sealer, result)
                })
                .await;
                match result {
                    Ok((sealer, Ok(_))) => sealer.stuck.store(false, Ordering::SeqCst),
                    Ok((sealer, Err(err))) => {
                        if !sealer.stuck.swap(true, Ordering::SeqCst) {
                            tracing::error!(error = %err, "cannot seal audit events into a block; queries read them unsealed until this is fixed");
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "the audit sealer panicked"),
                }
            }
        });
        Ok(Arc::new(Audit {
            store,
            head: Mutex::new(head),
            signer,
            durability,
            sealer,
            seal_wake,
            clock: now_ns,
            last_time: AtomicU64::new(0),
        }))
    }

    /// Seals every full block of the tail now, rather than when the
    /// background sealer next runs. Returns how many events were sealed.
    pub fn seal(&self) -> Result<u64, Error> {
        self.sealer.seal_ready().map_err(read_err)
    }

    /// Wakes the sealer when the tail holds a full block.
    fn appended(&self, seq: u64) {
        self.durability.committed.fetch_max(seq, Ordering::SeqCst);
        let sealed_end = self.sealer.sealed_end.load(Ordering::Relaxed);
        if seq + 1 >= sealed_end + u64::from(self.sealer.block_events) {
            let _ = self.seal_wake.try_send(());
        }
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
        // A write the disk may have no room for is refused before it is
        // made (see `Store::check_space`).
        self.store.check_space().map_err(store_err)?;
        // One writer extends the chain at a time; the transaction itself
        // then never conflicts on the head.
        let mut head = self.head.lock();
        let time = self.next_time();
        let result = self
            .store
            .transact(&all, |tx| {
                let (value, new) = change(tx)?;
                let event = event::seal(head.seq + 1, time, &head.hash, new);
                tx.put_raw(RAW, &seq_key(event.seq), &encode(&event)?)?;
                Ok((value, event))
            })
            .map_err(store_err)?;
        *head = ChainPoint {
            seq: result.1.seq,
            hash: result.1.hash.clone(),
        };
        drop(head);
        self.appended(result.1.seq);
        Ok(result)
    }

    /// Appends an event that accompanies no change (a refusal, a sign-in).
    pub fn record(&self, event: NewEvent) -> Result<AuditEvent, Error> {
        self.store.check_space().map_err(store_err)?;
        // No other table changes: one write of one key is atomic on its own.
        let mut head = self.head.lock();
        let event = event::seal(head.seq + 1, self.next_time(), &head.hash, event);
        let bytes = encode(&event).map_err(|e| match e {
            TxError::Abort(e) => e,
            _ => Error::internal("audit log: cannot encode an event"),
        })?;
        self.store
            .put_raw(RAW, &seq_key(event.seq), &bytes)
            .map_err(store_err)?;
        *head = ChainPoint {
            seq: event.seq,
            hash: event.hash.clone(),
        };
        drop(head);
        self.appended(event.seq);
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
        let cut = {
            let mut reader = Reader::new(&self.store);
            query::first_seq_at_or_after(&mut reader, before_ns).map_err(read_err)?
        };
        // Every event is older than the cut: keep the newest, so the head
        // stays on disk.
        let cut = cut.unwrap_or_else(|| self.head().seq);
        self.prune_below(cut)
    }

    /// Removes every event below `cut`. Appends only ever go past the head,
    /// so this needs no append lock; it shares the sealer's, as both rewrite
    /// the old end. Each step (a block, or a run of tail events) is one
    /// atomic batch together with the anchor that names its last event: at
    /// every moment the first remaining event links to the anchor, and an
    /// interrupted prune leaves a log that verifies.
    fn prune_below(&self, cut: u64) -> Result<u64, Error> {
        let _guard = self.sealer.maintenance.lock();
        let mut removed = 0;
        let mut reader = Reader::new(&self.store);
        // Blocks that start below the cut: dropped whole, or cut and sealed
        // again from the cut on.
        while let Some(header) = reader.block_header_at_or_after(0).map_err(read_err)? {
            if header.first >= cut {
                break;
            }
            let block = reader
                .block(header.first)
                .map_err(read_err)?
                .ok_or_else(|| Error::internal("audit log: a block vanished while pruning"))?;
            let mut events = Vec::with_capacity(header.count as usize);
            let mut lines = Vec::with_capacity(header.count as usize);
            for seq in header.first..header.end() {
                let line = block.line(seq).unwrap_or_default();
                events.push(layout::decode_event(seq, line).map_err(read_err)?);
                lines.push(line.to_vec());
            }
            let keep = (cut.min(header.end()) - header.first) as usize;
            let keep = keep..events.len();
            let mut batch = self.store.batch(RAW);
            batch.delete(RAW, &layout::block_key(header.first));
            seal::remove_postings(&mut batch, header.first, &events);
            if !keep.is_empty() {
                seal::write_block(&mut batch, cut, &lines[keep.clone()], &events[keep.clone()])
                    .map_err(read_err)?;
            }
            for event in &events[..keep.start] {
                batch.delete(CHECKPOINTS, &checkpoint_key(event.seq));
            }
            if let Some(last) = events[..keep.start].last() {
                put_anchor(&mut batch, last)?;
            }
            self.store.apply(batch).map_err(store_err)?;
            removed += keep.start as u64;
            if !keep.is_empty() {
                break;
            }
        }
        // Then tail events below the cut, a run at a time.
        while let Some(first) = reader.first_seq().map_err(read_err)?
            && first < cut
        {
            let run = reader
                .events_from(first, 1000)
                .map_err(read_err)?
                .into_iter()
                .filter(|(seq, _)| *seq < cut)
                .collect::<Vec<_>>();
            let Some((last_seq, last_bytes)) = run.last() else {
                break;
            };
            let last = layout::decode_event(*last_seq, last_bytes).map_err(read_err)?;
            let mut batch = self.store.batch(RAW);
            for (seq, _) in &run {
                batch.delete(RAW, &seq_key(*seq));
                batch.delete(CHECKPOINTS, &checkpoint_key(*seq));
            }
            put_anchor(&mut batch, &last)?;
            self.store.apply(batch).map_err(store_err)?;
            removed += run.len() as u64;
        }
        Ok(removed)
    }
}

fn encode(event: &AuditEvent) -> Result<Vec<u8>, TxError> {
    serde_json::to_vec(event).map_err(|e| {
        TxError::Abort(Error::internal(format!(
            "audit log: cannot encode an event: {e}"
        )))
    })
}

/// The last event in the log, else the anchor pruning left, else genesis.
fn last_point(store: &Store) -> Result<ChainPoint, Error> {
    let mut reader = Reader::new(store);
    if let Some(seq) = reader.last_seq().map_err(read_err)?
        && let Some(event) = reader.event(seq).map_err(read_err)?
    {
        return Ok(ChainPoint {
            seq: event.seq,
            hash: event.hash,
        });
    }
    Ok(store
        .get(META, ANCHOR)
        .map_err(store_err)?
        .unwrap_or(ChainPoint {
            seq: 0,
            hash: GENESIS.to_owned(),
        }))
}

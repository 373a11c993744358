//! Checking the chain: every event's hash, every link, and every signed
//! checkpoint, reporting the first sequence number where something is wrong.

use berth_store::Store;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use crate::layout::{self, ReadError, Reader};
use crate::{ANCHOR, CHECKPOINT_PREFIX, CHECKPOINTS, ChainPoint, GENESIS, HEAD, META};
pub use berth_core::audit::{Verification, VerifyProblem};

fn fail(mut v: Verification, seq: u64, problem: VerifyProblem, detail: String) -> Verification {
    v.ok = false;
    v.first_broken_seq = Some(seq);
    v.problem = Some(problem);
    v.detail = Some(detail);
    v
}

impl crate::Audit {
    /// Verifies the whole log against this daemon's checkpoint key.
    pub fn verify(&self) -> Verification {
        verify_store(self.store(), &self.public_key())
    }
}

/// Verifies a store against a checkpoint public key (hex).
pub fn verify_store(store: &Store, public_key: &str) -> Verification {
    let mut v = Verification {
        ok: true,
        events: 0,
        first_seq: None,
        last_seq: None,
        checkpoints: 0,
        first_broken_seq: None,
        problem: None,
        detail: None,
        public_key: public_key.to_owned(),
    };
    let anchor = store.get(META, ANCHOR).ok().flatten();
    let head = store.get(META, HEAD).ok().flatten();
    let mut expected_prev = anchor
        .as_ref()
        .map_or(GENESIS.to_owned(), |a: &ChainPoint| a.hash.clone());
    let mut expected_seq = anchor.as_ref().map_or(1, |a| a.seq + 1);
    let mut reader = Reader::new(store);
    let mut next = 0;
    loop {
        let batch = match reader.events_from(next, 1024) {
            Ok(batch) => batch,
            Err(ReadError::Corrupt(seq, detail)) => {
                return fail(v, seq.max(expected_seq), VerifyProblem::Altered, detail);
            }
            Err(err) => {
                return fail(v, expected_seq, VerifyProblem::Unreadable, err.to_string());
            }
        };
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        for (seq, bytes) in &batch {
            let seq = *seq;
            let event = match layout::decode_event(seq, bytes) {
                Ok(event) => event,
                Err(err) => return fail(v, seq, VerifyProblem::Unreadable, err.to_string()),
            };
            if seq != expected_seq || event.seq != seq {
                return fail(
                    v,
                    expected_seq,
                    VerifyProblem::Missing,
                    format!("expected event {expected_seq}, found {seq}"),
                );
            }
            if crate::event::hash_of(&event) != event.hash {
                return fail(
                    v,
                    seq,
                    VerifyProblem::Altered,
                    "the event does not match its hash".to_owned(),
                );
            }
            if event.prev_hash != expected_prev {
                return fail(
                    v,
                    seq,
                    VerifyProblem::BrokenLink,
                    "prev_hash is not the previous event's hash".to_owned(),
                );
            }
            v.first_seq.get_or_insert(seq);
            v.last_seq = Some(seq);
            v.events += 1;
            expected_prev = event.hash;
            expected_seq = seq + 1;
        }
        next = last + 1;
    }
    if let Some(head) = head
        && v.last_seq.is_some_and(|last| head.seq > last)
    {
        let detail = format!(
            "the log ends at {} but its head says {}",
            v.last_seq.unwrap_or(0),
            head.seq
        );
        return fail(v, head.seq, VerifyProblem::Missing, detail);
    }
    let key = match hex::decode(public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    {
        Some(key) => key,
        None => {
            return fail(
                v,
                0,
                VerifyProblem::BadSignature,
                "the public key is not a valid Ed25519 key".to_owned(),
            );
        }
    };
    let checkpoints = match store.scan(CHECKPOINTS, CHECKPOINT_PREFIX) {
        Ok(list) => list,
        Err(err) => return fail(v, 0, VerifyProblem::Unreadable, err.to_string()),
    };
    for (_, checkpoint) in checkpoints {
        let signature = hex::decode(&checkpoint.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b));
        let message =
            crate::Checkpoint::message(checkpoint.seq, &checkpoint.hash, checkpoint.time_unix_nano);
        if signature.is_none_or(|s| key.verify(&message, &s).is_err()) {
            return fail(
                v,
                checkpoint.seq,
                VerifyProblem::BadSignature,
                "a checkpoint's signature does not verify".to_owned(),
            );
        }
        match reader.event(checkpoint.seq) {
            Ok(Some(event)) if event.hash == checkpoint.hash => {}
            Ok(Some(_)) => {
                return fail(
                    v,
                    checkpoint.seq,
                    VerifyProblem::CheckpointMismatch,
                    "the signed hash differs from the event's".to_owned(),
                );
            }
            Ok(None) => {
                return fail(
                    v,
                    checkpoint.seq,
                    VerifyProblem::CheckpointMismatch,
                    "a signed checkpoint names an event that is gone: the log was cut".to_owned(),
                );
            }
            Err(err) => {
                return fail(
                    v,
                    checkpoint.seq,
                    VerifyProblem::Unreadable,
                    err.to_string(),
                );
            }
        }
        v.checkpoints += 1;
    }
    v
}

//! The sending thread: reads files and puts them on the content lane in
//! order with the control messages queued beside them, whole or as the
//! chunks the receiver lacks.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::chunk::{self, ChunkSig};
use crate::link::{Closed, Outbox};
use crate::path::SyncPath;
use crate::scan::Entry;
use crate::stages::Stage;
use crate::wire::{Control, Message};

/// Work for the thread that reads files and sends them, in order.
#[derive(Debug)]
pub(super) enum Job {
    /// A control message that must stay in order with content.
    Control(Control),
    /// A file's content, as changed chunks against `basis` when it has any.
    Send {
        id: u64,
        path: SyncPath,
        entry: Entry,
        basis: Vec<ChunkSig>,
    },
}

pub(super) fn sender(root: PathBuf, jobs: std::sync::mpsc::Receiver<Job>, outbox: Outbox) {
    for job in jobs {
        let result = match job {
            Job::Control(control) => outbox.blocking(Message::Control(control)),
            Job::Send {
                id,
                path,
                entry,
                basis,
            } => send_file(&root, id, &path, &entry, &basis, &outbox),
        };
        if result.is_err() {
            return;
        }
    }
}

fn send_file(
    root: &Path,
    id: u64,
    path: &SyncPath,
    entry: &Entry,
    basis: &[ChunkSig],
    outbox: &Outbox,
) -> Result<(), Closed> {
    let opened = path
        .under(root)
        .map_err(|e| e.to_string())
        .and_then(|p| std::fs::File::open(p).map_err(|e| format!("cannot read {path}: {e}")));
    let file = match opened {
        Ok(file) => file,
        Err(error) => {
            return outbox.control(Control::Done {
                id,
                path: path.clone(),
                error: Some(error),
            });
        }
    };
    outbox.blocking(Message::Control(Control::Begin {
        id,
        path: path.clone(),
        entry: entry.clone(),
    }))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if basis.is_empty() {
        let mut reader = reader.take(entry.size);
        let mut left = entry.size;
        loop {
            // Blocks no larger than what is left: most files are small.
            let mut block = vec![0u8; left.min(u64::from(chunk::MAX_CHUNK)) as usize];
            let mut filled = 0;
            let reading = outbox.stages().time(Stage::Read);
            while filled < block.len() {
                match reader.read(&mut block[filled..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => filled += n,
                }
            }
            drop(reading);
            if filled == 0 {
                break;
            }
            left = left.saturating_sub(filled as u64);
            block.truncate(filled);
            outbox.blocking(Message::Data(block))?;
        }
    } else {
        let known: HashMap<&str, &ChunkSig> = basis.iter().map(|c| (c.hash.as_str(), c)).collect();
        // Consecutive reused chunks go as one copy.
        let mut run: Option<(u64, u64)> = None;
        for chunk in chunk::chunks(reader.take(entry.size)) {
            let Ok((sig, data)) = chunk else { break };
            match known.get(sig.hash.as_str()).filter(|k| k.len == sig.len) {
                Some(old) => match run.as_mut() {
                    Some((offset, len)) if *offset + *len == old.offset => *len += old.len,
                    _ => {
                        if let Some((offset, len)) = run.replace((old.offset, old.len)) {
                            outbox.blocking(Message::Control(Control::Copy { offset, len }))?;
                        }
                    }
                },
                None => {
                    if let Some((offset, len)) = run.take() {
                        outbox.blocking(Message::Control(Control::Copy { offset, len }))?;
                    }
                    outbox.blocking(Message::Data(data))?;
                }
            }
        }
        if let Some((offset, len)) = run {
            outbox.blocking(Message::Control(Control::Copy { offset, len }))?;
        }
    }
    outbox.blocking(Message::Control(Control::End { id }))
}

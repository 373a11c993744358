//! Where a sync's time goes, per stage of the path a file takes: the
//! scan, the decisions, reading files, waiting for room on the content
//! lane, encoding (and compressing) messages, handing them to the
//! multiplexer, decoding what arrives, and applying it. Each engine end
//! keeps a [`StageClock`] beside its [`Outbox`](crate::Outbox); a stage's
//! time is the wall time its thread or task spent in it, so stages that
//! overlap (the point of a pipeline) add up to more than the run.
//!
//! Timing is two `Instant` reads and two relaxed atomic adds per message:
//! cheap beside the message's own work, and always on, so `berth up` and
//! the agent can say where a slow first sync waited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A stage of a sync, on one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Walking the tree and hashing what changed: the first scan, and
    /// bringing the index up to date with what the watcher reports.
    Scan,
    /// Deciding what goes where (the CLI's end).
    Decide,
    /// Reading files to send them.
    Read,
    /// The sending thread waiting for room on the content lane: what
    /// comes after it is slower.
    SendWait,
    /// Encoding messages (content compressed) for the wire.
    Encode,
    /// Handing encoded bytes to the multiplexer, its flow control's waits
    /// included.
    Write,
    /// Decoding what arrived (content decompressed).
    Decode,
    /// Applying what the peer sent: files written, hashed and renamed into
    /// place, folders, links, removals.
    Apply,
    /// The engine waiting for its next input.
    Idle,
}

/// How many stages there are, and what the log line calls each, in the
/// order of [`Stage`] (its index into these and into [`StageTimes::slots`]).
const LABELS: [&str; 9] = [
    "scan",
    "decide",
    "read",
    "waiting to send",
    "encode",
    "write",
    "decode",
    "apply",
    "idle",
];

/// Wall time spent per stage, as it accumulates.
#[derive(Debug, Default)]
pub struct StageClock {
    nanos: [AtomicU64; LABELS.len()],
}

/// A stage's time, added when dropped.
#[must_use = "the time is counted when the timer is dropped"]
pub struct Timer<'a> {
    clock: &'a StageClock,
    stage: Stage,
    started: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.clock.add(self.stage, self.started.elapsed());
    }
}

impl StageClock {
    /// Times `stage` until the returned timer is dropped.
    pub fn time(&self, stage: Stage) -> Timer<'_> {
        Timer {
            clock: self,
            stage,
            started: Instant::now(),
        }
    }

    pub fn add(&self, stage: Stage, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.nanos[stage as usize].fetch_add(nanos, Ordering::Relaxed);
    }

    /// The times so far.
    pub fn times(&self) -> StageTimes {
        let mut times = StageTimes::default();
        for (slot, nanos) in times.slots().into_iter().zip(&self.nanos) {
            *slot = nanos.load(Ordering::Relaxed) as f64 / 1e9;
        }
        times
    }
}

/// Seconds spent per stage on one end (see [`Stage`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    pub scan_s: f64,
    pub decide_s: f64,
    pub read_s: f64,
    pub send_wait_s: f64,
    pub encode_s: f64,
    pub write_s: f64,
    pub decode_s: f64,
    pub apply_s: f64,
    pub idle_s: f64,
}

impl StageTimes {
    /// Each stage's field, in the order of [`Stage`].
    fn slots(&mut self) -> [&mut f64; LABELS.len()] {
        [
            &mut self.scan_s,
            &mut self.decide_s,
            &mut self.read_s,
            &mut self.send_wait_s,
            &mut self.encode_s,
            &mut self.write_s,
            &mut self.decode_s,
            &mut self.apply_s,
            &mut self.idle_s,
        ]
    }
}

impl std::fmt::Display for StageTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut times = self.clone();
        for (i, (label, seconds)) in LABELS.iter().zip(times.slots()).enumerate() {
            let comma = if i == 0 { "" } else { ", " };
            write!(f, "{comma}{label} {seconds:.3} s")?;
        }
        Ok(())
    }
}

/// Reads the form [`Display`](std::fmt::Display) writes (an agent's log
/// line, read back by benchmarks); stages it does not name stay zero.
impl std::str::FromStr for StageTimes {
    type Err = String;

    fn from_str(text: &str) -> Result<StageTimes, String> {
        let mut times = StageTimes::default();
        for part in text.split(", ") {
            let (name, seconds) = part
                .trim()
                .strip_suffix(" s")
                .and_then(|p| p.rsplit_once(' '))
                .ok_or_else(|| format!("{part:?} is not \"STAGE SECONDS s\""))?;
            let seconds: f64 = seconds
                .parse()
                .map_err(|_| format!("{seconds:?} is not a number of seconds"))?;
            let stage = LABELS
                .iter()
                .position(|label| *label == name)
                .ok_or_else(|| format!("{name:?} is not a sync stage"))?;
            *times.slots()[stage] = seconds;
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_counts_its_own_time() {
        let clock = StageClock::default();
        clock.add(Stage::Apply, Duration::from_millis(1500));
        {
            let _timer = clock.time(Stage::Scan);
            std::thread::sleep(Duration::from_millis(5));
        }
        let times = clock.times();
        assert_eq!(times.apply_s, 1.5);
        assert!(times.scan_s >= 0.005, "{times}");
        assert_eq!(times.decide_s, 0.0);
        assert!(times.to_string().contains("apply 1.500 s"), "{times}");
        let read: StageTimes = times.to_string().parse().expect("read back");
        assert_eq!(read.apply_s, 1.5);
        assert_eq!(read.scan_s, (times.scan_s * 1000.0).round() / 1000.0);
        assert!("apply fast".parse::<StageTimes>().is_err());
        assert!("nap 1.0 s".parse::<StageTimes>().is_err());
    }
}

//! Pacing of bulk frames to the path's delivery rate, so that a first sync
//! does not keep the slowest link's queue full and a keystroke sent
//! meanwhile waits behind a round trip of sync data (or behind TCP's
//! recovery of what the full queue dropped).
//!
//! The model is BBR's (Cardwell et al., "BBR: Congestion-Based Congestion
//! Control", ACM Queue 2016), run on the session's own acknowledgements
//! instead of TCP's: the bottleneck rate is the largest delivery rate of
//! the last [`RATE_ROUNDS`] round trips, the path's delay the smallest round
//! trip, and bulk frames leave at the bottleneck rate times a gain that
//! probes for more now and then and drains what the probe queued. Bulk
//! data in flight is also held under twice the bandwidth-delay product,
//! which leaves room for one round trip of TCP loss recovery without
//! stalling. Interactive frames are never paced; they only count in what
//! the path delivered.
//!
//! A sample's rate is the bytes acknowledged between a frame's sending and
//! its acknowledgement over the longer of the two spans it took to send
//! them and to acknowledge them, as in BBR's delivery-rate estimation
//! (draft-cheng-iccrg-delivery-rate-estimation), so acknowledgements that
//! arrive in a burst do not read as a faster path.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::frame::MAX_DATA;

/// Round trips whose best delivery rate stands as the bottleneck's.
const RATE_ROUNDS: u64 = 10;
/// The gain with which the start-up phase doubles its rate each round.
/// BBR's 2/ln 2 (2.885) overshoots the path by almost two round trips of
/// data in its last round, more than a path's queue often holds; TCP's
/// slow-start factor of 2 overshoots by one.
const STARTUP_GAIN: f64 = 2.0;
/// The probe cycle once the bottleneck is known: a round at 5/4 of it to
/// find more, a round at 3/4 to drain what that queued, six at the rate.
const CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Bulk bytes in flight before any rate was measured.
const INITIAL_FLIGHT: u64 = 4 * MAX_DATA as u64;
/// How far ahead of its schedule a frame may leave: timers wake in
/// milliseconds, and a fast path would otherwise be held to one frame
/// per wake-up.
const HORIZON: Duration = Duration::from_millis(2);
/// Round-trip variation that is not a queue: timers and scheduling.
const QUEUE_NOISE: Duration = Duration::from_millis(2);

/// What the pacer knew when a frame left, kept with the frame until it is
/// acknowledged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    at: Instant,
    /// Bytes acknowledged by then, and when that count last moved.
    delivered: u64,
    delivered_at: Instant,
    /// When the newest acknowledged frame had been sent, by then.
    first_sent_at: Instant,
    /// The sender, not the path, set the pace (it had run dry since what
    /// was then in flight left, or the pacer was draining), so a low rate
    /// says nothing about the path.
    app_limited: bool,
}

impl Sent {
    pub(crate) fn at(&self) -> Instant {
        self.at
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Doubling each round until the rate stops growing by a quarter for
    /// three rounds.
    Startup { best: f64, flat_rounds: u32 },
    /// Sending below the rate until what start-up queued has drained.
    Drain,
    /// Cycling through [`CYCLE`], one phase per round trip; `drained`
    /// says this cycle already drained a standing queue out of turn.
    Probe {
        index: usize,
        since: Instant,
        drained: bool,
    },
}

/// Whether a bulk frame may leave now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    /// Not before this instant.
    Until(Instant),
    /// Not before more is acknowledged.
    Full,
}

pub(crate) struct Pacer {
    delivered: u64,
    delivered_at: Instant,
    first_sent_at: Instant,
    /// The best rate of each recent round, bytes per second, newest last.
    rates: VecDeque<(u64, f64)>,
    round: u64,
    /// A round ends when a frame sent after this much was delivered is
    /// acknowledged.
    round_ends_at: u64,
    phase: Phase,
    /// When the next bulk frame is due.
    next_send: Instant,
    /// The smallest round trip a frame took in the current round, and of
    /// how many acknowledgements.
    round_min_rtt: Option<(Duration, u32)>,
    /// Frames sent before this much is delivered left at the sender's
    /// pace, not the path's.
    app_limited_until: u64,
    /// The last frame sent left nothing behind it.
    ran_dry: bool,
}

impl Pacer {
    pub(crate) fn new(now: Instant) -> Pacer {
        Pacer {
            delivered: 0,
            delivered_at: now,
            first_sent_at: now,
            rates: VecDeque::new(),
            round: 0,
            round_ends_at: 0,
            phase: Phase::Startup {
                best: 0.0,
                flat_rounds: 0,
            },
            next_send: now,
            round_min_rtt: None,
            app_limited_until: 0,
            ran_dry: true,
        }
    }

    /// The bottleneck rate in bytes per second, once one was measured.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.rates
            .iter()
            .map(|(_, rate)| *rate)
            .max_by(f64::total_cmp)
            .filter(|rate| *rate > 0.0)
    }

    fn gains(&self) -> (f64, f64) {
        match self.phase {
            Phase::Startup { .. } => (STARTUP_GAIN, STARTUP_GAIN),
            Phase::Drain => (1.0 / STARTUP_GAIN, STARTUP_GAIN),
            Phase::Probe { index, .. } => (CYCLE[index], 2.0),
        }
    }

    /// The bytes the path holds (bandwidth-delay product) on a path of
    /// `min_rtt`, once both are known.
    fn bdp(&self, min_rtt: Option<Duration>) -> Option<f64> {
        Some(self.rate()? * min_rtt?.as_secs_f64())
    }

    /// The bulk bytes that may be in flight on a path of `min_rtt`.
    fn flight_limit(&self, min_rtt: Option<Duration>, ack_delay: Duration) -> u64 {
        let (Some(rate), Some(bdp)) = (self.rate(), self.bdp(min_rtt)) else {
            return INITIAL_FLIGHT;
        };
        let (_, flight_gain) = self.gains();
        // The peer acknowledges in batches: what arrives while an
        // acknowledgement is held back is in flight too.
        let batching = rate * ack_delay.as_secs_f64();
        (flight_gain * bdp + batching) as u64 + 2 * MAX_DATA as u64
    }

    /// Whether a bulk frame may leave at `now` with `in_flight` bytes
    /// unacknowledged.
    pub(crate) fn gate(
        &self,
        now: Instant,
        in_flight: usize,
        min_rtt: Option<Duration>,
        ack_delay: Duration,
    ) -> Gate {
        if in_flight as u64 >= self.flight_limit(min_rtt, ack_delay) {
            Gate::Full
        } else if self.next_send > now + HORIZON {
            Gate::Until(self.next_send - HORIZON)
        } else {
            Gate::Open
        }
    }

    /// Notes a frame of `len` bytes leaving at `now` with `in_flight`
    /// bytes (itself included) unacknowledged; `bulk` frames move the
    /// schedule, and `dry` says no bulk frame waits behind this one.
    /// Returns what to keep with the frame.
    pub(crate) fn sent(
        &mut self,
        now: Instant,
        len: usize,
        in_flight: usize,
        bulk: bool,
        dry: bool,
    ) -> Sent {
        let (pace_gain, _) = self.gains();
        if in_flight <= len {
            // Nothing else in flight: a sample starts now, not at the
            // last acknowledgement before the path went idle.
            self.delivered_at = now;
            self.first_sent_at = now;
        }
        if dry || self.ran_dry {
            // The sender ran dry (after this frame, or before it and now
            // has a little more): frames sent until what is in flight now
            // is acknowledged go out at the sender's pace, not the path's
            // (BBR's "application-limited" marking).
            self.app_limited_until = self.delivered + in_flight as u64;
        }
        self.ran_dry = dry;
        if bulk && let Some(rate) = self.rate() {
            let spacing = Duration::from_secs_f64(len as f64 / (rate * pace_gain));
            self.next_send = self.next_send.max(now) + spacing;
        }
        Sent {
            at: now,
            delivered: self.delivered,
            delivered_at: self.delivered_at,
            first_sent_at: self.first_sent_at,
            // Sent while draining: the pacer held the rate down, so the
            // sample says as little about the path as an idle sender's.
            app_limited: self.delivered < self.app_limited_until || pace_gain < 1.0,
        }
    }

    /// Notes `bytes` acknowledged at `now`, the newest of them sent as
    /// `newest` says; `min_rtt` is the path's smallest round trip.
    pub(crate) fn acknowledged(
        &mut self,
        now: Instant,
        bytes: u64,
        newest: Sent,
        min_rtt: Option<Duration>,
        in_flight: usize,
    ) {
        self.delivered += bytes;
        self.delivered_at = now;
        self.first_sent_at = newest.at;
        let rtt = now.saturating_duration_since(newest.at);
        let (least, samples) = self
            .round_min_rtt
            .map_or((rtt, 0), |(least, n)| (least.min(rtt), n));
        self.round_min_rtt = Some((least, samples + 1));
        let queue_stands = |least: Duration| {
            min_rtt.is_some_and(|min_rtt| least > min_rtt + (min_rtt / 4).max(QUEUE_NOISE))
        };
        if matches!(self.phase, Phase::Startup { .. }) && samples + 1 >= 3 && queue_stands(least) {
            // Start-up has filled the pipe: every frame this round found
            // a queue. Leaving now, not at the round's end, spares the
            // path a round trip of data at twice its rate.
            self.phase = Phase::Drain;
        }
        let send_span = newest.at.saturating_duration_since(newest.first_sent_at);
        let ack_span = now.saturating_duration_since(newest.delivered_at);
        let span = send_span.max(ack_span).as_secs_f64();
        if span > 0.0 {
            let rate = (self.delivered - newest.delivered) as f64 / span;
            // A sender that had nothing to send measured itself, not the
            // path: its sample only counts if it beats what the path did.
            if !newest.app_limited || self.rate().is_some_and(|best| rate >= best) {
                self.note_rate(rate);
            }
        }
        if newest.delivered >= self.round_ends_at {
            self.round += 1;
            self.round_ends_at = self.delivered;
            let queued = self
                .round_min_rtt
                .take()
                .is_some_and(|(least, _)| queue_stands(least));
            self.round_ended(now, min_rtt, in_flight, queued);
        }
        if let Phase::Probe {
            index,
            since,
            drained,
        } = self.phase
        {
            let bdp = self.bdp(min_rtt).unwrap_or(0.0);
            let lasted = min_rtt.is_some_and(|rtt| now - since >= rtt);
            // The draining phase also ends once the probe's queue is gone.
            let empty = CYCLE[index] < 1.0 && (in_flight as f64) <= bdp;
            if lasted || empty {
                let index = (index + 1) % CYCLE.len();
                self.phase = Phase::Probe {
                    index,
                    since: now,
                    drained: drained && index != 0,
                };
            }
        }
    }

    fn note_rate(&mut self, rate: f64) {
        match self.rates.back_mut() {
            Some((round, best)) if *round == self.round => *best = best.max(rate),
            _ => self.rates.push_back((self.round, rate)),
        }
        while self
            .rates
            .front()
            .is_some_and(|(round, _)| round + RATE_ROUNDS <= self.round)
        {
            self.rates.pop_front();
        }
    }

    /// Moves between phases at the end of a round trip; `queued` says
    /// every frame of the round took a quarter of the path's delay more
    /// (a queue stood at the bottleneck all round).
    fn round_ended(
        &mut self,
        now: Instant,
        min_rtt: Option<Duration>,
        in_flight: usize,
        queued: bool,
    ) {
        let rate = self.rate().unwrap_or(0.0);
        let bdp = self.bdp(min_rtt).unwrap_or(0.0);
        self.phase = match self.phase {
            // The pipe is full when the queue stands or the rate stops
            // growing by a quarter for three rounds.
            Phase::Startup { .. } if queued => Phase::Drain,
            Phase::Startup { best, .. } if rate >= best * 1.25 => Phase::Startup {
                best: rate,
                flat_rounds: 0,
            },
            Phase::Startup { best, flat_rounds } if flat_rounds + 1 < 3 => Phase::Startup {
                best,
                flat_rounds: flat_rounds + 1,
            },
            Phase::Startup { .. } => Phase::Drain,
            Phase::Drain if (in_flight as f64) > bdp => Phase::Drain,
            Phase::Drain => Phase::Probe {
                index: 2,
                since: now,
                drained: false,
            },
            // A rate measured a little high builds a standing queue slowly:
            // drain it now, once a cycle, so the cycle's probe for more
            // still comes.
            Phase::Probe {
                index,
                drained: false,
                ..
            } if queued && index >= 2 => Phase::Probe {
                index: 1,
                since: now,
                drained: true,
            },
            probe @ Phase::Probe { .. } => probe,
        };
    }
}

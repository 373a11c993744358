//! The first sync's progress as a user reads it on a slow link: what is
//! done of the whole (bytes and files), the current rate and the time
//! left. On a terminal it is a bar (indicatif, which also keeps the rate
//! and the estimate); otherwise a plain line every two seconds, with the
//! rate over the last few seconds rather than since the start.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use berth_sync::engine::Status;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::bytes;

/// What the folders' syncs have done and still have to do, together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Totals {
    pub files_done: u64,
    pub files: u64,
    pub bytes_done: u64,
    pub bytes: u64,
}

impl Totals {
    pub fn of(statuses: &[Status]) -> Totals {
        let mut t = Totals::default();
        for s in statuses {
            t.files_done += s.files_done;
            t.files += s.files_done + s.files_pending;
            t.bytes_done += s.bytes_done;
            t.bytes += s.bytes_done + s.bytes_pending;
        }
        t
    }
}

/// The bar on a terminal: done of the whole, files, the rate and the time
/// left (indicatif estimates both from the recent past).
const BAR: &str = "Syncing [{bar:24}] {binary_bytes}/{binary_total_bytes} {msg} {binary_bytes_per_sec}, {eta} left";

/// Plain lines come this often.
const LINE_EVERY: Duration = Duration::from_secs(2);
/// The plain line's rate is over this much of the recent past.
const RATE_OVER: Duration = Duration::from_secs(5);

pub(super) struct Progress {
    bar: Option<ProgressBar>,
    samples: VecDeque<(Instant, u64)>,
    last_line: Option<Instant>,
}

impl Progress {
    pub fn new(tty: bool) -> Progress {
        let bar = tty.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(BAR)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            samples: VecDeque::new(),
            last_line: None,
        }
    }

    pub fn update(&mut self, totals: Totals) {
        let now = Instant::now();
        self.samples.push_back((now, totals.bytes_done));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now - *at > RATE_OVER)
        {
            self.samples.pop_front();
        }
        if let Some(bar) = &self.bar {
            bar.set_length(totals.bytes);
            bar.set_position(totals.bytes_done);
            bar.set_message(format!("({} of {} files)", totals.files_done, totals.files));
            return;
        }
        if self.last_line.is_some_and(|at| now - at < LINE_EVERY) {
            return;
        }
        self.last_line = Some(now);
        eprintln!("{}", self.line(totals));
    }

    /// `Syncing: 120.4 MB of 200.0 MB, 5210 of 10000 files, 12.5 MB/s, about 7s left`.
    fn line(&self, t: Totals) -> String {
        let mut line = format!(
            "Syncing: {} of {}, {} of {} files",
            bytes(t.bytes_done),
            bytes(t.bytes),
            t.files_done,
            t.files
        );
        if let Some(rate) = self.rate() {
            line.push_str(&format!(", {}/s", bytes(rate as u64)));
            if rate > 0.0 {
                let left = t.bytes.saturating_sub(t.bytes_done) as f64 / rate;
                line.push_str(&format!(", about {}s left", left.ceil() as u64));
            }
        }
        line
    }

    /// Bytes a second over the recent past, once there is a past.
    fn rate(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let secs = (last.0 - first.0).as_secs_f64();
        (secs >= 0.5).then(|| last.1.saturating_sub(first.1) as f64 / secs)
    }

    /// Prints a line of its own without breaking the bar.
    pub fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Takes the bar away (the sync is done or stopped).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(files_done: u64, bytes_done: u64, files_pending: u64, bytes_pending: u64) -> Status {
        Status {
            files_done,
            bytes_done,
            files_pending,
            bytes_pending,
            ..Status::default()
        }
    }

    #[test]
    fn the_bar_template_is_one_indicatif_reads() {
        assert!(ProgressStyle::with_template(BAR).is_ok());
    }

    #[test]
    fn totals_add_up_done_and_pending_across_folders() {
        let totals = Totals::of(&[status(3, 300, 7, 700), status(1, 50, 0, 0)]);
        assert_eq!(
            totals,
            Totals {
                files_done: 4,
                files: 11,
                bytes_done: 350,
                bytes: 1050,
            }
        );
    }

    #[test]
    fn a_plain_line_says_what_is_done_of_the_whole_the_rate_and_the_time_left() {
        let mut progress = Progress::new(false);
        let start = Instant::now();
        // 10 MB done two seconds ago, 30 MB now: 10 MB/s over the window.
        progress
            .samples
            .push_back((start - Duration::from_secs(2), 10_000_000));
        progress.samples.push_back((start, 30_000_000));
        let line = progress.line(Totals {
            files_done: 1500,
            files: 10_000,
            bytes_done: 30_000_000,
            bytes: 200_000_000,
        });
        assert_eq!(
            line,
            "Syncing: 30.0 MB of 200.0 MB, 1500 of 10000 files, 10.0 MB/s, about 17s left"
        );
    }

    #[test]
    fn a_plain_line_has_no_rate_before_there_is_a_past() {
        let mut progress = Progress::new(false);
        progress.samples.push_back((Instant::now(), 0));
        let line = progress.line(Totals {
            files_done: 0,
            files: 2,
            bytes_done: 0,
            bytes: 2_000,
        });
        assert_eq!(line, "Syncing: 0 B of 2.0 kB, 0 of 2 files");
    }
}

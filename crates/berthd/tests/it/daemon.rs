//! The daemon under test, as a real process.

use std::path::Path;

pub use berth_testkit::{DaemonProcess as Daemon, wait_with_deadline};

pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");

pub fn start() -> Daemon {
    Daemon::start(Path::new(BERTHD)).expect("berthd starts")
}

pub fn start_in(data_dir: &Path) -> Daemon {
    Daemon::start_in(Path::new(BERTHD), data_dir, &[]).expect("berthd starts")
}

//! End-to-end tests of the `berthd` binary, run as a real process.

mod console;
mod crash;
mod daemon;
mod dev;
mod lifecycle;
mod secrets;

//! End-to-end tests of the `berthd` binary, run as a real process.

mod console;
mod contract;
mod crash;
mod daemon;
mod dev;
mod kubernetes;
mod lifecycle;
mod samples;
mod secrets;

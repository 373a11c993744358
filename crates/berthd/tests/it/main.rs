//! End-to-end tests of the `berthd` binary, run as a real process.

mod console;
mod contract;
mod crash;
mod daemon;
mod data_dir;
mod dev;
mod endpoints;
mod image;
mod in_cluster;
mod kubernetes;
mod lifecycle;
mod samples;
mod secrets;

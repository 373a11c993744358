//! SSH into a dev container, as `ssh`, `scp` and editors do it after
//! `berth ssh-config`: OpenSSH with `berth ssh --stdio` as its
//! ProxyCommand, through a release `berthd`'s relay to the agent's SSH
//! server (run in the daemon, on a folder). Measures a command's round
//! trip (a new SSH connection each: the relay attach and the handshake
//! included), and 200 MB each way over SFTP (`scp`) and over one channel
//! (`ssh host cat`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::Latency;
use crate::sync::Rig;

const BYTES: usize = 200 << 20;
const COMMANDS: usize = 20;

#[derive(Serialize)]
pub struct SshBench {
    /// `ssh HOST true`, a new connection each time.
    pub command_latency: Latency,
    pub bytes: u64,
    pub scp_up_mb_s: f64,
    pub scp_down_mb_s: f64,
    /// `ssh HOST cat FILE > /dev/null`: one channel's throughput.
    pub ssh_cat_mb_s: f64,
}

pub async fn run(berthd: &Path, berth: &Path) -> anyhow::Result<SshBench> {
    if !berth.is_file() {
        bail!(
            "no berth CLI at {} (build it: cargo build --release -p berth-cli)",
            berth.display()
        );
    }
    let rig = Rig::start(berthd, "127.0.0.1:0").await?;
    let host = format!("{}.berth", rig.session_id);
    let proxy = format!(
        "ProxyCommand={} ssh --stdio {}",
        berth.display(),
        rig.session_id
    );
    let tool = |program: &str| {
        let mut command = Command::new(program);
        command
            .args(["-F", "/dev/null", "-o", &proxy, "-o", "BatchMode=yes"])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "LogLevel=ERROR"])
            .env("BERTH_URL", &rig.daemon.url)
            .env("BERTH_TOKEN", &rig.token)
            .env("HOME", rig.temp.path())
            .stdin(Stdio::null());
        command
    };
    let timed = |mut command: Command, what: &str| -> anyhow::Result<f64> {
        let started = Instant::now();
        let out = command
            .output()
            .with_context(|| format!("cannot run {what}"))?;
        if !out.status.success() {
            bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(started.elapsed().as_secs_f64())
    };

    let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
    for _ in 0..COMMANDS {
        let mut command = tool("ssh");
        command.args([&host, "true"]);
        let seconds = tokio::task::block_in_place(|| timed(command, "ssh HOST true"))?;
        histogram.record((seconds * 1e6) as u64)?;
    }

    let local = rig.temp.path().join("ssh-bench");
    std::fs::create_dir_all(&local)?;
    let payload: Vec<u8> = (0..BYTES)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let up = local.join("up.bin");
    std::fs::write(&up, &payload)?;
    let mb = |seconds: f64| BYTES as f64 / 1e6 / seconds;

    let mut command = tool("scp");
    command.arg(&up).arg(format!("{host}:ssh-bench.bin"));
    let scp_up = tokio::task::block_in_place(|| timed(command, "scp up"))?;
    let landed = rig.remote_root.join("ssh-bench.bin");
    if std::fs::metadata(&landed)?.len() != BYTES as u64 {
        bail!("scp up landed {} of a different size", landed.display());
    }

    let down = local.join("down.bin");
    let mut command = tool("scp");
    command.arg(format!("{host}:ssh-bench.bin")).arg(&down);
    let scp_down = tokio::task::block_in_place(|| timed(command, "scp down"))?;
    if std::fs::read(&down)? != payload {
        bail!("scp down brought back other bytes");
    }

    let mut command = tool("ssh");
    command
        .args([&host, "cat ssh-bench.bin"])
        .stdout(Stdio::null());
    let cat = tokio::task::block_in_place(|| timed(command, "ssh HOST cat"))?;

    Ok(SshBench {
        command_latency: Latency::from_micros(&histogram),
        bytes: BYTES as u64,
        scp_up_mb_s: mb(scp_up),
        scp_down_mb_s: mb(scp_down),
        ssh_cat_mb_s: mb(cat),
    })
}

//! The inner loop over an emulated network: the CLI's side of a dev
//! session in a network namespace of its own, joined to a release `berthd`
//! by the user-space link emulator of `berth_testkit::wan`, one run per
//! link profile, each next to a plain TCP transfer over the same link.
//!
//! Per profile:
//! - one port-forwarded stream (a download through the relay and the
//!   agent, as a browser reads a web app) against one TCP stream over the
//!   same link: `forward_ratio_to_tcp`;
//! - the first sync of 10,000 files / 200 MB against `tar | nc` of the
//!   same tree over the same link: `first_sync_ratio_to_tcp`;
//! - the echo of a keystroke through `cat` in an exec stream (a shell's
//!   echo), while that first sync runs and with nothing else going on:
//!   `shell_echo_p99_ms`, `shell_echo_idle_p99_ms`;
//! - saves until they are in the container's folder: `save_p50_ms`,
//!   `save_p99_ms`;
//! - on the `wan` profile, a 20 s blackout in the middle of a first sync:
//!   `outage_recovered`, and `outage_recover_seconds` from the link's
//!   return until file content moves again.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_dial as dial;
use berth_proto::exec::{Decoder, ExecMessage};
use berth_proto::{ExecOpen, PortForwardOpen};
use berth_testkit::wan::{Profile, Wan};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Latency;
use crate::sync::{Rig, fill, open, tar_over};

const FILES: usize = 10_000;
const BYTES: usize = 200_000_000;
const SAVES: usize = 30;
const IDLE_ECHOES: usize = 50;
const BUSY_ECHOES: usize = 200;
const BLACKOUT: Duration = Duration::from_secs(20);

#[derive(Serialize)]
pub struct WanBench {
    pub files: usize,
    pub bytes: usize,
    pub profiles: Vec<ProfileRun>,
}

#[derive(Serialize)]
pub struct ProfileRun {
    pub profile: &'static str,
    pub rtt_ms: f64,
    pub mbit_per_s: f64,
    pub loss: f64,
    pub bandwidth_delay_bytes: u64,
    /// Bytes of the stream transfers below.
    pub stream_bytes: u64,
    pub tcp_mb_per_s: f64,
    pub forward_mb_per_s: f64,
    pub forward_ratio_to_tcp: f64,
    pub tcp_copy_seconds: f64,
    pub first_sync_seconds: f64,
    pub first_sync_ratio_to_tcp: f64,
    pub save_p50_ms: f64,
    pub save_p99_ms: f64,
    pub shell_echo_p99_ms: f64,
    pub shell_echo_samples: u64,
    pub shell_echo_idle_p99_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_recovered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_recover_seconds: Option<f64>,
}

/// The laptop's runtime, shut down without waiting when the run ends,
/// early or not (dropping a runtime inside another one's task panics).
struct Laptop(Option<tokio::runtime::Runtime>);

impl Drop for Laptop {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram bounds")
}

/// A server that answers each connection's 8-byte length with that many
/// bytes: the far end of both the TCP reference and the forward.
async fn source(listener: tokio::net::TcpListener) {
    let chunk = vec![0x5au8; 1 << 16];
    while let Ok((mut socket, _)) = listener.accept().await {
        let chunk = chunk.clone();
        tokio::spawn(async move {
            let Ok(mut left) = socket.read_u64().await else {
                return;
            };
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if socket.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n as u64;
            }
            let _ = socket.shutdown().await;
        });
    }
}

/// MB/s of `bytes` read from a TCP connection the laptop makes to `addr`.
async fn tcp_download(
    laptop: &tokio::runtime::Handle,
    addr: SocketAddr,
    bytes: u64,
) -> anyhow::Result<f64> {
    laptop
        .spawn(async move {
            let started = Instant::now();
            let mut socket = tokio::net::TcpStream::connect(addr).await?;
            socket.write_u64(bytes).await?;
            let mut buf = vec![0u8; 1 << 16];
            let mut got = 0u64;
            while got < bytes {
                let n = socket.read(&mut buf).await?;
                if n == 0 {
                    bail!("the TCP source ended after {got} of {bytes} bytes");
                }
                got += n as u64;
            }
            Ok(bytes as f64 / 1e6 / started.elapsed().as_secs_f64())
        })
        .await?
}

/// MB/s of `bytes` read through a port-forward to `port` at the agent.
async fn forward_download(session: &dial::Session, port: u16, bytes: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut stream = session
        .mux
        .open_with(&PortForwardOpen { port, host: None })
        .await?;
    stream.send(&bytes.to_be_bytes()).await?;
    let mut got = 0u64;
    while got < bytes {
        match stream.recv().await {
            Some(Ok(data)) => got += data.len() as u64,
            Some(Err(e)) => bail!("the forward failed after {got} bytes: {e}"),
            None => bail!("the forward ended after {got} of {bytes} bytes"),
        }
    }
    Ok(bytes as f64 / 1e6 / started.elapsed().as_secs_f64())
}

/// A shell's echo: `cat` in an exec stream, one key at a time.
struct Echo {
    stream: berth_proto::mux::Stream,
    decoder: Decoder,
}

impl Echo {
    async fn start(session: &dial::Session) -> anyhow::Result<Echo> {
        let stream = session
            .mux
            .open_with(&ExecOpen {
                command: vec!["cat".to_owned()],
                tty: false,
                cols: None,
                rows: None,
                term: None,
            })
            .await?;
        Ok(Echo {
            stream,
            decoder: Decoder::default(),
        })
    }

    /// The round trip of one key, in microseconds.
    async fn key(&mut self) -> anyhow::Result<u64> {
        let started = Instant::now();
        self.stream
            .send(&ExecMessage::Stdin(b"k".to_vec()).encode())
            .await?;
        loop {
            let data = match self.stream.recv().await {
                Some(Ok(data)) => data,
                Some(Err(e)) => bail!("the exec stream failed: {e}"),
                None => bail!("the exec stream ended"),
            };
            for message in self.decoder.push(&data)? {
                match message {
                    ExecMessage::Stdout(out) if out.contains(&b'k') => {
                        return Ok(started.elapsed().as_micros() as u64);
                    }
                    ExecMessage::Failed(reason) => bail!("cat did not start: {reason}"),
                    ExecMessage::Exit(code) => bail!("cat exited with {code}"),
                    _ => {}
                }
            }
        }
    }

    async fn keys(
        &mut self,
        count: usize,
        until: Option<&AtomicBool>,
    ) -> anyhow::Result<Histogram<u64>> {
        let mut h = histogram()?;
        for _ in 0..count {
            if until.is_some_and(|done| done.load(Ordering::Relaxed)) {
                break;
            }
            h.record(self.key().await?.max(1))?;
            // A typist's pace.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(h)
    }
}

pub async fn run(berthd: &Path, profiles: &[Profile]) -> anyhow::Result<WanBench> {
    let first = *profiles.first().context("no WAN profile chosen")?;
    let wan = Wan::new(first)?;
    let rig = Rig::start(berthd, &format!("{}:0", wan.server())).await?;
    let laptop = Laptop(Some(wan.runtime(2)?));
    let laptop = laptop.0.as_ref().context("the laptop's runtime")?;
    let session = {
        let (url, token, id) = (
            rig.daemon.url.clone(),
            rig.token.clone(),
            rig.session_id.clone(),
        );
        laptop
            .spawn(async move { crate::sync::attach(&url, &token, &id).await })
            .await??
    };
    // The forward's far end at the agent (this machine's loopback, where
    // the local agent dials), and the TCP reference's at the server's end.
    let agent_side = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let agent_port = agent_side.local_addr()?.port();
    tokio::spawn(source(agent_side));
    let server_side = tokio::net::TcpListener::bind((wan.server(), 0)).await?;
    let server_addr = server_side.local_addr()?;
    tokio::spawn(source(server_side));

    let local = rig.temp.path().join("tree");
    fill(&local, FILES, BYTES, 1)?;
    let state = rig.temp.path().join("state");
    let mut runs = Vec::new();
    for profile in profiles {
        wan.set_profile(*profile);
        eprintln!("wan: profile {}", profile.name);
        let stream_bytes = ((profile.bytes_per_s() * 5.0) as u64).max(16 << 20);
        let tcp = tcp_download(laptop.handle(), server_addr, stream_bytes)
            .await
            .context("the TCP reference stream")?;
        let forward = forward_download(&session, agent_port, stream_bytes)
            .await
            .context("the forwarded stream")?;

        let copy = rig.temp.path().join("tar-copy");
        let tcp_copy_seconds = {
            let (from, to, ns_wan) = (local.clone(), copy.clone(), &wan);
            tokio::task::block_in_place(|| {
                tar_over(&from, &to, ns_wan.server(), |addr| {
                    std::thread::scope(|scope| {
                        scope
                            .spawn(|| -> anyhow::Result<std::net::TcpStream> {
                                ns_wan.enter()?;
                                Ok(std::net::TcpStream::connect(addr)?)
                            })
                            .join()
                            .map_err(|_| anyhow::anyhow!("the laptop thread panicked"))?
                    })
                })
            })
            .context("the tar reference copy")?
        };
        std::fs::remove_dir_all(&copy)?;

        let mut echo = Echo::start(&session).await?;
        let idle = echo.keys(IDLE_ECHOES, None).await?;
        let remote = format!("/first-{}", profile.name);
        let started = Instant::now();
        let side = open(
            &session,
            &local,
            &remote,
            state.join(format!("{}.json", profile.name)),
        )
        .await?;
        let done = Arc::new(AtomicBool::new(false));
        let busy = {
            let done = done.clone();
            tokio::spawn(async move { echo.keys(BUSY_ECHOES, Some(&done)).await })
        };
        side.settled(Duration::from_secs(3600)).await?;
        let first_sync_seconds = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        let busy = busy.await??;

        let mut saves = histogram()?;
        let there = rig.remote_root.join(remote.trim_start_matches('/'));
        for i in 0..SAVES {
            let content = format!("save {i} at {:?}\n", Instant::now());
            let name = format!("d{:03}/save.txt", i % 7);
            let saved = Instant::now();
            std::fs::write(local.join(&name), &content)?;
            let until = saved + Duration::from_secs(30);
            while !std::fs::read(there.join(&name)).is_ok_and(|b| b == content.as_bytes()) {
                if Instant::now() > until {
                    bail!("save {i} did not arrive over {}", profile.name);
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            saves.record((saved.elapsed().as_micros() as u64).max(1))?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        side.settled(Duration::from_secs(60)).await?;
        side.stop().await?;

        let (outage_recovered, outage_recover_seconds) = if profile.name == "wan" {
            let (ok, seconds) = outage(&wan, &session, &local, &state, &rig.remote_root).await?;
            (Some(ok), seconds)
        } else {
            (None, None)
        };
        let busy_latency = Latency::from_micros(&busy);
        let idle_latency = Latency::from_micros(&idle);
        let saves = Latency::from_micros(&saves);
        runs.push(ProfileRun {
            profile: profile.name,
            rtt_ms: profile.rtt.as_secs_f64() * 1000.0,
            mbit_per_s: profile.bits_per_s as f64 / 1e6,
            loss: profile.loss,
            bandwidth_delay_bytes: profile.bandwidth_delay_bytes(),
            stream_bytes,
            tcp_mb_per_s: tcp,
            forward_mb_per_s: forward,
            forward_ratio_to_tcp: forward / tcp,
            tcp_copy_seconds,
            first_sync_seconds,
            first_sync_ratio_to_tcp: first_sync_seconds / tcp_copy_seconds,
            save_p50_ms: saves.p50_ms,
            save_p99_ms: saves.p99_ms,
            shell_echo_p99_ms: busy_latency.p99_ms,
            shell_echo_samples: busy_latency.samples,
            shell_echo_idle_p99_ms: idle_latency.p99_ms,
            outage_recovered,
            outage_recover_seconds,
        });
        eprintln!(
            "wan: {}",
            serde_json::to_string(runs.last().expect("just pushed"))?
        );
    }
    session.task.abort();
    Ok(WanBench {
        files: FILES,
        bytes: BYTES,
        profiles: runs,
    })
}

/// A first sync with the link down for [`BLACKOUT`] once a third of it
/// has gone: whether it completes by itself, and the seconds from the
/// link's return until content moves again.
async fn outage(
    wan: &Wan,
    session: &dial::Session,
    local: &Path,
    state: &Path,
    remote_root: &Path,
) -> anyhow::Result<(bool, Option<f64>)> {
    let side = open(session, local, "/outage", state.join("outage.json")).await?;
    let until = Instant::now() + Duration::from_secs(600);
    while side.status().bytes_done < (BYTES / 3) as u64 {
        if Instant::now() > until {
            bail!(
                "the outage run's sync did not reach a third: {:?}",
                side.status()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wan.set_down(true);
    tokio::time::sleep(BLACKOUT).await;
    let stalled = side.status().bytes_done;
    wan.set_down(false);
    let back = Instant::now();
    let mut moving = None;
    let until = back + Duration::from_secs(600);
    while moving.is_none() && Instant::now() < until {
        let status = side.status();
        if status.bytes_done > stalled || status.pending == 0 {
            moving = Some(back.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let settled = side.settled(Duration::from_secs(600)).await;
    let complete =
        settled.is_ok() && crate::sync::count_files(&remote_root.join("outage")) >= FILES;
    if let Err(e) = &settled {
        eprintln!("wan: the sync did not recover from the blackout: {e:#}");
    }
    side.stop().await?;
    Ok((complete, moving.filter(|_| complete)))
}

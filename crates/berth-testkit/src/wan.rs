//! A network link with a round-trip delay, a rate and loss between this
//! machine and a network namespace of its own: the laptop end of a
//! developer's connection to a cluster, for the WAN benchmarks and tests.
//!
//! The kernel here has no `netem` qdisc, so the link is emulated in user
//! space. A TUN device in the root namespace (the server's end) and one in
//! the laptop's namespace are joined by two threads per direction: one
//! reads each IP packet from a device, drops it at the loss rate, when the
//! link is down, or when the link's queue already holds a round trip's
//! worth of packets, and stamps it with its departure (its serialisation
//! at the link's rate, after the packets before it) plus the one-way delay;
//! the other writes it to the other device at that time. TCP and TLS run
//! over it exactly as over a real link, with their own slow start,
//! retransmission and congestion control.
//!
//! Threads of this process join the laptop's side with [`Wan::enter`]
//! (network namespaces are per thread, and sockets keep the namespace they
//! were made in); [`Wan::runtime`] builds a Tokio runtime whose threads
//! all do. Addresses come from 198.18.0.0/15, the range reserved for
//! benchmarks, one /30 per link; the laptop's namespace has no other
//! route.

use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;

/// A link's character: its round trip, its rate each way and the share
/// of packets it loses each way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub rtt: Duration,
    pub bits_per_s: u64,
    pub loss: f64,
}

impl Profile {
    /// The bytes in flight that fill the link: rate times round trip.
    pub fn bandwidth_delay_bytes(&self) -> u64 {
        (self.bits_per_s as f64 / 8.0 * self.rtt.as_secs_f64()) as u64
    }

    pub fn bytes_per_s(&self) -> f64 {
        self.bits_per_s as f64 / 8.0
    }
}

const MBIT: u64 = 1_000_000;

/// The profiles the WAN benchmark runs: an office LAN, a cloud region
/// 50 ms away (clean and lossy), one 150 ms away, and a fast link whose
/// bandwidth-delay product (2.5 MB) is more than a fixed 1 MiB window.
pub const PROFILES: [Profile; 5] = [
    Profile {
        name: "lan",
        rtt: Duration::from_millis(1),
        bits_per_s: 1_000 * MBIT,
        loss: 0.0,
    },
    Profile {
        name: "wan",
        rtt: Duration::from_millis(50),
        bits_per_s: 100 * MBIT,
        loss: 0.0,
    },
    Profile {
        name: "lossy",
        rtt: Duration::from_millis(50),
        bits_per_s: 100 * MBIT,
        loss: 0.01,
    },
    Profile {
        name: "far",
        rtt: Duration::from_millis(150),
        bits_per_s: 50 * MBIT,
        loss: 0.0,
    },
    Profile {
        name: "fast",
        rtt: Duration::from_millis(40),
        bits_per_s: 500 * MBIT,
        loss: 0.0,
    },
];

/// A profile by name.
pub fn profile(name: &str) -> Option<Profile> {
    PROFILES.iter().copied().find(|p| p.name == name)
}

struct Conditions {
    profile: Mutex<Profile>,
    down: AtomicBool,
    stop: AtomicBool,
}

/// An emulated link; dropping it stops the emulator and removes the
/// namespace.
pub struct Wan {
    namespace: String,
    ns_file: File,
    server: Ipv4Addr,
    laptop: Ipv4Addr,
    conditions: Arc<Conditions>,
    threads: Vec<JoinHandle<()>>,
}

/// Links made by this process, so that each gets its own addresses.
static LINKS: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A TUN device named `name` in the calling thread's namespace, with
/// `address` on this end of a point-to-point link to `peer`.
fn tun(name: &str, address: Ipv4Addr, peer: Ipv4Addr) -> anyhow::Result<tun::Device> {
    let mut config = tun::Configuration::default();
    config
        .tun_name(name)
        .address(address)
        .destination(peer)
        .netmask(Ipv4Addr::new(255, 255, 255, 255))
        .up();
    tun::create(&config).with_context(|| {
        format!("cannot create the TUN device {name} (the WAN emulator needs root)")
    })
}

/// Moves the calling thread into the namespace `ns`.
fn enter(ns: &File) -> anyhow::Result<()> {
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .context("cannot enter the laptop's network namespace")
}

impl Wan {
    /// A link with `profile` to a new namespace.
    pub fn new(profile: Profile) -> anyhow::Result<Wan> {
        // A link number no other link on the machine holds: its namespace's
        // name is taken first, so two test processes never share one (a
        // name left by a killed process is skipped; its devices died with
        // the process).
        let first = std::process::id() * 8 + LINKS.fetch_add(1, Ordering::Relaxed);
        let mut taken = None;
        for k in 0..64 {
            let n = (first + k * 7919) % 32_768;
            match ip(&["netns", "add", &format!("berth-wan-{n}")]) {
                Ok(()) => {
                    taken = Some(n);
                    break;
                }
                Err(e) if e.to_string().contains("exists") => continue,
                Err(e) => return Err(e),
            }
        }
        let n = taken.context("no free WAN link number after 64 tries")?;
        let namespace = format!("berth-wan-{n}");
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n * 4;
        let (server, laptop) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        let mut wan = Wan {
            ns_file: File::open(format!("/run/netns/{namespace}"))
                .context("cannot open the namespace")?,
            namespace,
            server,
            laptop,
            conditions: Arc::new(Conditions {
                profile: Mutex::new(profile),
                down: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            }),
            threads: Vec::new(),
        };
        let (server_dev, laptop_dev) = (format!("bws{n}"), format!("bwl{n}"));
        let server_tun = tun(&server_dev, server, laptop)?;
        let laptop_tun = {
            let ns = wan.ns_file.try_clone()?;
            std::thread::spawn(move || {
                enter(&ns)?;
                tun(&laptop_dev, laptop, server)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the TUN thread panicked"))??
        };
        ip(&["-n", &wan.namespace, "link", "set", "lo", "up"])?;
        let (server_read, server_write) = server_tun.split();
        let (laptop_read, laptop_write) = laptop_tun.split();
        wan.direction(laptop_read, server_write, "laptop to server");
        wan.direction(server_read, laptop_write, "server to laptop");
        Ok(wan)
    }

    /// The emulator of one direction: a thread that reads and schedules,
    /// and one that writes each packet when it is due.
    fn direction(
        &mut self,
        mut from: impl Read + Send + 'static,
        mut to: impl Write + Send + 'static,
        name: &str,
    ) {
        let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
        let conditions = self.conditions.clone();
        let reader = std::thread::Builder::new()
            .name(format!("wan {name} in"))
            .spawn(move || {
                let mut free_at = Instant::now();
                let mut rng = rand::rng();
                let mut buf = vec![0u8; 65_536];
                while let Ok(n) = from.read(&mut buf) {
                    if conditions.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let profile = *conditions.profile.lock().expect("profile lock");
                    if conditions.down.load(Ordering::Relaxed)
                        || (profile.loss > 0.0 && rng.random::<f64>() < profile.loss)
                    {
                        continue;
                    }
                    let now = Instant::now();
                    let start = free_at.max(now);
                    // The bottleneck's queue holds at most a round trip of
                    // packets (one bandwidth-delay product); more is dropped.
                    if start - now > profile.rtt.max(Duration::from_millis(5)) {
                        continue;
                    }
                    let serialise = Duration::from_secs_f64(n as f64 / profile.bytes_per_s());
                    free_at = start + serialise;
                    if tx
                        .send((free_at + profile.rtt / 2, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            })
            .expect("spawn a WAN thread");
        let writer = std::thread::Builder::new()
            .name(format!("wan {name} out"))
            .spawn(move || {
                while let Ok((due, packet)) = rx.recv() {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    // A packet the kernel refuses is lost, as on a wire.
                    let _ = to.write(&packet);
                }
            })
            .expect("spawn a WAN thread");
        self.threads.extend([reader, writer]);
    }

    /// The server's address, in this machine's namespace.
    pub fn server(&self) -> Ipv4Addr {
        self.server
    }

    /// The laptop's address, in the link's namespace.
    pub fn laptop(&self) -> Ipv4Addr {
        self.laptop
    }

    /// Changes the link's character; packets already on it keep theirs.
    pub fn set_profile(&self, profile: Profile) {
        *self.conditions.profile.lock().expect("profile lock") = profile;
    }

    /// Takes the link down (every packet lost) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.conditions.down.store(down, Ordering::Relaxed);
    }

    /// Moves the calling thread to the laptop's end: sockets it makes from
    /// now on reach the server only over the link.
    pub fn enter(&self) -> anyhow::Result<()> {
        enter(&self.ns_file)
    }

    /// A runtime whose threads are all at the laptop's end.
    pub fn runtime(&self, threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
        let ns = Arc::new(self.ns_file.try_clone()?);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("laptop")
            .enable_all()
            .on_thread_start(move || {
                if let Err(e) = enter(&ns) {
                    // A runtime half in the wrong namespace would measure
                    // loopback and call it a WAN.
                    panic!("{e:#}");
                }
            })
            .build()
            .context("cannot build the laptop's runtime")
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        self.conditions.stop.store(true, Ordering::Relaxed);
        self.set_down(true);
        // The readers block in `read`: a datagram each way wakes them to
        // see the stop.
        let wake = |from: Ipv4Addr, to: Ipv4Addr| {
            if let Ok(socket) = std::net::UdpSocket::bind((from, 0)) {
                let _ = socket.send_to(b"stop", (to, 9));
            }
        };
        wake(Ipv4Addr::UNSPECIFIED, self.laptop);
        let ns = self.ns_file.try_clone();
        let (server, laptop) = (self.server, self.laptop);
        let _ = std::thread::spawn(move || {
            if let Ok(ns) = ns
                && enter(&ns).is_ok()
            {
                wake(laptop, server);
            }
        })
        .join();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

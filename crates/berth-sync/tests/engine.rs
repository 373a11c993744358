//! Two sync engines joined in memory (every message encoded and decoded
//! as on the wire), each on its own temporary tree, as the CLI and the
//! agent run them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_sync::engine::{self, Phase, Settings, SharedStatus, Status};
use berth_sync::link::{self, Input};
use berth_sync::scan::ScanOptions;
use tokio::sync::mpsc;

struct Pair {
    local: PathBuf,
    remote: PathBuf,
    status: SharedStatus,
    local_input: mpsc::Sender<Input>,
    wire: link::WireCounter,
    coordinator: Option<std::thread::JoinHandle<Result<(), berth_sync::SyncError>>>,
}

fn settings(root: &Path, watch: bool) -> Settings {
    Settings {
        root: root.to_owned(),
        options: ScanOptions {
            ignores: vec!["*.log".into()],
        },
        index_file: None,
        watch,
    }
}

impl Pair {
    fn start(local: &Path, remote: &Path, local_watch: bool) -> Pair {
        let (local_tx, local_rx) = mpsc::channel(64);
        let (remote_tx, remote_rx) = mpsc::channel(64);
        let ((local_out, wire), (remote_out, _)) = link::pair(local_tx.clone(), remote_tx.clone());
        let status = SharedStatus::default();
        {
            let settings = settings(remote, true);
            let status = SharedStatus::default();
            let watch = remote_tx.clone();
            std::thread::spawn(move || {
                // The agent's end stopping shows at the coordinator only as
                // its stream ending: say why here.
                if let Err(e) = engine::serve(
                    settings,
                    remote_rx,
                    Some(watch),
                    remote_out,
                    status,
                    None,
                    || {},
                    |_| {},
                ) {
                    eprintln!("the agent's end stopped: {e}");
                }
            });
        }
        let coordinator = {
            let settings = settings(local, local_watch);
            let status = status.clone();
            let watch = local_tx.clone();
            let wire = wire.clone();
            std::thread::spawn(move || {
                engine::coordinate(settings, local_rx, Some(watch), local_out, wire, status)
            })
        };
        Pair {
            local: local.to_owned(),
            remote: remote.to_owned(),
            status,
            local_input: local_tx,
            wire,
            coordinator: Some(coordinator),
        }
    }

    fn status(&self) -> Status {
        self.status.lock().clone()
    }

    /// Waits until both trees hold the same and nothing is pending.
    fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.status();
            if status.phase == Phase::Watching
                && status.pending == 0
                && tree(&self.local) == tree(&self.remote)
            {
                // And stays so past a watcher's batch.
                std::thread::sleep(Duration::from_millis(150));
                let status = self.status();
                if status.pending == 0 && tree(&self.local) == tree(&self.remote) {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "the trees did not settle: {status:?}\nlocal {:#?}\nremote {:#?}",
                    tree(&self.local),
                    tree(&self.remote)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> Status {
        let _ = self.local_input.blocking_send(Input::Stop);
        if let Some(c) = self.coordinator.take() {
            c.join().expect("coordinator").expect("sync ended cleanly");
        }
        self.status()
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    File(Vec<u8>, bool),
    Dir,
    Link(String),
}

/// Everything in a tree that syncs (not ignored files or conflict copies).
fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    for entry in walk(root) {
        let relative = entry
            .strip_prefix(root)
            .expect("under")
            .to_string_lossy()
            .into_owned();
        if relative.starts_with(".berth")
            || relative.starts_with(".git/")
            || relative == ".git"
            || relative.contains("berth-conflict")
            || relative.contains(".berth-tmp-")
            || relative.ends_with(".log")
            || relative.starts_with("node_modules")
        {
            continue;
        }
        // A temporary file may be renamed away while the tree is read.
        let Ok(meta) = std::fs::symlink_metadata(&entry) else {
            continue;
        };
        let node = if meta.file_type().is_symlink() {
            Node::Link(
                std::fs::read_link(&entry)
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if meta.is_dir() {
            Node::Dir
        } else {
            Node::File(
                std::fs::read(&entry).unwrap_or_default(),
                meta.permissions().mode() & 0o111 != 0,
            )
        };
        out.insert(relative, node);
    }
    out
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, content).expect("write");
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_first_sync_merges_both_trees_and_sends_only_what_differs() {
    let rt = runtime();
    let _guard = rt.enter();
    let local = tempfile::tempdir().expect("local");
    let remote = tempfile::tempdir().expect("remote");
    let seeded = pseudo_random(2 << 20, 1);
    // What the image already has travels not at all.
    write(local.path(), "vendor/big.bin", &seeded);
    write(remote.path(), "vendor/big.bin", &seeded);
    write(local.path(), "src/main.rs", b"fn main() {}\n");
    write(local.path(), "run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        local.path().join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("src/main.rs", local.path().join("main-link")).expect("symlink");
    write(local.path(), "debug.log", b"ignored by the manifest");
    write(local.path(), ".gitignore", b"node_modules/\n");
    write(
        local.path(),
        "node_modules/dep/index.js",
        b"ignored by .gitignore",
    );
    write(local.path(), ".git/HEAD", b"never synced");
    // Only the container has this one: it comes back.
    write(remote.path(), "generated/lock.json", b"{}");
    // Both have it, differently: on the first sync the local version wins.
    write(local.path(), "config.toml", b"local = true\n");
    write(remote.path(), "config.toml", b"image = true\n");

    let pair = Pair::start(local.path(), remote.path(), true);
    pair.settled();
    assert_eq!(
        std::fs::read(remote.path().join("config.toml")).expect("config"),
        b"local = true\n"
    );
    assert_eq!(
        std::fs::read(local.path().join("generated/lock.json")).expect("generated"),
        b"{}"
    );
    assert!(!remote.path().join("debug.log").exists());
    assert!(!remote.path().join("node_modules").exists());
    assert!(!remote.path().join(".git").exists());
    assert_eq!(
        std::fs::read_link(remote.path().join("main-link")).expect("link"),
        Path::new("src/main.rs")
    );
    let status = pair.stop();
    assert!(status.conflicts.is_empty(), "{status:?}");
    assert!(status.errors.is_empty(), "{status:?}");
    // The 2 MiB the image had did not travel.
    assert!(status.wire_bytes_sent < 64 * 1024, "{status:?}");
    // Progress: four files went over and one came back; nothing is left.
    assert_eq!(
        (status.files_pending, status.bytes_pending),
        (0, 0),
        "{status:?}"
    );
    assert_eq!(
        (status.files_done, status.bytes_done),
        (5, 13 + 18 + 14 + 13 + 2),
        "{status:?}"
    );
}

#[test]
fn edits_deletes_renames_and_modes_go_both_ways() {
    let rt = runtime();
    let _guard = rt.enter();
    let local = tempfile::tempdir().expect("local");
    let remote = tempfile::tempdir().expect("remote");
    let big = pseudo_random(8 << 20, 2);
    write(local.path(), "assets/big.bin", &big);
    write(local.path(), "src/a.rs", b"a");
    write(local.path(), "src/old/b.rs", b"b");
    let pair = Pair::start(local.path(), remote.path(), true);
    pair.settled();
    let after_initial = pair.wire.get();

    // Edit, create, delete a folder, chmod. The container has an ignored
    // file in the folder: it stays, and so does its folder.
    write(remote.path(), "src/old/build.log", b"the container's own");
    write(local.path(), "src/a.rs", b"a, edited");
    write(local.path(), "src/new/c.rs", b"c");
    std::fs::remove_dir_all(local.path().join("src/old")).expect("rm");
    std::fs::set_permissions(
        local.path().join("src/a.rs"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let deadline = Instant::now() + Duration::from_secs(30);
    while remote.path().join("src/old/b.rs").exists() {
        assert!(Instant::now() < deadline, "the deletion did not arrive");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read(remote.path().join("src/old/build.log")).expect("kept"),
        b"the container's own"
    );
    std::fs::remove_dir_all(remote.path().join("src/old")).expect("rm remote");
    pair.settled();
    assert!(!remote.path().join("src/old").exists());

    // A rename of a large file sends no content: the agent copies it.
    let before = pair.wire.get();
    std::fs::rename(
        local.path().join("assets/big.bin"),
        local.path().join("assets/moved.bin"),
    )
    .expect("rename");
    pair.settled();
    assert!(
        pair.wire.get() - before < 16 * 1024,
        "{} bytes for a rename",
        pair.wire.get() - before
    );

    // The container's own changes come back.
    write(remote.path(), "src/generated.rs", b"// generated");
    std::fs::remove_file(remote.path().join("src/new/c.rs")).expect("rm remote");
    pair.settled();
    assert!(local.path().join("src/generated.rs").exists());
    assert!(!local.path().join("src/new/c.rs").exists());
    let status = pair.stop();
    assert!(status.errors.is_empty(), "{status:?}");
    assert!(!status.latencies_ms.is_empty(), "saves were timed");
    assert!(after_initial >= 8 << 20);
}

#[test]
fn a_conflict_keeps_the_local_version_and_saves_the_other_beside_it() {
    let rt = runtime();
    let _guard = rt.enter();
    let local = tempfile::tempdir().expect("local");
    let remote = tempfile::tempdir().expect("remote");
    write(local.path(), "notes.txt", b"base");
    // The local watcher is off, so the local edit is not seen before the
    // container's: exactly a conflict.
    let pair = Pair::start(local.path(), remote.path(), false);
    pair.settled();
    std::thread::sleep(Duration::from_millis(20));
    write(local.path(), "notes.txt", b"local edit");
    write(remote.path(), "notes.txt", b"container edit");
    let deadline = Instant::now() + Duration::from_secs(30);
    while pair.status().conflicts.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no conflict reported: {:?}",
            pair.status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pair.settled();
    assert_eq!(
        std::fs::read(local.path().join("notes.txt")).expect("local"),
        b"local edit"
    );
    assert_eq!(
        std::fs::read(remote.path().join("notes.txt")).expect("remote"),
        b"local edit"
    );
    let status = pair.stop();
    let copy = &status.conflicts[0];
    assert!(copy.starts_with("notes.txt.berth-conflict-"), "{copy}");
    assert_eq!(
        std::fs::read(local.path().join(copy)).expect("copy"),
        b"container edit"
    );
}

#[test]
fn a_large_file_edited_in_the_middle_sends_only_the_changed_chunks() {
    let rt = runtime();
    let _guard = rt.enter();
    let local = tempfile::tempdir().expect("local");
    let remote = tempfile::tempdir().expect("remote");
    let size: usize = 1 << 30;
    {
        // Written in pieces: the test never holds the gigabyte in memory.
        use std::io::Write;
        let mut file = std::fs::File::create(local.path().join("data.bin")).expect("create");
        for piece in 0..(size / (16 << 20)) {
            file.write_all(&pseudo_random(16 << 20, piece as u64 + 10))
                .expect("write");
        }
    }
    std::fs::copy(
        local.path().join("data.bin"),
        remote.path().join("data.bin"),
    )
    .expect("seed");
    let pair = Pair::start(local.path(), remote.path(), true);
    pair.settled();
    let before = pair.wire.get();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(local.path().join("data.bin"))
            .expect("open");
        file.seek(SeekFrom::Start(size as u64 / 2)).expect("seek");
        file.write_all(b"an edit in the middle of a gigabyte")
            .expect("edit");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (l, r) = (
            blake3::hash(
                &std::fs::read(local.path().join("data.bin")).expect("l")
                    [size / 2 - 8..size / 2 + 64],
            ),
            blake3::hash(
                &std::fs::read(remote.path().join("data.bin")).expect("r")
                    [size / 2 - 8..size / 2 + 64],
            ),
        );
        if l == r && pair.status().pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit did not arrive: {:?}",
            pair.status()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = pair.wire.get() - before;
    let status = pair.stop();
    assert!(status.errors.is_empty(), "{status:?}");
    // One or two chunks (at most 256 KiB each) and the protocol's messages.
    assert!(sent < 1 << 20, "{sent} bytes sent for a 35-byte edit");
    assert_eq!(
        blake3::hash(&std::fs::read(local.path().join("data.bin")).expect("l")),
        blake3::hash(&std::fs::read(remote.path().join("data.bin")).expect("r")),
    );
}

//! Peers that send what they must not: each thing is refused, reported,
//! and nothing outside the sync root is touched.

use std::time::Duration;

use berth_sync::engine::{self, Settings, SharedStatus};
use berth_sync::link::{self, Input};
use berth_sync::scan::{Entry, Kind, ScanOptions};
use berth_sync::wire::{Control, Message};
use berth_sync::{Outbox, SyncPath};
use tokio::sync::mpsc;

fn path(p: &str) -> SyncPath {
    SyncPath::try_from(p.to_owned()).expect("path")
}

fn file(content: &[u8]) -> Entry {
    Entry {
        kind: Kind::File,
        size: content.len() as u64,
        mtime_ns: 0,
        mode: 0o644,
        hash: Some(blake3::hash(content).to_hex().to_string()),
        target: None,
    }
}

fn link_to(target: &str) -> Entry {
    Entry {
        kind: Kind::Symlink,
        size: 0,
        mtime_ns: 0,
        mode: 0o777,
        hash: None,
        target: Some(target.into()),
    }
}

/// The fake peer's end: what the real engine sends, and a way to answer.
struct Fake {
    rx: mpsc::Receiver<Input>,
    out: Outbox,
}

impl Fake {
    /// Sends in order with content (the lane a real sender uses).
    fn send(&self, control: Control) {
        self.out.blocking(Message::Control(control)).expect("send");
    }

    /// The next control message, skipping index and change reports.
    fn next(&mut self) -> Control {
        loop {
            match self.rx.blocking_recv() {
                Some(Input::Peer(Message::Control(
                    Control::Index { .. } | Control::Changed { .. },
                ))) => {}
                Some(Input::Peer(Message::Control(control))) => return control,
                other => panic!("expected a control message, got {other:?}"),
            }
        }
    }
}

fn settings(root: &std::path::Path) -> Settings {
    Settings {
        root: root.to_owned(),
        options: ScanOptions::default(),
        index_file: None,
        watch: false,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_agent_refuses_what_a_hostile_cli_sends() {
    let rt = runtime();
    let _guard = rt.enter();
    let root = tempfile::tempdir().expect("root");
    let outside = tempfile::tempdir().expect("outside");
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).expect("symlink");
    let (agent_tx, agent_rx) = mpsc::channel(64);
    let (fake_tx, fake_rx) = mpsc::channel(64);
    let ((agent_out, _), (fake_out, _)) = link::pair(agent_tx, fake_tx);
    let settings = settings(root.path());
    std::thread::spawn(move || {
        engine::serve(
            settings,
            agent_rx,
            None,
            agent_out,
            SharedStatus::default(),
            None,
            || {},
            |_| {},
        )
    });
    let mut fake = Fake {
        rx: fake_rx,
        out: fake_out,
    };

    let refused = |fake: &mut Fake, want: &str| match fake.next() {
        Control::Done {
            error: Some(error), ..
        } => {
            assert!(error.contains(want), "{error} should say {want}")
        }
        other => panic!("expected a refusal saying {want}, got {other:?}"),
    };
    // Content that does not match its hash.
    fake.send(Control::Begin {
        id: 1,
        path: path("a.txt"),
        entry: file(b"what was announced"),
    });
    fake.out
        .blocking(Message::Data(
            b"something else, same size".to_vec()[..18].to_vec(),
        ))
        .expect("data");
    fake.send(Control::End { id: 1 });
    refused(&mut fake, "does not match its hash");
    assert!(!root.path().join("a.txt").exists());
    // A write through a symlinked parent.
    fake.send(Control::Begin {
        id: 2,
        path: path("escape/planted"),
        entry: file(b"x"),
    });
    fake.out
        .blocking(Message::Data(b"x".to_vec()))
        .expect("data");
    fake.send(Control::End { id: 2 });
    refused(&mut fake, "symbolic link");
    assert!(!outside.path().join("planted").exists());
    // A link that points out of the root.
    fake.send(Control::Make {
        id: 3,
        path: path("passwd"),
        entry: link_to("../../etc/passwd"),
    });
    refused(&mut fake, "outside the sync root");
    assert!(std::fs::symlink_metadata(root.path().join("passwd")).is_err());
    // A removal through a symlinked parent.
    std::fs::write(outside.path().join("keep"), b"keep").expect("write");
    fake.send(Control::Remove {
        id: 4,
        path: path("escape/keep"),
    });
    refused(&mut fake, "symbolic link");
    assert!(outside.path().join("keep").exists());
    // More bytes than announced.
    fake.send(Control::Begin {
        id: 5,
        path: path("b.txt"),
        entry: file(b"ab"),
    });
    fake.out
        .blocking(Message::Data(b"abc".to_vec()))
        .expect("data");
    fake.send(Control::End { id: 5 });
    refused(&mut fake, "longer than");
    // A copy from a previous version that does not exist.
    fake.send(Control::Begin {
        id: 6,
        path: path("c.txt"),
        entry: file(b"abc"),
    });
    fake.send(Control::Copy { offset: 0, len: 3 });
    fake.send(Control::End { id: 6 });
    refused(&mut fake, "previous version");
    // Nothing half-written is left behind.
    let left: Vec<String> = std::fs::read_dir(root.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["escape".to_owned()]);
}

#[test]
fn the_cli_refuses_what_a_hostile_agent_sends() {
    let rt = runtime();
    let _guard = rt.enter();
    let root = tempfile::tempdir().expect("root");
    let (cli_tx, cli_rx) = mpsc::channel(64);
    let (fake_tx, fake_rx) = mpsc::channel(64);
    let ((cli_out, wire), (fake_out, _)) = link::pair(cli_tx, fake_tx);
    let status = SharedStatus::default();
    let settings = settings(root.path());
    let cli = {
        let status = status.clone();
        std::thread::spawn(move || {
            engine::coordinate(settings, cli_rx, None, cli_out, wire, status)
        })
    };
    let mut fake = Fake {
        rx: fake_rx,
        out: fake_out,
    };
    // The agent claims a link out of the root and a file.
    fake.send(Control::Index {
        entries: vec![
            (path("etc"), link_to("/etc")),
            (path("f.txt"), file(b"promised")),
        ],
        last: true,
    });
    // The CLI asks for the file; the agent sends other content.
    let Control::Want {
        id, path: asked, ..
    } = fake.next()
    else {
        panic!("expected a request for f.txt")
    };
    assert_eq!(asked, path("f.txt"));
    fake.send(Control::Begin {
        id,
        path: asked,
        entry: file(b"promised"),
    });
    fake.out
        .blocking(Message::Data(b"tampered".to_vec()))
        .expect("data");
    fake.send(Control::End { id });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let errors = status.lock().errors.clone();
        if errors.len() == 2 {
            assert!(
                errors["etc"].contains("outside the sync root"),
                "{errors:?}"
            );
            assert!(
                errors["f.txt"].contains("does not match its hash"),
                "{errors:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{errors:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(std::fs::symlink_metadata(root.path().join("etc")).is_err());
    assert!(!root.path().join("f.txt").exists());
    // Content the CLI never asked for ends the sync.
    fake.send(Control::Begin {
        id: 999,
        path: path("planted.sh"),
        entry: file(b"x"),
    });
    let ended = cli.join().expect("cli thread");
    let error = ended.expect_err("a protocol error").to_string();
    assert!(error.contains("did not ask for"), "{error}");
    assert!(!root.path().join("planted.sh").exists());
}

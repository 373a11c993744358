//! A full disk: the write that cannot be made durable is refused with an
//! error naming the disk, nothing acknowledged is lost, and writes go on
//! once there is space again. Runs on a small tmpfs, so it needs the right
//! to mount one (root); elsewhere it says so and checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use berth_audit::{Audit, Outcome};
use berth_core::ErrorCode;
use berth_store::{Holder, Store, StoreOptions};

/// Unmounts the volume when the test ends, however it ends. Lazily: the
/// log's background tasks still hold the store's files open.
struct Volume(PathBuf);

impl Volume {
    fn mount(at: &Path, size: &str) -> Option<Volume> {
        std::fs::create_dir_all(at).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "berth-test"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Volume(at.to_owned()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("mount");
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn bulky(i: usize) -> berth_audit::NewEvent {
    // A reason that does not compress, so the disk fills in a few thousand
    // events.
    let noise: String = (0..48)
        .map(|k| {
            format!(
                "{:016x}",
                (i as u64 * 48 + k).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
        })
        .collect();
    crate::event(
        "alice",
        "token.create",
        "token",
        &format!("t{i}"),
        None,
        Outcome::Success,
    )
    .reason(noise)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_write_loses_nothing_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = dir.path().join("volume");
    let Some(volume) = Volume::mount(&at, "24m") else {
        eprintln!("skipped: cannot mount a tmpfs here (the test needs root)");
        return;
    };
    let data = at.join("data");
    let options = StoreOptions {
        cache_bytes: Some(16 << 20),
        ..StoreOptions::default()
    };
    let store =
        Arc::new(Store::open_with(&data, &Holder::this_process("test"), &options).expect("store"));
    let audit = Audit::open_with(store, 64).expect("audit");

    let mut acknowledged = 0;
    let refusal = loop {
        match audit.record(bulky(acknowledged)) {
            Ok(event) => {
                audit
                    .durable(event.seq)
                    .await
                    .expect("durable before the disk is full");
                acknowledged += 1;
            }
            Err(err) => break err,
        }
        assert!(acknowledged < 100_000, "a 24 MiB disk never filled");
    };
    assert_eq!(refusal.code, ErrorCode::Unavailable, "{refusal:?}");
    assert!(
        refusal.message.contains(&data.display().to_string()) && refusal.message.contains("full"),
        "{}",
        refusal.message
    );
    // Everything acknowledged is there, and the chain is whole.
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.events, acknowledged as u64);

    // Space returns: writes go on without a restart.
    volume.resize("64m");
    let event = audit
        .record(bulky(acknowledged))
        .expect("a write after space returned");
    audit.durable(event.seq).await.expect("durable");
    assert_eq!(event.seq, acknowledged as u64 + 1);
    let result = audit.verify();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.events, acknowledged as u64 + 1);
}

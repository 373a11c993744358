//! Scans of real folders: ignore files, the manifest's patterns, links,
//! modes, and rescans that read only what changed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_sync::{Index, Kind, ScanOptions, SyncPath, scan};

fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("dirs");
    std::fs::write(full, content).expect("write");
}

fn paths(index: &Index) -> Vec<&str> {
    index.entries.keys().map(SyncPath::as_str).collect()
}

#[test]
fn a_scan_honours_ignore_files_and_the_manifest() {
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    write(r, "src/main.rs", "fn main() {}");
    write(r, "target/debug/app", "binary");
    write(r, ".gitignore", "target/\n");
    write(r, "web/.berthignore", "dist/\n");
    write(r, "web/dist/bundle.js", "x");
    write(r, "web/src/app.ts", "y");
    write(r, "logs/today.log", "z");
    write(r, ".git/HEAD", "ref: refs/heads/main");
    let options = ScanOptions {
        ignores: vec!["*.log".to_owned()],
    };
    let index = scan(r, &options, None).expect("scan");
    assert_eq!(
        paths(&index),
        [
            ".gitignore",
            "logs",
            "src",
            "src/main.rs",
            "web",
            "web/.berthignore",
            "web/src",
            "web/src/app.ts"
        ]
    );
    let main = &index.entries[&SyncPath::try_from("src/main.rs".to_owned()).expect("path")];
    assert_eq!(main.kind, Kind::File);
    assert_eq!(
        main.hash.as_deref(),
        Some(blake3::hash(b"fn main() {}").to_hex().as_str())
    );

    let bad = ScanOptions {
        ignores: vec!["[".to_owned()],
    };
    let err = scan(r, &bad, None).expect_err("a bad pattern");
    assert!(err.to_string().contains("\"[\""), "{err}");
}

#[test]
fn a_rescan_reads_only_what_changed_and_keeps_links_and_modes() {
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    for i in 0..20 {
        write(r, &format!("file{i}.txt"), &format!("content {i}"));
    }
    write(r, "run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(r.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("file1.txt", r.join("latest")).expect("symlink");
    let first = scan(r, &ScanOptions::default(), None).expect("scan");
    assert_eq!(first.hashed, 21);
    let script = &first.entries[&SyncPath::try_from("run.sh".to_owned()).expect("path")];
    assert_eq!(script.mode & 0o111, 0o111, "the executable bit is recorded");
    let link = &first.entries[&SyncPath::try_from("latest".to_owned()).expect("path")];
    assert_eq!(
        (link.kind, link.target.as_deref()),
        (Kind::Symlink, Some("file1.txt"))
    );

    // The index survives on disk; one file changes; only it is read again.
    let saved = r.join(".berth-index.json");
    first.save(&saved).expect("save");
    let loaded = Index::load(&saved).expect("load").expect("an index");
    assert_eq!(loaded.entries, first.entries);
    std::thread::sleep(std::time::Duration::from_millis(10));
    write(r, "file3.txt", "changed");
    let second = scan(
        r,
        &ScanOptions {
            ignores: vec![".berth-index.json".to_owned()],
        },
        Some(&loaded),
    )
    .expect("rescan");
    assert_eq!(second.hashed, 1, "only the changed file is read");
    let changed = &second.entries[&SyncPath::try_from("file3.txt".to_owned()).expect("path")];
    assert_eq!(
        changed.hash.as_deref(),
        Some(blake3::hash(b"changed").to_hex().as_str())
    );

    // A damaged index is named, not trusted.
    std::fs::write(&saved, "{not json").expect("damage");
    let err = Index::load(&saved).expect_err("damaged");
    assert!(err.to_string().contains(".berth-index.json"), "{err}");
}

#[test]
fn folders_removed_during_a_scan_are_gone_not_an_error() {
    // A build tool creating and deleting folders while the agent looks:
    // what vanished between listing and reading is simply not there.
    let root = tempfile::tempdir().expect("root");
    let r = root.path().to_owned();
    write(&r, "src/main.rs", "fn main() {}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (r, stop) = (r.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for d in 0..8 {
                    let _ = std::fs::create_dir_all(r.join(format!("out/{d}/a/b/c")));
                }
                for d in 0..8 {
                    let _ = std::fs::remove_dir_all(r.join(format!("out/{d}")));
                }
                round += 1;
            }
            round
        })
    };
    let options = ScanOptions::default();
    let mut index = scan(&r, &options, None).expect("first scan");
    for _ in 0..300 {
        index = scan(&r, &options, Some(&index)).expect("a scan during the churn");
        index
            .update(&r, &options, &[r.join("out/3/a/b")])
            .expect("an update during the churn");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(churn.join().expect("churn") > 0);
    assert!(index.entries.keys().any(|p| p.as_str() == "src/main.rs"));
}

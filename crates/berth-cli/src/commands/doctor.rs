//! `berth sync doctor`: what a sync folder holds as sync sees it, where
//! its size is, what is ignored, and what cannot sync and why.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use berth_sync::{Index, Kind, ScanOptions, SyncPath};
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub files: u64,
    pub folders: u64,
    pub bytes: u64,
    /// The folders holding the most bytes (three levels deep at most).
    pub largest: Vec<(String, u64)>,
    /// Ignored paths, each a top-most ignored folder or file with how many
    /// paths it holds.
    pub ignored: Vec<Ignored>,
    /// Paths that cannot sync, with why.
    pub problems: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Ignored {
    pub path: String,
    pub count: u64,
}

/// Files at least this large are pointed out.
const LARGE: u64 = 512 << 20;

pub fn examine(
    root: &Path,
    options: &ScanOptions,
    previous: Option<&Index>,
) -> Result<Report, String> {
    let index = berth_sync::scan(root, options, previous).map_err(|e| e.to_string())?;
    let mut report = Report::default();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for (path, entry) in &index.entries {
        match entry.kind {
            Kind::Dir => report.folders += 1,
            Kind::File => {
                report.files += 1;
                report.bytes += entry.size;
                let parts: Vec<&str> = path.as_str().split('/').collect();
                for depth in 1..parts.len().min(4) {
                    *sizes.entry(parts[..depth].join("/")).or_default() += entry.size;
                }
                if entry.size >= LARGE {
                    report.warnings.push(format!(
                        "{path} is {} MB; an edit sends only its changed chunks, but the first sync sends it whole unless the image has it",
                        entry.size >> 20
                    ));
                }
                if let Err(e) = std::fs::File::open(root.join(path.as_str())) {
                    report
                        .problems
                        .push((path.to_string(), format!("cannot be read: {e}")));
                }
            }
            Kind::Symlink => {
                let target = entry.target.as_deref().unwrap_or_default();
                if berth_sync::apply::link_escapes(path, target) {
                    report.problems.push((
                        path.to_string(),
                        format!("a link to {target:?}, outside the sync folder; the other side refuses it"),
                    ));
                }
            }
        }
    }
    let mut largest: Vec<(String, u64)> = sizes.into_iter().collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    largest.truncate(10);
    report.largest = largest;

    // Everything on disk that the index does not hold, by its top-most
    // ignored path.
    let mut ignored: BTreeMap<String, u64> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            let full = entry.path();
            let Ok(relative) = full.strip_prefix(root) else {
                continue;
            };
            let Some(text) = relative.to_str() else {
                report.problems.push((
                    relative.to_string_lossy().into_owned(),
                    "its name is not UTF-8; sync leaves it out".to_owned(),
                ));
                continue;
            };
            let Ok(path) = SyncPath::from_relative(relative) else {
                continue;
            };
            let file_type = entry.file_type().ok();
            if index.entries.contains_key(&path) {
                if file_type.is_some_and(|t| t.is_dir()) {
                    stack.push(full);
                }
                continue;
            }
            if file_type.is_some_and(|t| !t.is_dir() && !t.is_file() && !t.is_symlink()) {
                report.problems.push((
                    text.to_owned(),
                    "a socket, pipe or device; only files, folders and links sync".to_owned(),
                ));
                continue;
            }
            let count = if file_type.is_some_and(|t| t.is_dir()) {
                1 + count_under(&full)
            } else {
                1
            };
            ignored.insert(text.to_owned(), count);
        }
    }
    let mut ignored: Vec<Ignored> = ignored
        .into_iter()
        .map(|(path, count)| Ignored { path, count })
        .collect();
    ignored.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    report.ignored = ignored;
    if let Ok(limit) = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        && let Ok(limit) = limit.trim().parse::<u64>()
    {
        // The watcher watches every folder, ignored ones too.
        let folders = report.folders + report.ignored.iter().map(|i| i.count).sum::<u64>();
        if folders * 10 > limit * 8 {
            report.warnings.push(format!(
                "about {folders} folders to watch and the system allows {limit} inotify watches; raise fs.inotify.max_user_watches"
            ));
        }
    }
    Ok(report)
}

fn count_under(dir: &Path) -> u64 {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            count += 1;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    count
}

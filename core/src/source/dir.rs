//! The directory source (`--pod-manifest-path`): reads a directory, or one file, at once on
//! every inotify event and again every `--file-check-frequency` to catch what events miss.
//! Events are gathered until the directory is quiet for a moment, so an editor's save
//! (write a temporary file, rename it over the old one) is read once, complete. The moment
//! is short after an event that ends a change (a file closed after writing, a rename, a
//! removal) and longer after one that starts it (a file created or being written).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::skip::skip_reason;
use super::{
    FileProblem, MAX_MANIFEST_BYTES, ReadError, Reading, Scan, ScannedFile, Snapshot, SourceKind,
};

/// How long the directory must be quiet after an event that ends a change before it is
/// read: enough to gather the rest of a burst (a rename's removal and creation).
const QUIET_AFTER_COMPLETE: Duration = Duration::from_millis(5);
/// How long the directory must be quiet after a file was created or written but not yet
/// closed: its writer is probably not done.
const QUIET_AFTER_PARTIAL: Duration = Duration::from_millis(100);
/// The longest an event waits for the directory to become quiet.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Reads `path` (a directory or a single file) completely. `Err` when the directory itself
/// cannot be read: the caller must then keep what it had, not remove every pod.
pub fn scan(path: &Path) -> std::io::Result<Scan> {
    let mut scan = Scan::default();
    let metadata = std::fs::metadata(path)?;
    let candidates: Vec<PathBuf> = if metadata.is_dir() {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(path)? {
            entries.push(entry?.path());
        }
        entries.sort();
        entries
    } else {
        vec![path.to_path_buf()]
    };
    for candidate in candidates {
        if let Some(reason) = skip_reason(&candidate) {
            scan.skipped.push((candidate, reason));
            continue;
        }
        match std::fs::metadata(&candidate) {
            // Subdirectories are not entered.
            Ok(metadata) if metadata.is_dir() => {}
            Ok(metadata) if metadata.len() > MAX_MANIFEST_BYTES => scan.files.push(ScannedFile {
                path: candidate,
                content: Err(FileProblem::TooLarge {
                    size: metadata.len(),
                    limit: MAX_MANIFEST_BYTES,
                }),
            }),
            Ok(_) => {
                let content = read_text(&candidate);
                // A file removed between listing and reading is simply gone.
                if !matches!(&content, Err(FileProblem::Unreadable(e)) if e == "not found") {
                    scan.files.push(ScannedFile {
                        path: candidate,
                        content,
                    });
                }
            }
            // A dangling symlink or a file removed since listing.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => scan.files.push(ScannedFile {
                path: candidate,
                content: Err(FileProblem::Unreadable(error.to_string())),
            }),
        }
    }
    Ok(scan)
}

fn read_text(path: &Path) -> Result<String, FileProblem> {
    match std::fs::read(path) {
        Ok(bytes) => super::manifest_text(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(FileProblem::Unreadable("not found".to_string()))
        }
        Err(error) => Err(FileProblem::Unreadable(error.to_string())),
    }
}

/// Watches `path` and sends a fresh [`scan`] after every burst of changes and every
/// `check_frequency`. Runs until the receiver is dropped.
pub fn watch(path: PathBuf, check_frequency: Duration) -> mpsc::Receiver<Snapshot> {
    let (scans, receiver) = mpsc::channel(1);
    tokio::spawn(async move {
        let (events_tx, mut events) = mpsc::unbounded_channel::<Event>();
        let mut watcher = None;
        let mut next_check = Instant::now();
        let mut pending_since: Option<Instant> = None;
        let mut last_event = Instant::now();
        let mut quiet = QUIET_AFTER_PARTIAL;
        // The files removed since the last scan, as the events name them.
        let mut unlinked: Vec<PathBuf> = Vec::new();
        // inotify itself unavailable (no instance left): said once, not at every re-list.
        let mut warned = false;
        loop {
            if watcher.is_none() {
                watcher = start_watcher(&path, events_tx.clone(), &mut warned);
            }
            let deadline = match pending_since {
                Some(first) => (last_event + quiet).min(first + MAX_DELAY),
                None => next_check,
            };
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { return };
                    unlinked.extend(event.unlinked);
                    quiet = match event.change {
                        Change::Complete => QUIET_AFTER_COMPLETE,
                        Change::Partial => QUIET_AFTER_PARTIAL,
                    };
                    last_event = Instant::now();
                    pending_since.get_or_insert(last_event);
                    continue;
                }
                _ = sleep_until(deadline) => {}
                _ = scans.closed() => return,
            }
            pending_since = None;
            next_check = Instant::now() + check_frequency;
            let scan_path = path.clone();
            let removed = std::mem::take(&mut unlinked);
            let result = tokio::task::spawn_blocking(move || {
                let mut scan = scan(&scan_path)?;
                scan.unlinked = removed
                    .iter()
                    .filter_map(|file| as_scanned(&scan_path, file))
                    .collect();
                Ok(scan)
            })
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())));
            if result.is_err() {
                // The directory may have been removed and created again: watch it anew.
                watcher = None;
            }
            let snapshot = Snapshot {
                kind: SourceKind::File,
                location: path.display().to_string(),
                reading: match result {
                    Ok(scan) => Reading::Complete(scan),
                    Err(error) => Reading::Failed(ReadError::Unreadable(error)),
                },
                answer: None,
            };
            if scans.send(snapshot).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// `file`, named by an event of the watched directory, as [`scan`] names it when reading
/// `path`; `None` when it is not what `path` reads (another file beside a single manifest).
fn as_scanned(path: &Path, file: &Path) -> Option<PathBuf> {
    let name = file.file_name()?;
    if path.is_dir() {
        Some(path.join(name))
    } else {
        (path.file_name() == Some(name)).then(|| path.to_path_buf())
    }
}

/// One inotify event, as the watch loop takes it.
struct Event {
    change: Change,
    /// The file it names, when the event is its removal.
    unlinked: Option<PathBuf>,
}

/// What an inotify event says about the file it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// A change is done: the file was closed after writing, renamed, removed, or had its
    /// metadata changed.
    Complete,
    /// A change is under way: the file was created or written and is still open.
    Partial,
}

impl Change {
    fn of(kind: &notify::EventKind) -> Option<Change> {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, ModifyKind};
        match kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Metadata(_))
            | EventKind::Remove(_) => Some(Change::Complete),
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any | EventKind::Other => {
                Some(Change::Partial)
            }
            EventKind::Access(_) => None,
        }
    }
}

/// Watches the directory itself (not recursively), or the file's directory for a single
/// file, so that renames into it are seen.
fn start_watcher(
    path: &Path,
    events: mpsc::UnboundedSender<Event>,
    warned: &mut bool,
) -> Option<notify::RecommendedWatcher> {
    let target = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()?.to_path_buf()
    };
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let Some(change) = Change::of(&event.kind) else {
            return;
        };
        let unlinked = match event.kind {
            notify::EventKind::Remove(_) => event.paths.into_iter().next(),
            _ => None,
        };
        let _ = events.send(Event { change, unlinked });
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            if !std::mem::replace(warned, true) {
                tracing::warn!(path = %path.display(), %error, "cannot use inotify; relying on periodic checks");
            }
            return None;
        }
    };
    match watcher.watch(&target, RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(error) => {
            tracing::debug!(path = %target.display(), %error, "cannot watch the manifest path yet");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_manifests_skips_the_rest_and_refuses_huge_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("web.yaml", "kind: Pod\n");
        write("web.yaml.bak", "kind: Pod\n");
        write(".hidden.yaml", "kind: Pod\n");
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        std::fs::write(
            dir.path().join("big.json"),
            vec![b' '; (MAX_MANIFEST_BYTES + 1) as usize],
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.path().join("web.yaml"), dir.path().join("link.yml"))
            .unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("dangling.yaml")).unwrap();
        let scan = scan(dir.path()).unwrap();
        let names: Vec<_> = scan
            .files
            .iter()
            .map(|f| {
                (
                    f.path.file_name().unwrap().to_string_lossy().to_string(),
                    f.content.is_ok(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("big.json".to_string(), false),
                ("link.yml".to_string(), true),
                ("web.yaml".to_string(), true)
            ]
        );
        assert_eq!(scan.skipped.len(), 2);
    }

    #[test]
    fn events_that_end_a_change_are_told_from_those_that_start_one() {
        use notify::EventKind;
        use notify::event::{
            AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode,
        };
        let change = |kind| Change::of(&kind);
        assert_eq!(
            change(EventKind::Access(AccessKind::Close(AccessMode::Write))),
            Some(Change::Complete)
        );
        assert_eq!(
            change(EventKind::Modify(ModifyKind::Name(RenameMode::To))),
            Some(Change::Complete)
        );
        assert_eq!(
            change(EventKind::Remove(RemoveKind::File)),
            Some(Change::Complete)
        );
        assert_eq!(
            change(EventKind::Create(CreateKind::File)),
            Some(Change::Partial)
        );
        assert_eq!(
            change(EventKind::Modify(ModifyKind::Data(DataChange::Content))),
            Some(Change::Partial)
        );
        assert_eq!(
            change(EventKind::Access(AccessKind::Close(AccessMode::Read))),
            None
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_not_an_empty_scan() {
        assert!(scan(Path::new("/nonexistent/manifests")).is_err());
    }

    #[tokio::test]
    async fn a_write_into_the_directory_is_seen_without_waiting_for_the_periodic_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut scans = watch(dir.path().to_path_buf(), Duration::from_secs(3600));
        let Reading::Complete(first) = scans.recv().await.unwrap().reading else {
            panic!("an empty directory is a complete reading");
        };
        assert!(first.files.is_empty());
        std::fs::write(dir.path().join("web.yaml"), "kind: Pod\n").unwrap();
        let second = tokio::time::timeout(Duration::from_secs(30), scans.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(second.reading, Reading::Complete(scan) if scan.files.len() == 1));
    }

    #[tokio::test]
    async fn a_file_removed_and_written_again_is_told_and_a_rename_over_it_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web.yaml");
        std::fs::write(&web, "kind: Pod\n").unwrap();
        let mut scans = watch(dir.path().to_path_buf(), Duration::from_secs(3600));
        // Every scan up to the one that has `web.yaml` again: the file's removal and its
        // new copy are one burst, unless the machine is slow enough to split them.
        async fn unlinked_until_present(
            scans: &mut mpsc::Receiver<Snapshot>,
            web: &Path,
        ) -> Vec<PathBuf> {
            let mut unlinked = Vec::new();
            loop {
                let snapshot = tokio::time::timeout(Duration::from_secs(30), scans.recv())
                    .await
                    .unwrap()
                    .unwrap();
                let Reading::Complete(scan) = snapshot.reading else {
                    panic!("the directory is readable");
                };
                unlinked.extend(scan.unlinked);
                if scan.files.iter().any(|f| f.path == web) {
                    return unlinked;
                }
            }
        }
        assert_eq!(
            unlinked_until_present(&mut scans, &web).await,
            Vec::<PathBuf>::new()
        );
        std::fs::remove_file(&web).unwrap();
        std::fs::write(&web, "kind: Pod\n").unwrap();
        assert_eq!(
            unlinked_until_present(&mut scans, &web).await,
            vec![web.clone()]
        );
        let saved = dir.path().join(".web.yaml.swp");
        std::fs::write(&saved, "kind: Pod\n").unwrap();
        std::fs::rename(&saved, &web).unwrap();
        assert_eq!(
            unlinked_until_present(&mut scans, &web).await,
            Vec::<PathBuf>::new()
        );
    }
}

//! Directories watched with inotify, every change in them a nudge: how a log reader learns
//! of appends, rotations and the runtime's close of a rotated file, and the log rotation of
//! writes, without polling.

use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher};
use tokio::sync::mpsc;

/// The most closed files remembered, newest kept: a reader cares for the few it has yet
/// to read.
const MAX_CLOSED: usize = 16;

/// What an inotify event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something changed: a file was written, created, renamed or removed, or events were
    /// lost (a queue overflow may hide any change).
    Changed,
    /// A writer closed these files.
    Closed(Vec<PathBuf>),
}

/// A watcher (no directory watched yet: add them with `notify::Watcher::watch`) calling
/// `on_change` on its own thread for each change. Opening and reading a file (our own
/// reads) is not a change.
pub fn watcher(on_change: impl Fn(Change) + Send + 'static) -> notify::Result<RecommendedWatcher> {
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let change = match event {
            Ok(event) => match event.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                    Change::Closed(event.paths)
                }
                EventKind::Access(_) => return,
                _ => Change::Changed,
            },
            Err(_) => Change::Changed,
        };
        on_change(change);
    })
}

/// What a [`watch`] saw: a nudge for every change (one `()` waits at most: a pending nudge
/// already says "look again", so a burst of writes is one nudge), and the files (by inode,
/// which a rename or a removal does not change) that a writer closed.
pub struct Changes {
    nudges: mpsc::Receiver<()>,
    closed: Arc<Mutex<VecDeque<u64>>>,
}

impl Changes {
    /// The next change; `None` once the watcher is gone.
    pub async fn recv(&mut self) -> Option<()> {
        self.nudges.recv().await
    }

    /// True when a writer closed the file with `inode` (one of the last few closed).
    pub fn was_closed(&self, inode: u64) -> bool {
        self.closed.lock().unwrap().contains(&inode)
    }

    /// Forgets that a file with `inode` was closed: a file opened now may have the inode of
    /// one closed and removed before (a compressed log).
    pub fn forget_closed(&self, inode: u64) {
        self.closed
            .lock()
            .unwrap()
            .retain(|closed| *closed != inode);
    }
}

/// A [`watcher`] whose changes are nudges for a task, remembering the files closed (see
/// [`Changes::was_closed`]). A closed file is known by its inode at once, before a rotation
/// can rename or compress it away.
pub fn watch() -> notify::Result<(RecommendedWatcher, Changes)> {
    let (nudge, nudges) = mpsc::channel(1);
    let closed = Arc::<Mutex<VecDeque<u64>>>::default();
    let seen = closed.clone();
    let watcher = watcher(move |change| {
        if let Change::Closed(paths) = change {
            let inodes = paths.iter().filter_map(|path| std::fs::metadata(path).ok());
            let mut seen = seen.lock().unwrap();
            seen.extend(inodes.map(|metadata| metadata.ino()));
            let excess = seen.len().saturating_sub(MAX_CLOSED);
            seen.drain(..excess);
        }
        let _ = nudge.try_send(());
    })?;
    Ok((watcher, Changes { nudges, closed }))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use notify::{RecursiveMode, Watcher};

    use super::*;

    #[tokio::test]
    async fn an_append_nudges_a_read_does_not_and_a_writers_close_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("0.log");
        std::fs::write(&file, "one\n").unwrap();
        let (mut watcher, mut changes) = watch().unwrap();
        watcher
            .watch(dir.path(), RecursiveMode::NonRecursive)
            .unwrap();

        std::fs::read(&file).unwrap();
        let read = tokio::time::timeout(Duration::from_millis(200), changes.recv()).await;
        assert!(read.is_err(), "a read is no change");

        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        for _ in 0..100 {
            log.write_all(b"more\n").unwrap();
        }
        let appended = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await;
        assert_eq!(appended, Ok(Some(())));
        let inode = std::fs::metadata(&file).unwrap().ino();
        assert!(!changes.was_closed(inode), "still open");
        drop(log);
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while !changes.was_closed(inode) {
                changes.recv().await;
            }
        })
        .await;
        assert!(closed.is_ok(), "the writer's close is seen");
        changes.forget_closed(inode);
        assert!(!changes.was_closed(inode));
    }
}

//! Rotation of the log files a runtime writes where the agent says (CRI's, Podman's conmon's),
//! as the kubelet's container log manager (`pkg/kubelet/logs/container_log_manager.go`) does
//! it, for the running containers we manage whose logs are under [`LogRotation::directory`]:
//! a current file about to pass `max_size` is renamed to `<n>.log.<YYYYmmdd-HHMMSS>` and the
//! runtime is asked to reopen it ([`LogWriters::reopen`]: CRI's `ReopenContainerLog`,
//! conmon's control FIFO); the rotated files but the newest are gzipped, and the oldest
//! beyond `max_files` (the current file counts) are removed before the rename, as the
//! kubelet's `removeExcessLogs`, so the files never number more than `max_files`.
//!
//! Better than the kubelet's, which looks every 10 s and lets a verbose container's file grow
//! far past the limit meanwhile: the files are checked on every inotify change in their
//! directories (at most every [`CHECK_SPACING`]), and a file is rotated early enough that
//! what the container writes until the runtime has reopened it still fits, by how fast it
//! grew lately and how long checks and rotations took lately: files stay within `max_size`
//! unless a check or a reopen is held up far longer than lately (the margin is at most half
//! the limit). Running containers are listed every [`MONITOR_PERIOD`] (the kubelet's
//! `containerLogMonitorInterval`) and whenever the backend starts one. Rotated files are
//! stamped in UTC (the kubelet uses the node's local time), and never with the stamp of an
//! older one: two rotations in one second get successive seconds, where the kubelet's second
//! would overwrite the first.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::logs::LogRotation;
use crate::{BoxError, RuntimeError};

/// How often the running containers are listed anew, besides the backend's nudges.
const MONITOR_PERIOD: Duration = Duration::from_secs(10);
/// The shortest time between two checks of the files: the changes meanwhile are one check.
const CHECK_SPACING: Duration = Duration::from_millis(10);
/// How often the files are checked when inotify cannot be used (no instance left for the
/// agent): still ten times as often as the kubelet's every 10 s.
const UNWATCHED_CHECK: Duration = Duration::from_secs(1);
/// How long a log that is missing after a rotation is left to a runtime whose reopen
/// lands later than its answer (conmon's): no second reopen meanwhile, which would replace
/// the new file and what was written to it.
const REOPEN_WAIT: Duration = Duration::from_secs(2);
/// How long a rotation (rename and reopen) is taken to last before one was timed.
const FIRST_ROTATION_TIME: Duration = Duration::from_millis(50);
/// The least time a file is taken to grow at its rate before a rotation lands.
const MIN_LEAD: Duration = Duration::from_millis(100);
/// How fast a peak (of a log's rate, of its growth between checks, of a rotation's time) is
/// forgotten: it is halved every second.
const HALF_LIFE: Duration = Duration::from_secs(1);
/// The stamp of a rotated file, the kubelet's (`20060102-150405`).
const STAMP: &str = "%Y%m%d-%H%M%S";
const GZ: &str = ".gz";
const TMP: &str = ".tmp";

/// What the rotation asks of the runtime that writes the logs, on the rotation's own thread
/// (a call may block it).
pub trait LogWriters: Send + 'static {
    /// The ids of the running containers we manage.
    fn running(&mut self) -> Result<Vec<String>, BoxError>;
    /// Where running container `id` writes its log; `None` when that cannot be told now
    /// (it is asked again at the next listing).
    fn log_path(&mut self, id: &str) -> Option<PathBuf>;
    /// Has the runtime write container `id`'s log to a new file at its path, the old one
    /// having been renamed.
    fn reopen(&mut self, id: &str) -> Result<(), ReopenError>;
}

/// Why a runtime did not reopen a log.
#[derive(Debug, thiserror::Error)]
pub enum ReopenError {
    /// The container is not running any more.
    #[error("the container is gone")]
    Gone,
    /// The runtime failed to.
    #[error(transparent)]
    Failed(BoxError),
}

/// The backend's handle on its log rotation: the rotation stops soon after the last clone
/// is dropped (at its next wake, within [`MONITOR_PERIOD`]).
#[derive(Debug, Clone)]
pub struct Rotation {
    shared: Arc<Shared>,
    wake: SyncSender<()>,
}

/// What the backend tells the rotation.
#[derive(Debug, Default)]
struct Shared {
    /// A container was started: list the running containers at the next wake.
    relist: AtomicBool,
}

impl Rotation {
    /// Has the rotation look for a container just started, so that a verbose one is caught
    /// at once.
    pub fn container_started(&self) {
        self.shared.relist.store(true, Ordering::Relaxed);
        let _ = self.wake.try_send(());
    }
}

/// [`spawn`], for a backend's `connect`: a rotation that cannot start is
/// [`RuntimeError::Failed`], naming the directory.
pub fn start(writers: impl LogWriters, policy: LogRotation) -> Result<Rotation, RuntimeError> {
    let directory = policy.directory.display().to_string();
    spawn(writers, policy).map_err(|source| RuntimeError::Failed {
        operation: format!("start the rotation of the container logs in {directory}"),
        source: Box::new(source),
    })
}

/// Starts the rotation of `policy`'s logs, those `writers` write. It runs on a thread of its
/// own, where neither the agent's async work nor a compression can hold a check up, and
/// compresses on another. Without inotify (none left for the agent), the files are checked
/// every [`UNWATCHED_CHECK`]. An error when a thread cannot start.
fn spawn(writers: impl LogWriters, policy: LogRotation) -> notify::Result<Rotation> {
    // One wake waits at most: a pending one already says "look again".
    let (wake, wakes) = sync_channel(1);
    let changed = wake.clone();
    let watcher = crate::inotify::watcher(move |_| {
        let _ = changed.try_send(());
    })
    .inspect_err(|err| {
        tracing::warn!(%err, every = ?UNWATCHED_CHECK, "container logs: inotify unavailable, checking their sizes periodically");
    })
    .ok();
    let (tidy, tidies) = std::sync::mpsc::channel::<PathBuf>();
    let max_files = policy.max_files;
    let files = Arc::new(Mutex::new(()));
    let compressing = files.clone();
    std::thread::Builder::new()
        .name("log-compress".to_owned())
        .spawn(move || {
            for log in tidies {
                let _turn = compressing.lock().expect("rotated files lock");
                if let Err(err) = tidy_rotated(&log, max_files) {
                    tracing::warn!(log = %log.display(), %err, "cannot compress or remove rotated logs");
                }
            }
        })
        .map_err(notify::Error::io)?;
    let shared = Arc::new(Shared {
        relist: AtomicBool::new(true),
    });
    let manager = Manager {
        writers: Box::new(writers),
        policy,
        logs: HashMap::new(),
        watcher,
        watched: BTreeSet::new(),
        rotation_time: Peak {
            value: FIRST_ROTATION_TIME.as_secs_f64(),
            at: None,
        },
        tidy,
        files,
        shared: Arc::downgrade(&shared),
    };
    std::thread::Builder::new()
        .name("log-rotation".to_owned())
        .spawn(move || manager.run(&wakes))
        .map_err(notify::Error::io)?;
    let _ = wake.try_send(());
    Ok(Rotation { shared, wake })
}

/// The largest value seen lately: a new one counts at once, and an old one is halved every
/// [`HALF_LIFE`], so that a lull between two close looks does not hide a burst.
#[derive(Debug, Clone, Copy, Default)]
struct Peak {
    value: f64,
    at: Option<Instant>,
}

impl Peak {
    /// The peak as it stands at `now`.
    fn at(&self, now: Instant) -> f64 {
        let Some(at) = self.at else {
            return self.value;
        };
        let elapsed = now.saturating_duration_since(at).as_secs_f64();
        self.value * 0.5f64.powf(elapsed / HALF_LIFE.as_secs_f64())
    }

    fn see(&mut self, value: f64, now: Instant) {
        self.value = value.max(self.at(now));
        self.at = Some(now);
    }
}

/// A running container's log file, as last checked.
#[derive(Debug)]
struct Log {
    path: PathBuf,
    /// Its size at the last check, and when.
    last: Option<(u64, Instant)>,
    /// When it was last rotated: a missing file is the runtime's reopen under way until
    /// [`REOPEN_WAIT`] later.
    rotated: Option<Instant>,
    /// How fast it grows, in bytes a second.
    rate: Peak,
    /// How much it grows from one check to the next, in bytes: checks come late on a busy
    /// node (the writing container, the runtime and a compression share the cores).
    step: Peak,
}

struct Manager {
    writers: Box<dyn LogWriters>,
    policy: LogRotation,
    /// By container id.
    logs: HashMap<String, Log>,
    /// None when inotify cannot be used: the files are then checked periodically.
    watcher: Option<RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
    /// How long a rotation takes, from the check to the runtime's reopen, in seconds: the
    /// runtime can take a tenth of a second to reopen on a busy node.
    rotation_time: Peak,
    tidy: std::sync::mpsc::Sender<PathBuf>,
    /// Held while rotated files are removed or compressed: a file the rotation removes is
    /// never one being compressed (whose `.gz` would then appear after the removal).
    files: Arc<Mutex<()>>,
    /// Gone once the backend is.
    shared: Weak<Shared>,
}

impl Manager {
    fn run(mut self, wakes: &Receiver<()>) {
        tracing::info!(
            directory = %self.policy.directory.display(),
            max_size = self.policy.max_size,
            max_files = self.policy.max_files,
            "rotating container logs"
        );
        let mut listed = Instant::now();
        loop {
            let until_relist = MONITOR_PERIOD.saturating_sub(listed.elapsed());
            let woken = match self.watcher {
                Some(_) => wakes.recv_timeout(until_relist),
                None => wakes.recv_timeout(until_relist.min(UNWATCHED_CHECK)),
            };
            let Some(shared) = self.shared.upgrade() else {
                return;
            };
            let relist = shared.relist.swap(false, Ordering::Relaxed);
            drop(shared);
            match woken {
                Ok(()) if !relist => {
                    self.check();
                    std::thread::sleep(CHECK_SPACING);
                }
                // Unwatched: a periodic check between two listings.
                Err(RecvTimeoutError::Timeout) if listed.elapsed() < MONITOR_PERIOD => {
                    self.check();
                }
                Ok(()) | Err(RecvTimeoutError::Timeout) => {
                    self.relist();
                    listed = Instant::now();
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Lists the running containers we manage whose logs are ours, watches their logs'
    /// directories, and checks them.
    fn relist(&mut self) {
        let running = match self.writers.running() {
            Ok(running) => running,
            Err(err) => {
                tracing::debug!(%err, "cannot list containers to rotate their logs");
                return;
            }
        };
        let running: BTreeSet<String> = running.into_iter().collect();
        self.logs.retain(|id, _| running.contains(id));
        for id in running {
            if self.logs.contains_key(&id) {
                continue;
            }
            let Some(path) = self.writers.log_path(&id) else {
                continue;
            };
            if path.starts_with(&self.policy.directory) {
                self.logs.insert(id, Log::new(path));
            }
        }
        self.watch_directories();
        self.check();
    }

    fn watch_directories(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let wanted: BTreeSet<PathBuf> = self
            .logs
            .values()
            .filter_map(|log| log.path.parent().map(Path::to_owned))
            .collect();
        for gone in self.watched.difference(&wanted) {
            let _ = watcher.unwatch(gone);
        }
        self.watched.retain(|dir| wanted.contains(dir));
        for dir in wanted {
            if !self.watched.contains(&dir) {
                match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.watched.insert(dir);
                    }
                    Err(err) => {
                        tracing::debug!(dir = %dir.display(), %err, "cannot watch a log directory yet")
                    }
                }
            }
        }
    }

    /// Checks every log's size, and rotates those that must be.
    fn check(&mut self) {
        let ids: Vec<String> = self.logs.keys().cloned().collect();
        for id in ids {
            let Some(log) = self.logs.get_mut(&id) else {
                continue;
            };
            let size = fs::metadata(&log.path).map(|m| m.len());
            let checked = Instant::now();
            match size {
                Ok(size) => {
                    log.observe(size, checked);
                    let margin = log.margin(self.rotation_time.at(checked), checked);
                    if must_rotate(size, margin, self.policy.max_size) {
                        self.rotate(&id, checked);
                    }
                }
                // The runtime's reopen of a rotation still under way.
                Err(err)
                    if err.kind() == io::ErrorKind::NotFound
                        && log.rotated.is_some_and(|at| at.elapsed() < REOPEN_WAIT) => {}
                // The kubelet's rule: a running container's log that is gone is reopened.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    if let Err(err) = self.writers.reopen(&id) {
                        tracing::debug!(container = %id, %err, "cannot reopen a missing log");
                    }
                }
                Err(err) => {
                    tracing::debug!(container = %id, %err, "cannot read the size of a log");
                }
            }
        }
    }

    /// Renames container `id`'s log to its rotated name and has the runtime reopen it; a
    /// reopen that fails puts the file back, to try again at the next check.
    fn rotate(&mut self, id: &str, checked: Instant) {
        let Some(log) = self.logs.get_mut(id) else {
            return;
        };
        log.last = None;
        log.rotated = Some(checked);
        let path = log.path.clone();
        let max_files = self.policy.max_files;
        let renamed = {
            let _turn = self.files.lock().expect("rotated files lock");
            // Room for the file about to be rotated, the current one counting too.
            trim_rotated(&path, max_files.saturating_sub(2)).and_then(|names| {
                let rotated = rotated_path(&path, SystemTime::now(), &names);
                fs::rename(&path, &rotated).map(|()| rotated)
            })
        };
        let rotated = match renamed {
            Ok(rotated) => rotated,
            Err(err) => {
                tracing::warn!(container = id, path = %path.display(), %err, "cannot rotate a log");
                return;
            }
        };
        if let Err(err) = self.writers.reopen(id) {
            tracing::warn!(container = id, path = %path.display(), %err, "the runtime did not reopen the rotated log; putting it back");
            if let Err(err) = fs::rename(&rotated, &path) {
                tracing::error!(rotated = %rotated.display(), %err, "cannot put a rotated log back");
            }
            if matches!(err, ReopenError::Gone) {
                self.logs.remove(id);
            }
            return;
        }
        let took = checked.elapsed();
        self.rotation_time.see(took.as_secs_f64(), Instant::now());
        tracing::debug!(container = id, rotated = %rotated.display(), ?took, "rotated a log");
        let _ = self.tidy.send(path);
    }
}

impl Log {
    /// The log at `path`, not yet checked.
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            last: None,
            rotated: None,
            rate: Peak::default(),
            step: Peak::default(),
        }
    }

    /// Records the size seen at `now`: how fast the file grew since the last check, and by
    /// how much.
    fn observe(&mut self, size: u64, now: Instant) {
        if let Some((last, at)) = self.last {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            let grown = size.saturating_sub(last) as f64;
            if elapsed > 0.0 {
                self.rate.see(grown / elapsed, now);
            }
            self.step.see(grown, now);
        }
        self.last = Some((size, now));
    }

    /// How much the file may grow before a rotation decided at `now` is done, with a
    /// rotation taking `rotation_time` seconds: what it grows until the next check and while
    /// the rotation runs, doubled, and at least what it grows in [`MIN_LEAD`].
    fn margin(&self, rotation_time: f64, now: Instant) -> f64 {
        let rate = self.rate.at(now);
        let until_done = self.step.at(now) + rate * rotation_time;
        (2.0 * until_done).max(rate * MIN_LEAD.as_secs_f64())
    }
}

/// Whether a log of `size` bytes is rotated now, when it may grow by `margin` bytes until a
/// rotation started now is done: when that would take it past `max`. The margin counts for
/// at most half of `max`, so a burst never rotates a file under half the limit.
fn must_rotate(size: u64, margin: f64, max: u64) -> bool {
    size as f64 + margin.min(max as f64 / 2.0) >= max as f64
}

/// The rotated files of `log` (`<log>.<stamp>`, gzipped or not, and leftovers), by name.
fn rotated_names(log: &Path) -> io::Result<Vec<String>> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The rotated files of `log` that are not compressed, oldest first.
fn plain_rotated(log: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(rotated_names(log)?
        .into_iter()
        .filter(|name| stamp_of(name).is_some() && !name.ends_with(GZ) && !name.ends_with(TMP))
        .map(|name| log.with_file_name(name))
        .collect())
}

/// The newest rotated file of `log` that is not compressed: the one the runtime wrote to
/// last, until it reopened `log`.
pub fn newest_rotated(log: &Path) -> io::Result<Option<PathBuf>> {
    Ok(plain_rotated(log)?.pop())
}

/// The file of a log that comes after another one.
#[derive(Debug, PartialEq, Eq)]
pub struct Next {
    /// Its path.
    pub path: PathBuf,
    /// True when files came between them that are compressed or removed now.
    pub skipped: bool,
}

/// The file of `log` written after the one with `inode`: the next rotated file, or `log`
/// itself when that one was the newest rotated. When it is no uncompressed rotated file (it
/// was compressed or removed since), the oldest uncompressed one, or `log`.
pub fn next_file(log: &Path, inode: u64) -> io::Result<Next> {
    let plain = plain_rotated(log)?;
    let position = plain
        .iter()
        .position(|path| fs::metadata(path).is_ok_and(|metadata| metadata.ino() == inode));
    let (next, skipped) = match position {
        Some(at) => (plain.get(at + 1), false),
        None => (plain.first(), true),
    };
    Ok(Next {
        path: next.cloned().unwrap_or_else(|| log.to_owned()),
        skipped,
    })
}

/// What a follower reads after a file of `log` it has drained.
#[derive(Debug, PartialEq, Eq)]
pub struct After {
    /// The rotated files written next that are compressed now, oldest first: a follower
    /// more than a rotation behind reads them through gzip.
    pub compressed: Vec<PathBuf>,
    /// Then this one: the next uncompressed rotated file, or `log` itself.
    pub next: PathBuf,
}

/// What comes after the file of `log` whose first line is `head` (compressed since, or
/// not): `None` when no rotated file starts with it (it was removed).
pub fn after(log: &Path, head: &[u8]) -> io::Result<Option<After>> {
    let mut rotated: Vec<(NaiveDateTime, PathBuf)> = Vec::new();
    for name in rotated_names(log)? {
        let Some(stamp) = stamp_of(&name).filter(|_| !name.ends_with(TMP)) else {
            continue;
        };
        // While a file is compressed both copies exist for a moment: the plain one counts.
        match rotated.last_mut() {
            Some((last, path)) if *last == stamp => {
                if !name.ends_with(GZ) {
                    *path = log.with_file_name(&name);
                }
            }
            _ => rotated.push((stamp, log.with_file_name(&name))),
        }
    }
    let mut found = None;
    for (at, (_, path)) in rotated.iter().enumerate() {
        match first_line(path) {
            Ok(line) if line == head => {
                found = Some(at);
                break;
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    let Some(at) = found else {
        return Ok(None);
    };
    let mut compressed = Vec::new();
    for (_, path) in &rotated[at + 1..] {
        if is_compressed(path) {
            compressed.push(path.clone());
        } else {
            return Ok(Some(After {
                compressed,
                next: path.clone(),
            }));
        }
    }
    Ok(Some(After {
        compressed,
        next: log.to_owned(),
    }))
}

/// True for a rotated file's gzipped copy.
pub fn is_compressed(path: &Path) -> bool {
    path.as_os_str().to_string_lossy().ends_with(GZ)
}

/// The first line of a log file (gzipped or not), without its newline: at most 64 KiB.
pub fn first_line(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::{BufRead, BufReader, Read};
    let file = fs::File::open(path)?;
    let reader: Box<dyn Read> = if is_compressed(path) {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut line = Vec::new();
    BufReader::new(reader.take(64 * 1024)).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

/// The stamp of a rotated file's name: `0.log.20240501-123456.gz` → 2024-05-01 12:34:56.
fn stamp_of(name: &str) -> Option<NaiveDateTime> {
    let (_, rest) = name.split_once(".log.")?;
    NaiveDateTime::parse_from_str(rest.get(..15)?, STAMP).ok()
}

/// Where `log` is rotated to at `now`: `<log>.<now's stamp>`, or a second after the newest
/// of `rotated` (the names of its rotated files) if that is not later, so that names sort
/// oldest first and never collide.
fn rotated_path(log: &Path, now: SystemTime, rotated: &[String]) -> PathBuf {
    let now = DateTime::<Utc>::from(now).naive_utc();
    let mut stamp = now.with_nanosecond(0).unwrap_or(now);
    if let Some(newest) = rotated.iter().filter_map(|name| stamp_of(name)).max()
        && newest >= stamp
    {
        stamp = newest + chrono::Duration::seconds(1);
    }
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{}", stamp.format(STAMP)));
    PathBuf::from(name)
}

/// Brings `log`'s rotated files to the policy: [`trim_rotated`] to `max_files - 1` (the
/// current file is the last), then every one but the newest gzipped. The oldest go first,
/// so that a reader of the newest is not disturbed.
fn tidy_rotated(log: &Path, max_files: u32) -> io::Result<()> {
    let Some(dir) = log.parent() else {
        return Ok(());
    };
    let kept = trim_rotated(log, max_files.saturating_sub(1))?;
    if let Some((_newest, older)) = kept.split_last() {
        for name in older.iter().filter(|name| !name.ends_with(GZ)) {
            compress(&dir.join(name))?;
        }
    }
    Ok(())
}

/// Removes the leftovers of an interrupted compression among `log`'s rotated files (their
/// `.tmp` files, and a file whose `.gz` is complete), and the oldest beyond `keep`. Returns the
/// names of those kept (gzipped or not), oldest first.
fn trim_rotated(log: &Path, keep: u32) -> io::Result<Vec<String>> {
    let Some(dir) = log.parent() else {
        return Ok(Vec::new());
    };
    let names = rotated_names(log)?;
    let mut kept = Vec::new();
    for name in &names {
        // A compression's `<log>.<stamp>.tmp`, never conmon's `<log>.tmp` (the file it
        // reopens into, about to be renamed to `<log>`: conmon exits if it is gone).
        let stamped = stamp_of(name).is_some();
        let leftover = stamped
            && (name.ends_with(TMP) || names.iter().any(|other| *other == format!("{name}{GZ}")));
        if leftover {
            remove(&dir.join(name))?;
        } else if stamped {
            kept.push(name.clone());
        }
    }
    let excess = kept.len().saturating_sub(keep as usize);
    for name in kept.drain(..excess) {
        remove(&dir.join(name))?;
    }
    Ok(kept)
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Gzips `path` to `<path>.gz` (through `<path>.tmp`, so a `.gz` is always whole), then
/// removes it.
fn compress(path: &Path) -> io::Result<()> {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let (tmp, gz) = (with(TMP), with(GZ));
    let mut source = fs::File::open(path)?;
    let mut encoder =
        flate2::write::GzEncoder::new(fs::File::create(&tmp)?, flate2::Compression::default());
    let written = io::copy(&mut source, &mut encoder).and_then(|_| encoder.finish());
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    fs::rename(&tmp, &gz)?;
    remove(path)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::UNIX_EPOCH;

    use super::*;

    const MI: u64 = 1024 * 1024;

    #[test]
    fn a_file_is_rotated_before_what_it_grows_meanwhile_takes_it_past_the_limit() {
        assert!(!must_rotate(9 * MI, 0.0, 10 * MI), "idle, under the limit");
        assert!(must_rotate(10 * MI, 0.0, 10 * MI), "at the limit");
        assert!(!must_rotate(7 * MI, 2.0 * MI as f64, 10 * MI));
        assert!(must_rotate(8 * MI, 2.0 * MI as f64, 10 * MI));
        // A burst never rotates a file under half the limit.
        assert!(!must_rotate(4 * MI, 1e12, 10 * MI));
        assert!(must_rotate(5 * MI, 1e12, 10 * MI));
    }

    fn log() -> Log {
        Log::new(PathBuf::from("0.log"))
    }

    #[test]
    fn the_margin_covers_the_growth_until_the_next_check_and_during_a_rotation() {
        let start = Instant::now();
        let mut log = log();
        log.observe(0, start);
        // 1 MiB in 100 ms: 10 MiB/s, steps of 1 MiB.
        let now = start + Duration::from_millis(100);
        log.observe(MI, now);
        let margin = log.margin(0.05, now) / MI as f64;
        assert!((margin - 2.0 * (1.0 + 0.5)).abs() < 1e-9, "{margin}");
        // Checks close together: at least what 100 ms at the rate bring.
        let mut steady = self::log();
        for step in 0..=10 {
            steady.observe(step * 10_000, start + Duration::from_millis(step));
        }
        let at = start + Duration::from_millis(10);
        let margin = steady.margin(0.0, at);
        assert!((margin - 1_000_000.0).abs() < 1.0, "{margin}");
    }

    #[test]
    fn a_peak_counts_at_once_and_is_halved_every_second() {
        let start = Instant::now();
        let mut peak = Peak::default();
        peak.see(8.0, start);
        peak.see(1.0, start + Duration::from_millis(100));
        let after_a_lull = peak.at(start + Duration::from_millis(100));
        assert!((after_a_lull - 8.0 * 0.5f64.powf(0.1)).abs() < 1e-9);
        let later = peak.at(start + Duration::from_millis(2100));
        assert!((later - 2.0 * 0.5f64.powf(0.1)).abs() < 1e-9, "{later}");
        peak.see(9.0, start + Duration::from_secs(3));
        assert_eq!(peak.at(start + Duration::from_secs(3)), 9.0);
    }

    fn at(stamp: &str) -> SystemTime {
        let time = NaiveDateTime::parse_from_str(stamp, STAMP).unwrap();
        UNIX_EPOCH + Duration::from_secs(time.and_utc().timestamp() as u64)
    }

    #[test]
    fn a_follower_behind_reads_the_compressed_files_after_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let write = |name: &str, text: &str| fs::write(dir.path().join(name), text).unwrap();
        write("0.log.20240501-120000", "first\nmore\n");
        write("0.log.20240501-120001", "second\n");
        write("0.log.20240501-120002", "third\n");
        write("0.log.20240501-120003", "fourth\n");
        write("0.log", "current\n");
        compress(&dir.path().join("0.log.20240501-120000")).unwrap();
        compress(&dir.path().join("0.log.20240501-120001")).unwrap();
        compress(&dir.path().join("0.log.20240501-120002")).unwrap();
        let path = |name: &str| dir.path().join(name);
        assert_eq!(
            first_line(&path("0.log.20240501-120000.gz")).unwrap(),
            b"first"
        );
        assert_eq!(
            after(&log, b"first").unwrap(),
            Some(After {
                compressed: vec![
                    path("0.log.20240501-120001.gz"),
                    path("0.log.20240501-120002.gz")
                ],
                next: path("0.log.20240501-120003"),
            }),
            "the reader of the first file, compressed since, reads the next two from gzip"
        );
        assert_eq!(
            after(&log, b"fourth").unwrap(),
            Some(After {
                compressed: vec![],
                next: log.clone(),
            })
        );
        assert_eq!(
            after(&log, b"gone").unwrap(),
            None,
            "a removed file is not found"
        );
    }

    #[test]
    fn rotated_names_carry_the_utc_stamp_and_never_that_of_an_older_one() {
        let log = Path::new("/var/log/pods/ns_p_u/web/0.log");
        let now = at("20240501-123456");
        assert_eq!(
            rotated_path(log, now, &[]),
            Path::new("/var/log/pods/ns_p_u/web/0.log.20240501-123456")
        );
        let older = ["0.log.20240501-120000.gz".to_owned()];
        assert_eq!(
            rotated_path(log, now, &older),
            Path::new("/var/log/pods/ns_p_u/web/0.log.20240501-123456")
        );
        let same_second = [
            "0.log.20240501-123455.gz".to_owned(),
            "0.log.20240501-123456".to_owned(),
        ];
        assert_eq!(
            rotated_path(log, now + Duration::from_millis(300), &same_second),
            Path::new("/var/log/pods/ns_p_u/web/0.log.20240501-123457")
        );
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn tidying_keeps_max_files_compresses_all_but_the_newest_and_removes_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| fs::write(dir.path().join(name), text).unwrap();
        file("0.log", "current\n");
        file("1.log", "another attempt's log\n");
        file("0.log.20240501-120000.gz", "oldest");
        file("0.log.20240501-120001", "second\n");
        file("0.log.20240501-120001.gz", "second, compressed");
        file("0.log.20240501-120002", "third\n");
        file("0.log.20240501-120003.tmp", "an interrupted compression");
        file("0.log.20240501-120004", "fourth\n");
        file("0.log.20240501-120005", "newest\n");
        file("0.log.tmp", "conmon's reopened file, not yet renamed");

        tidy_rotated(&dir.path().join("0.log"), 4).unwrap();
        assert_eq!(
            files(dir.path()),
            [
                "0.log",
                "0.log.20240501-120002.gz",
                "0.log.20240501-120004.gz",
                "0.log.20240501-120005",
                "0.log.tmp",
                "1.log",
            ]
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(
            fs::File::open(dir.path().join("0.log.20240501-120004.gz")).unwrap(),
        )
        .read_to_string(&mut text)
        .unwrap();
        assert_eq!(text, "fourth\n");

        tidy_rotated(&dir.path().join("0.log"), 4).unwrap();
        assert_eq!(files(dir.path()).len(), 6, "tidy twice is tidy once");
        assert_eq!(
            newest_rotated(&dir.path().join("0.log")).unwrap(),
            Some(dir.path().join("0.log.20240501-120005"))
        );
        assert_eq!(newest_rotated(&dir.path().join("1.log")).unwrap(), None);
    }

    #[test]
    fn before_a_rotation_the_oldest_files_make_room_for_the_one_it_adds() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| fs::write(dir.path().join(name), name).unwrap();
        file("0.log");
        file("0.log.20240501-120000.gz");
        file("0.log.20240501-120001");
        // `max_files` 3: the current file, the one about to be rotated, one more.
        let kept = trim_rotated(&dir.path().join("0.log"), 3 - 2).unwrap();
        assert_eq!(kept, ["0.log.20240501-120001"]);
        assert_eq!(files(dir.path()), ["0.log", "0.log.20240501-120001"]);
    }

    #[test]
    fn the_file_after_a_rotated_one_is_the_next_rotated_one_or_the_current() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let inode = |name: &str| fs::metadata(dir.path().join(name)).unwrap().ino();
        for name in ["0.log", "0.log.20240501-120001", "0.log.20240501-120002"] {
            fs::write(dir.path().join(name), name).unwrap();
        }
        fs::write(dir.path().join("0.log.20240501-120000.gz"), "older").unwrap();
        let next = |inode| next_file(&log, inode).unwrap();
        let at = |name: &str| dir.path().join(name);
        let first = inode("0.log.20240501-120001");
        assert_eq!(
            next(first),
            Next {
                path: at("0.log.20240501-120002"),
                skipped: false
            }
        );
        let newest = inode("0.log.20240501-120002");
        assert_eq!(
            next(newest),
            Next {
                path: log.clone(),
                skipped: false
            }
        );
        // A file since compressed away: the oldest left.
        let gone = inode("0.log.20240501-120000.gz") + 1_000_000;
        assert_eq!(
            next(gone),
            Next {
                path: at("0.log.20240501-120001"),
                skipped: true
            }
        );
        fs::remove_file(at("0.log.20240501-120001")).unwrap();
        fs::remove_file(at("0.log.20240501-120002")).unwrap();
        assert_eq!(
            next(gone),
            Next {
                path: log.clone(),
                skipped: true
            }
        );
    }
}

//! Container logs read from the files a runtime writes where the agent said (CRI's
//! `ContainerStatus.log_path`, Podman's conmon `k8s-file`), as the kubelet reads them: in
//! the CRI log format (`<RFC 3339 time> <stdout|stderr> <P|F> <text>` a line, `P` for the
//! part of a longer line). Lines are parsed and joined, `tail_lines` counts whole lines back
//! from the end of the file, and `follow` waits for appends with inotify, follows the file
//! across a rotation (the rotated file is read until the runtime has closed it, then the new
//! one from its start; a follower rotations behind reads the files between, compressed ones
//! through gzip), and ends once the container has exited and its file is drained.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::io::AsyncReadExt;

use crate::inotify::{self, Changes};
use crate::log_rotation;
use crate::logs::{LogFormat, LogMessage, LogOptions, LogStream, StreamType};
use crate::{RuntimeError, RuntimeResult, timestamp};

/// How long a follower waits for an append before asking whether the container still runs
/// (the kubelet's `logForceCheckPeriod`): containerd 1.6 sends no exit events.
const STATE_CHECK_PERIOD: Duration = Duration::from_secs(1);
/// How long a follower whose file was replaced waits for the runtime to close it before it
/// goes on into the new file anyway (a close it did not see). Going on sooner loses the
/// head of a line the runtime was in the middle of: it writes that to the old file when it
/// reopens, which can take seconds on a loaded node.
const REOPEN_WAIT: Duration = Duration::from_secs(10);
/// How much of the file is read at a time.
const READ_SIZE: usize = 64 * 1024;
/// The longest line kept whole; the rest of a longer one (not the runtime's CRI format,
/// which splits lines at 16 KiB) is left out.
const MAX_LINE: usize = 1024 * 1024;
/// Enough of a line's start to hold its time, stream and tag.
const HEAD: usize = 64;

/// One line of a CRI log file, without its newline. `None` when it is not in the CRI format.
pub fn parse_line(line: &[u8]) -> Option<LogMessage<'_>> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = timestamp::parse(std::str::from_utf8(fields.next()?).ok()?).ok()?;
    let stream = match fields.next()? {
        b"stdout" => StreamType::Stdout,
        b"stderr" => StreamType::Stderr,
        _ => return None,
    };
    let tag = fields.next()?;
    Some(LogMessage {
        stream,
        time,
        text: fields.next().unwrap_or_default(),
        partial: is_partial(tag),
    })
}

/// True for a line's tags (`P`, or `P:...` for tags of later CRI versions) that mark the part
/// of a longer line.
fn is_partial(tags: &[u8]) -> bool {
    tags.split(|&b| b == b':').next() == Some(b"P")
}

/// True when the line starting with `head` ends a line of the container's (tag `F`, or a
/// line we cannot read, which counts as one).
fn ends_a_line(head: &[u8]) -> bool {
    let tags = head.splitn(4, |&b| b == b' ').nth(2);
    !tags.is_some_and(is_partial)
}

/// Where the last `lines` whole lines of the log in `file` begin: after the line that ends
/// the one before them, or at 0 when the file holds no more. The parts of a long line count
/// as one line with its end; a last line still being written does not count.
pub fn tail_start(file: &mut File, lines: u64) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if lines == 0 {
        return Ok(len);
    }
    let mut block = vec![0; READ_SIZE];
    let mut pos = len;
    // The end (after its newline) of the line whose start is still to be found, once found.
    let mut line_end: Option<u64> = None;
    // The first bytes, as far as read, of the bytes after the block being read.
    let mut carry: Vec<u8> = Vec::new();
    let mut ends_seen = 0;
    while pos > 0 {
        let start = pos.saturating_sub(READ_SIZE as u64);
        let block = &mut block[..(pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(block)?;
        let mut right = block.len();
        for newline in memrchr_all(block) {
            if let Some(end) = line_end {
                // The line after this newline is whole.
                let mut head = block[newline + 1..right].to_vec();
                head.extend_from_slice(&carry);
                head.truncate(HEAD);
                if ends_a_line(&head) {
                    ends_seen += 1;
                    if ends_seen > lines {
                        return Ok(end);
                    }
                }
            }
            line_end = Some(start + newline as u64 + 1);
            carry.clear();
            right = newline;
        }
        let mut head = block[..right].to_vec();
        head.extend_from_slice(&carry);
        head.truncate(HEAD);
        carry = head;
        pos = start;
    }
    // The file's first line, whose start is the file's.
    match line_end {
        Some(end) if ends_a_line(&carry) && ends_seen + 1 > lines => Ok(end),
        _ => Ok(0),
    }
}

/// The positions of the newlines in `block`, last first.
fn memrchr_all(block: &[u8]) -> impl Iterator<Item = usize> + '_ {
    block
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
}

/// Opens `path` at the start of its last `tail` lines (all of it without a tail). Between
/// a rotation's rename and the runtime's reopen there is no file at `path`: the newest
/// rotated file is read then, and a follower goes on into the new file once it is there.
fn open_at_tail(path: &Path, tail: Option<u64>) -> io::Result<(File, u64)> {
    let mut file = match File::open(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let rotated = log_rotation::newest_rotated(path)?.ok_or(err)?;
            File::open(rotated)?
        }
        opened => opened?,
    };
    let start = match tail {
        Some(lines) => tail_start(&mut file, lines)?,
        None => 0,
    };
    file.seek(SeekFrom::Start(start))?;
    let inode = file.metadata()?.ino();
    Ok((file, inode))
}

/// Where a follower goes after the file it drained (`read`, whose inode is `inode`).
struct NextFile {
    /// The lines of the compressed files between them, each file's bytes.
    compressed: Vec<Vec<u8>>,
    /// Files between them that are gone (removed by the rotation).
    skipped: bool,
    path: PathBuf,
    file: File,
    inode: u64,
}

/// The file of `log` after `read`: found by its first line among the rotated files
/// (compressed or not), the compressed ones between read through gzip; when it is not
/// found, the next uncompressed one by inode, or the oldest.
fn next_after(log: &Path, read: &File, inode: u64) -> io::Result<NextFile> {
    let head = first_line_at(read)?;
    let (compressed, skipped, path) = match log_rotation::after(log, &head)? {
        Some(after) => {
            let mut texts = Vec::new();
            let mut skipped = false;
            for gz in &after.compressed {
                let mut text = Vec::new();
                match File::open(gz) {
                    Ok(file) => {
                        flate2::read::GzDecoder::new(file).read_to_end(&mut text)?;
                        texts.push(text);
                    }
                    Err(err) if err.kind() == io::ErrorKind::NotFound => skipped = true,
                    Err(err) => return Err(err),
                }
            }
            (texts, skipped, after.next)
        }
        None => {
            let next = log_rotation::next_file(log, inode)?;
            (Vec::new(), next.skipped, next.path)
        }
    };
    let file = File::open(&path)?;
    let inode = file.metadata()?.ino();
    Ok(NextFile {
        compressed,
        skipped,
        path,
        file,
        inode,
    })
}

/// The first line of the open `file`, wherever it is read up to, without its newline (at
/// most 64 KiB).
fn first_line_at(file: &File) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0; 64 * 1024];
    let read = file.read_at(&mut head, 0)?;
    head.truncate(read);
    if let Some(end) = head.iter().position(|&b| b == b'\n') {
        head.truncate(end);
    }
    Ok(head)
}

/// What a log reader asks of the backend whose container's log it reads.
#[async_trait::async_trait]
pub trait LogOwner: Send + Sync + 'static {
    /// Whether container `id` still runs: false once it exited, or is gone.
    async fn still_running(&self, id: &str) -> RuntimeResult<bool>;
    /// The backend's error for a failed read of container `id`'s log.
    fn log_error(&self, id: &str, error: LogFileError) -> RuntimeError;
}

/// Why a log file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    /// The file could not be read.
    #[error("cannot read the container log {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The log's directory could not be watched for appends, to follow it.
    #[error("cannot watch {} for appends to the container log", path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: notify::Error,
    },
}

/// The log of container `id`, written to `path`, as `options` ask; a follower follows it
/// while `running` (and until `owner` says the container stopped).
pub async fn read(
    owner: Arc<dyn LogOwner>,
    id: &str,
    path: PathBuf,
    options: &LogOptions,
    running: bool,
) -> RuntimeResult<LogStream> {
    let opened = {
        let path = path.clone();
        let tail = options.tail_lines;
        tokio::task::spawn_blocking(move || open_at_tail(&path, tail)).await
    };
    let (file, inode) = opened
        .unwrap_or_else(|panic| Err(io::Error::other(panic)))
        .map_err(|source| {
            let path = path.clone();
            owner.log_error(id, LogFileError::File { path, source })
        })?;
    let reader = Reader {
        owner,
        id: id.to_owned(),
        path,
        file: tokio::fs::File::from_std(file),
        inode,
        unread: Vec::new(),
        format: LogFormat::new(options),
        follow: options.follow && running,
        exited: false,
        watch: None,
        replaced: None,
        done: false,
    };
    Ok(Box::pin(futures_util::stream::unfold(reader, Reader::next)))
}

/// A follower's inotify watch on the log's directory, and what it saw.
struct Watch {
    _watcher: RecommendedWatcher,
    changes: Changes,
}

/// The state of one log stream.
struct Reader {
    owner: Arc<dyn LogOwner>,
    id: String,
    path: PathBuf,
    file: tokio::fs::File,
    /// The inode of `file`: another one at `path` means the log was rotated.
    inode: u64,
    /// Read bytes after the last whole line: a line still being written.
    unread: Vec<u8>,
    format: LogFormat,
    follow: bool,
    /// Seen exited: once the file is drained, the log is over.
    exited: bool,
    watch: Option<Watch>,
    /// Since when the file read here has been replaced at `path`: the runtime may still
    /// write the end of a line to it, until it closes it.
    replaced: Option<Instant>,
    done: bool,
}

impl Reader {
    /// The next output: what the next reads give; when following, waits for appends.
    async fn next(mut self) -> Option<(RuntimeResult<Bytes>, Self)> {
        let mut out = Vec::new();
        while !self.done && out.is_empty() {
            if let Err(err) = self.step(&mut out).await {
                self.done = true;
                return Some((Err(err), self));
            }
            if self.format.is_full() {
                self.done = true;
            }
        }
        (!out.is_empty()).then(|| (Ok(Bytes::from(out)), self))
    }

    /// One read of the file; at its end, the end of the log, a switch to the file that
    /// replaced it, or a wait.
    async fn step(&mut self, out: &mut Vec<u8>) -> RuntimeResult<()> {
        let mut chunk = Vec::with_capacity(READ_SIZE);
        let read = (&mut self.file)
            .take(READ_SIZE as u64)
            .read_to_end(&mut chunk)
            .await
            .map_err(|source| self.file_error(source))?;
        if read > 0 {
            self.lines(&chunk, out);
            return Ok(());
        }
        if !self.follow || self.exited {
            self.format.finish(out);
            self.done = true;
            return Ok(());
        }
        if self.watch.is_none() {
            // Watch first, then read again: an append just before the watch is not missed.
            self.watch = Some(self.watch_directory()?);
            return Ok(());
        }
        if self.follow_rotation(out).await? {
            return Ok(());
        }
        let wait = match self.replaced {
            Some(since) => REOPEN_WAIT
                .saturating_sub(since.elapsed())
                .min(STATE_CHECK_PERIOD),
            None => STATE_CHECK_PERIOD,
        };
        let changes = &mut self.watch.as_mut().expect("watching").changes;
        match tokio::time::timeout(wait, changes.recv()).await {
            Ok(Some(())) => {}
            // The watcher is gone: the check below still ends the log when the container does.
            Ok(None) => tokio::time::sleep(wait).await,
            Err(_) if self.replaced.is_some() => {}
            Err(_) => {
                // Exited or removed: drain the file, then end.
                self.exited = !self.owner.still_running(&self.id).await?;
            }
        }
        Ok(())
    }

    /// Formats the whole lines of `unread` and `chunk`, keeping a last line without its
    /// newline for the next read.
    fn lines(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.unread.extend_from_slice(chunk);
        let whole = match self.unread.iter().rposition(|&b| b == b'\n') {
            Some(last) => last + 1,
            None => {
                if self.unread.len() > MAX_LINE {
                    tracing::warn!(path = %self.path.display(), "a log line longer than 1 MiB, left out");
                    self.unread.clear();
                }
                return;
            }
        };
        for line in self.unread[..whole - 1].split(|&b| b == b'\n') {
            match parse_line(line) {
                Some(message) => self.format.push(message, out),
                None => {
                    tracing::debug!(path = %self.path.display(), "a log line not in the CRI format, left out")
                }
            }
        }
        self.unread.drain(..whole);
    }

    fn watch_directory(&self) -> RuntimeResult<Watch> {
        let dir = self.path.parent().unwrap_or(Path::new("/")).to_owned();
        let watched = inotify::watch().and_then(|(mut watcher, changes)| {
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            Ok(Watch {
                _watcher: watcher,
                changes,
            })
        });
        watched.map_err(|source| {
            self.owner
                .log_error(&self.id, LogFileError::Watch { path: dir, source })
        })
    }

    /// Follows a rotation: once another file than the one read here is at the log's path,
    /// the one read here is drained until the runtime has closed it (containerd's old
    /// logger writes the head of the line it was in the middle of to the old file as it
    /// closes it, while its new logger may already write the rest to the new one), or for
    /// [`REOPEN_WAIT`] when no close is seen, and read to its end; then the files that
    /// came after it are read from their start: when this reader is more than a rotation
    /// behind, the rotated ones (those compressed meanwhile through gzip), then the new one.
    /// True when it switched.
    async fn follow_rotation(&mut self, out: &mut Vec<u8>) -> RuntimeResult<bool> {
        if self.replaced.is_none() {
            match tokio::fs::metadata(&self.path).await {
                Ok(metadata) if metadata.ino() != self.inode => {
                    self.replaced = Some(Instant::now());
                }
                Ok(_) => return Ok(false),
                // Renamed, and not yet reopened.
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(source) => return Err(self.file_error(source)),
            }
        }
        let closed = self
            .watch
            .as_ref()
            .expect("watching")
            .changes
            .was_closed(self.inode);
        let waited = self
            .replaced
            .is_some_and(|since| since.elapsed() >= REOPEN_WAIT);
        if !closed && !waited {
            return Ok(false);
        }
        let mut rest = Vec::new();
        self.file
            .read_to_end(&mut rest)
            .await
            .map_err(|source| self.file_error(source))?;
        self.lines(&rest, out);
        self.unread.clear();
        let read = self
            .file
            .try_clone()
            .await
            .map_err(|source| self.file_error(source))?
            .into_std()
            .await;
        let next = {
            let (path, inode) = (self.path.clone(), self.inode);
            tokio::task::spawn_blocking(move || next_after(&path, &read, inode))
                .await
                .unwrap_or_else(|panic| Err(io::Error::other(panic)))
        };
        let next = next.map_err(|source| self.file_error(source))?;
        for text in &next.compressed {
            self.lines(text, out);
            self.unread.clear();
        }
        if next.skipped {
            tracing::warn!(path = %self.path.display(), "a log follower fell behind the rotation's removal of the oldest files: their lines are left out");
        }
        tracing::debug!(file = %next.path.display(), "following the log into its next file");
        let (file, inode) = (next.file, next.inode);
        self.watch
            .as_ref()
            .expect("watching")
            .changes
            .forget_closed(inode);
        self.file = tokio::fs::File::from_std(file);
        self.inode = inode;
        self.replaced = None;
        Ok(true)
    }

    fn file_error(&self, source: io::Error) -> RuntimeError {
        let path = self.path.clone();
        self.owner
            .log_error(&self.id, LogFileError::File { path, source })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn cri_lines_are_parsed_with_their_stream_and_tag() {
        let message = parse_line(b"2024-05-01T12:34:56.5Z stderr P half a line").unwrap();
        assert_eq!(message.stream, StreamType::Stderr);
        assert_eq!(
            message.time,
            UNIX_EPOCH + Duration::new(1_714_566_896, 500_000_000)
        );
        assert_eq!(message.text, b"half a line");
        assert!(message.partial);

        let message = parse_line(b"2024-05-01T12:34:56Z stdout F:x  two  spaces").unwrap();
        assert_eq!(message.text, b" two  spaces");
        assert!(!message.partial, "later tags after the first are ignored");

        let empty = parse_line(b"2024-05-01T12:34:56Z stdout F ").unwrap();
        assert_eq!(empty.text, b"");
        assert_eq!(
            parse_line(b"2024-05-01T12:34:56Z stdout F").unwrap().text,
            b""
        );

        for bad in [
            &b"not a time stdout F x"[..],
            b"2024-05-01T12:34:56Z stdin F x",
            b"2024-05-01T12:34:56Z",
            b"",
        ] {
            assert!(parse_line(bad).is_none(), "{bad:?}");
        }
    }

    fn log(lines: &[(&str, &str)]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for (tag, text) in lines {
            writeln!(file, "2024-05-01T12:34:56Z stdout {tag} {text}").unwrap();
        }
        file
    }

    fn tail(file: &tempfile::NamedTempFile, lines: u64) -> String {
        let mut opened = File::open(file.path()).unwrap();
        let start = tail_start(&mut opened, lines).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        text[start as usize..]
            .lines()
            .map(|line| line.splitn(4, ' ').nth(3).unwrap())
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn the_tail_counts_whole_lines_from_the_end() {
        let file = log(&[
            ("F", "one"),
            ("P", "two a"),
            ("P", "two b"),
            ("F", "two c"),
            ("F", "three"),
        ]);
        assert_eq!(tail(&file, 1), "three");
        assert_eq!(tail(&file, 2), "two a|two b|two c|three");
        assert_eq!(tail(&file, 3), "one|two a|two b|two c|three");
        assert_eq!(tail(&file, 30), "one|two a|two b|two c|three");
        assert_eq!(tail(&file, 0), "");
    }

    #[test]
    fn a_last_line_still_being_written_is_not_counted() {
        let mut file = log(&[("F", "one"), ("F", "two")]);
        write!(file, "2024-05-01T12:34:56Z stdout F thr").unwrap();
        let mut opened = File::open(file.path()).unwrap();
        let start = tail_start(&mut opened, 1).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(text[start as usize..].starts_with("2024-05-01T12:34:56Z stdout F two\n"));
    }

    #[test]
    fn the_tail_is_found_across_read_blocks() {
        let long = "x".repeat(READ_SIZE + 100);
        let lines: Vec<(&str, String)> = (0..200)
            .map(|i| {
                (
                    "F",
                    if i == 150 {
                        long.clone()
                    } else {
                        format!("line {i}")
                    },
                )
            })
            .collect();
        let borrowed: Vec<(&str, &str)> = lines.iter().map(|(t, s)| (*t, s.as_str())).collect();
        let file = log(&borrowed);
        assert_eq!(tail(&file, 2), "line 198|line 199");
        let fifty = tail(&file, 50);
        assert!(
            fifty.starts_with(&format!("{long}|line 151|")),
            "{}",
            &fifty[..80]
        );
        assert_eq!(tail(&file, 500).split('|').count(), 200);
    }

    #[test]
    fn an_empty_file_has_no_tail() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut opened = File::open(file.path()).unwrap();
        assert_eq!(tail_start(&mut opened, 10).unwrap(), 0);
    }
}

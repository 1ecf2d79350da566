//! Container logs as [`crate::ContainerRuntime::logs`] serves them, the way `kubectl logs`
//! asks for them: what a reader asks for ([`LogOptions`]), the bytes it gets
//! ([`LogStream`]), how the messages a runtime recorded become those bytes ([`LogFormat`]:
//! partial lines joined, `since`, timestamps, the byte limit), and how container log files
//! are rotated where the agent manages them ([`LogRotation`]).

use std::path::PathBuf;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::timestamp;
use crate::{RuntimeError, RuntimeResult};

/// What a reader asks of a container's log, as the fields of `kubectl logs` (the API's
/// `PodLogOptions`, `previous` aside: the older instance is asked for by its own id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the stream open and send what the container writes later, until it exits (and
    /// its log is drained) or the reader drops the stream.
    pub follow: bool,
    /// Only the last lines (the newest ones), then whatever follows.
    pub tail_lines: Option<u64>,
    /// Only the lines written at or after this time.
    pub since: Option<SystemTime>,
    /// Prefix each line with its time (RFC 3339, nine fraction digits, UTC) and a space.
    pub timestamps: bool,
    /// Stop after this many bytes of output (prefixes included; the last line may be cut).
    pub limit_bytes: Option<u64>,
}

/// A container's log: the lines of its stdout and stderr, interleaved in the order they were
/// written, each ending with a newline. An item may hold many lines, or part of one when the
/// byte limit cuts it; an error ends the stream.
pub type LogStream = Pin<Box<dyn Stream<Item = RuntimeResult<Bytes>> + Send>>;

/// Which of a container's outputs a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    /// Its standard output.
    Stdout,
    /// Its standard error.
    Stderr,
}

/// One message as a runtime recorded it: a whole line, or a part of a long one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogMessage<'a> {
    /// The output it came from.
    pub stream: StreamType,
    /// When the runtime read it.
    pub time: SystemTime,
    /// Its text, without the newline that ends a line.
    pub text: &'a [u8],
    /// True when the line goes on in the stream's next message (CRI's `P` tag).
    pub partial: bool,
}

impl<'a> LogMessage<'a> {
    /// A message as Docker and libpod send it when asked for timestamps: `<RFC 3339 time>
    /// <text>`, ending with a newline unless a longer line goes on in the next one. `None`
    /// when it does not start with a time.
    pub fn timestamped(stream: StreamType, frame: &'a [u8]) -> Option<Self> {
        let space = frame.iter().position(|&b| b == b' ')?;
        let time = std::str::from_utf8(&frame[..space]).ok()?;
        let time = timestamp::parse(time).ok()?;
        let text = &frame[space + 1..];
        let (text, partial) = match text.strip_suffix(b"\n") {
            Some(line) => (line, false),
            None => (text, true),
        };
        Some(LogMessage {
            stream,
            time,
            text,
            partial,
        })
    }
}

/// The [`LogStream`] of a runtime that sends a log as timestamped frames (Docker, libpod;
/// see [`LogMessage::timestamped`]), formatted as `options` ask; `error` translates the
/// runtime's errors. It ends when `frames` end, at the byte limit, or at the first error.
pub fn from_frames<S, E: 'static, F>(frames: S, options: &LogOptions, error: F) -> LogStream
where
    S: Stream<Item = Result<(StreamType, Bytes), E>> + Send + 'static,
    F: Fn(E) -> RuntimeError + Send + 'static,
{
    let reader = Frames {
        frames: Box::pin(frames),
        format: LogFormat::new(options),
        error,
        ended: false,
    };
    Box::pin(futures_util::stream::unfold(reader, Frames::next))
}

/// The state of a [`from_frames`] stream.
struct Frames<S, F> {
    frames: Pin<Box<S>>,
    format: LogFormat,
    error: F,
    ended: bool,
}

impl<S, E, F> Frames<S, F>
where
    S: Stream<Item = Result<(StreamType, Bytes), E>>,
    F: Fn(E) -> RuntimeError,
{
    /// The output of the frames up to the next that gives any.
    async fn next(mut self) -> Option<(RuntimeResult<Bytes>, Self)> {
        let mut out = Vec::new();
        while !self.ended && out.is_empty() {
            match self.frames.next().await {
                Some(Ok((stream, frame))) => match LogMessage::timestamped(stream, &frame) {
                    Some(message) => self.format.push(message, &mut out),
                    None => tracing::warn!(?stream, "a log frame without its time, left out"),
                },
                Some(Err(err)) => {
                    self.ended = true;
                    let err = (self.error)(err);
                    return Some((Err(err), self));
                }
                None => {
                    self.format.finish(&mut out);
                    self.ended = true;
                }
            }
            self.ended |= self.format.is_full();
        }
        (!out.is_empty()).then(|| (Ok(Bytes::from(out)), self))
    }
}

/// The longest part of a line kept while waiting for its end. A line longer than this (a
/// process that never writes a newline) is sent in pieces of this size.
const MAX_PENDING: usize = 1024 * 1024;

/// The start of a line whose end has not come yet, in one stream.
#[derive(Debug, Clone)]
struct Pending {
    /// The time of its first part: the line's time.
    time: SystemTime,
    text: Vec<u8>,
    /// Whether a first piece of it was already written (its prefix with it).
    started: bool,
}

/// Turns a runtime's messages into the output [`LogOptions`] ask for: the parts of a long
/// line joined into one line (each stream on its own, so interleaved stdout and stderr stay
/// whole lines), dated by its first part; lines from before `since` left out; each line
/// prefixed with its time when asked; nothing after `limit_bytes`.
#[derive(Debug, Clone)]
pub struct LogFormat {
    since: Option<SystemTime>,
    timestamps: bool,
    remaining: u64,
    pending: [Option<Pending>; 2],
}

impl LogFormat {
    /// The format `options` ask for (`follow` and `tail_lines` are the reader's business).
    pub fn new(options: &LogOptions) -> Self {
        LogFormat {
            since: options.since,
            timestamps: options.timestamps,
            remaining: options.limit_bytes.unwrap_or(u64::MAX),
            pending: [None, None],
        }
    }

    /// Appends to `out` what `message` adds to the output: a whole line once its last part
    /// came, nothing for a line from before `since` or once the limit is reached.
    pub fn push(&mut self, message: LogMessage<'_>, out: &mut Vec<u8>) {
        let slot = &mut self.pending[message.stream as usize];
        let mut line = slot.take().unwrap_or(Pending {
            time: message.time,
            text: Vec::new(),
            started: false,
        });
        line.text.extend_from_slice(message.text);
        if !message.partial {
            line.text.push(b'\n');
            self.write(&line, out);
        } else if line.text.len() >= MAX_PENDING {
            self.write(&line, out);
            line.text.clear();
            line.started = true;
            self.pending[message.stream as usize] = Some(line);
        } else {
            *slot = Some(line);
        }
    }

    /// Appends the lines still waiting for their end, as far as they came, without a
    /// newline: the log ended in the middle of them.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        for slot in 0..self.pending.len() {
            if let Some(line) = self.pending[slot].take() {
                self.write(&line, out);
            }
        }
    }

    /// True once `limit_bytes` have been written: the reader may stop.
    pub fn is_full(&self) -> bool {
        self.remaining == 0
    }

    fn write(&mut self, line: &Pending, out: &mut Vec<u8>) {
        if self.since.is_some_and(|since| line.time < since) {
            return;
        }
        let start = out.len();
        if self.timestamps && !line.started {
            out.extend_from_slice(timestamp::format_nanos(line.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&line.text);
        let written = (out.len() - start) as u64;
        if written > self.remaining {
            out.truncate(start + usize::try_from(self.remaining).unwrap_or(usize::MAX));
        }
        self.remaining = self.remaining.saturating_sub(written);
    }
}

/// The kubelet's default `containerLogMaxSize`: 10Mi.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// The kubelet's default `containerLogMaxFiles`.
pub const DEFAULT_MAX_FILES: u32 = 5;

/// How the container log files under a directory are rotated, as the kubelet's container
/// log manager does (`containerLogMaxSize`, `containerLogMaxFiles`), for a runtime whose
/// logs are files the agent manages (CRI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRotation {
    /// Only the logs under this directory (`--pod-logs-dir`) are rotated: those of the pods
    /// of this agent.
    pub directory: PathBuf,
    /// The size a container's log file may reach; above it, the file is rotated. Positive.
    pub max_size: u64,
    /// How many files a container's log may keep, the current one included. At least 2.
    pub max_files: u32,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(second: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_566_896 + second)
    }

    fn message(stream: StreamType, second: u64, text: &str, partial: bool) -> LogMessage<'_> {
        LogMessage {
            stream,
            time: at(second),
            text: text.as_bytes(),
            partial,
        }
    }

    fn render(options: LogOptions, messages: &[LogMessage<'_>]) -> String {
        let mut format = LogFormat::new(&options);
        let mut out = Vec::new();
        for message in messages {
            format.push(*message, &mut out);
        }
        format.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    use StreamType::{Stderr, Stdout};

    #[test]
    fn partial_lines_are_joined_per_stream_and_dated_by_their_first_part() {
        let messages = [
            message(Stdout, 0, "a long ", true),
            message(Stderr, 1, "an error", false),
            message(Stdout, 2, "line", false),
            message(Stdout, 3, "next", false),
        ];
        assert_eq!(
            render(LogOptions::default(), &messages),
            "an error\na long line\nnext\n"
        );
        let options = LogOptions {
            timestamps: true,
            ..LogOptions::default()
        };
        assert_eq!(
            render(options, &messages),
            "2024-05-01T12:34:57.000000000Z an error\n\
             2024-05-01T12:34:56.000000000Z a long line\n\
             2024-05-01T12:34:59.000000000Z next\n"
        );
    }

    #[test]
    fn since_leaves_out_the_lines_begun_before_it() {
        let messages = [
            message(Stdout, 0, "old", false),
            message(Stdout, 1, "begun ", true),
            message(Stdout, 2, "before", false),
            message(Stderr, 2, "at since", false),
            message(Stdout, 3, "after", false),
        ];
        let options = LogOptions {
            since: Some(at(2)),
            ..LogOptions::default()
        };
        assert_eq!(render(options, &messages), "at since\nafter\n");
    }

    #[test]
    fn the_byte_limit_counts_prefixes_and_cuts_the_last_line() {
        let messages = [
            message(Stdout, 0, "one", false),
            message(Stdout, 1, "two", false),
            message(Stdout, 2, "three", false),
        ];
        let options = LogOptions {
            limit_bytes: Some(6),
            ..LogOptions::default()
        };
        let mut format = LogFormat::new(&options);
        let mut out = Vec::new();
        format.push(messages[0], &mut out);
        assert!(!format.is_full());
        format.push(messages[1], &mut out);
        assert!(format.is_full());
        format.push(messages[2], &mut out);
        assert_eq!(out, b"one\ntw");

        let options = LogOptions {
            limit_bytes: Some(35),
            timestamps: true,
            ..LogOptions::default()
        };
        assert_eq!(
            render(options, &messages),
            "2024-05-01T12:34:56.000000000Z one\n"
        );
    }

    #[test]
    fn a_line_cut_off_by_the_end_of_the_log_is_written_as_far_as_it_came() {
        let messages = [message(Stdout, 0, "no end", true)];
        assert_eq!(render(LogOptions::default(), &messages), "no end");
    }

    #[test]
    fn timestamped_frames_are_read_as_docker_and_libpod_send_them() {
        let frame = b"2024-05-01T12:34:56.000000001Z a line\n";
        let message = LogMessage::timestamped(Stderr, frame).unwrap();
        assert_eq!(message.stream, Stderr);
        assert_eq!(message.time, at(0) + Duration::from_nanos(1));
        assert_eq!(message.text, b"a line");
        assert!(!message.partial);
        let part = LogMessage::timestamped(Stdout, b"2024-05-01T14:34:56+02:00 the start").unwrap();
        assert_eq!(
            (part.time, part.text, part.partial),
            (at(0), &b"the start"[..], true)
        );
        assert!(LogMessage::timestamped(Stdout, b"no time here\n").is_none());
        assert!(LogMessage::timestamped(Stdout, b"").is_none());
    }

    #[tokio::test]
    async fn a_frame_stream_is_formatted_and_ends_at_the_limit_or_the_first_error() {
        let frames = |items: Vec<Result<(StreamType, &'static [u8]), &'static str>>| {
            futures_util::stream::iter(
                items
                    .into_iter()
                    .map(|item| item.map(|(stream, frame)| (stream, Bytes::from_static(frame)))),
            )
        };
        let failed = |err: &'static str| RuntimeError::Failed {
            operation: "read the log of container c1".into(),
            source: err.into(),
        };
        let items = vec![
            Ok((Stdout, &b"2024-05-01T12:34:56Z a long "[..])),
            Ok((Stdout, b"not a frame\n")),
            Ok((Stdout, b"2024-05-01T12:34:57Z line\n")),
            Ok((Stderr, b"2024-05-01T12:34:58Z next\n")),
        ];
        let out: Vec<_> = from_frames(frames(items.clone()), &LogOptions::default(), failed)
            .collect()
            .await;
        let text: Vec<u8> = out
            .into_iter()
            .flat_map(|chunk| chunk.unwrap().to_vec())
            .collect();
        assert_eq!(text, b"a long line\nnext\n");

        let limited = LogOptions {
            limit_bytes: Some(4),
            ..LogOptions::default()
        };
        let out: Vec<_> = from_frames(frames(items), &limited, failed).collect().await;
        assert_eq!(out.len(), 1, "nothing is read past the limit");
        assert_eq!(&out[0].as_ref().unwrap()[..], b"a lo");

        let broken = vec![
            Ok((Stdout, &b"2024-05-01T12:34:56Z one\n"[..])),
            Err("connection reset"),
            Ok((Stdout, b"2024-05-01T12:34:57Z never read\n")),
        ];
        let out: Vec<_> = from_frames(frames(broken), &LogOptions::default(), failed)
            .collect()
            .await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(&out[0].as_ref().unwrap()[..], b"one\n");
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.to_string(), "read the log of container c1 failed");
    }

    #[test]
    fn a_line_that_never_ends_is_sent_in_pieces_prefixed_once() {
        let piece = "x".repeat(MAX_PENDING);
        let messages = [
            message(Stdout, 0, &piece, true),
            message(Stdout, 1, "end", false),
        ];
        let mut format = LogFormat::new(&LogOptions {
            timestamps: true,
            ..LogOptions::default()
        });
        let mut out = Vec::new();
        format.push(messages[0], &mut out);
        assert_eq!(out.len(), 31 + MAX_PENDING, "the first piece, prefixed");
        format.push(messages[1], &mut out);
        assert!(out.ends_with(b"xxend\n"));
        assert_eq!(
            out.len(),
            31 + MAX_PENDING + 4,
            "the rest, not prefixed again"
        );
    }
}

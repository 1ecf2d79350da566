//! Manifest sources: where desired pods come from, the kubelet's two: a directory
//! (`--pod-manifest-path`) and a URL (`--manifest-url`). Each source only reads, and hands
//! the agent a stream of [`Snapshot`]s, each a complete reading or a reason why there is
//! none; what to make of them is decided by [`crate::ingest`].

pub mod dir;
pub mod http;
pub mod skip;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Manifests larger than this are refused, from a file or a URL (the kubelet has no limit
/// for files; a stray log file in the directory should not be read into memory).
pub const MAX_MANIFEST_BYTES: u64 = 10 * 1024 * 1024;

/// One manifest file as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    /// Its path (as found in the directory; symlinks are followed when reading).
    pub path: PathBuf,
    /// Its text, or why it could not be used.
    pub content: Result<String, FileProblem>,
}

/// Why a manifest file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("the file is {size} bytes, over the limit of {limit} bytes for a manifest")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8 text.
    #[error("the file is not UTF-8 text")]
    NotText,
    /// The read failed.
    #[error("the file could not be read: {0}")]
    Unreadable(String),
}

/// A manifest's bytes as its text: a manifest is UTF-8, from a file or the URL alike.
pub fn manifest_text(bytes: Vec<u8>) -> Result<String, FileProblem> {
    String::from_utf8(bytes).map_err(|_| FileProblem::NotText)
}

/// Which kind of source a pod came from: the kubelet's `kubernetes.io/config.source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The manifest directory (or file).
    File,
    /// The manifest URL.
    Http,
}

impl SourceKind {
    /// The annotation's value: `file` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Http => "http",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reading of a source, as the agent takes it.
#[derive(Debug)]
pub struct Snapshot {
    /// Which source.
    pub kind: SourceKind,
    /// Where it was read from (the manifest path or the URL), for messages.
    pub location: String,
    /// What was read.
    pub reading: Reading,
    /// The server's answer, for a URL that answered.
    pub answer: Option<HttpAnswer>,
}

/// What one reading of a source gave.
#[derive(Debug)]
pub enum Reading {
    /// Every manifest the source holds now.
    Complete(Scan),
    /// The same as the last complete reading (a URL answered `304 Not Modified`).
    Unchanged,
    /// The source could not be read as a whole: its pods must be kept as they are, never
    /// removed.
    Failed(ReadError),
}

/// How a manifest URL answered a poll, for the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The `ETag` of the last good answer, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` of the last good answer, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// Why a source could not be read as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The manifest path could not be read (missing, no permission, not a directory).
    #[error("cannot read the manifest path")]
    Unreadable(#[source] std::io::Error),
    /// The request failed: no connection, a TLS error, a timeout, a body cut short.
    #[error("the request failed")]
    Request(#[source] reqwest::Error),
    /// The server answered, with a status other than 200 or 304.
    #[error("the server answered {status}")]
    Status {
        /// The status (`404 Not Found`).
        status: reqwest::StatusCode,
    },
    /// The body is larger than a manifest may be.
    #[error("the body is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

/// A complete reading of a source at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Manifest files, sorted by path.
    pub files: Vec<ScannedFile>,
    /// Files left out, with the reason.
    pub skipped: Vec<(PathBuf, skip::SkipReason)>,
    /// Manifest files removed (unlinked) since the reading before, as the directory's
    /// events told: one that is among `files` again was removed and written anew, and its
    /// pod is restarted, as the kubelet restarts it. A rename is not a removal: an editor's
    /// save that renames the old file away restarts nothing.
    pub unlinked: Vec<PathBuf>,
}

/// The snapshots of every source in one stream, in the order they arrive; it ends when every
/// source has ended.
pub fn merge(sources: Vec<mpsc::Receiver<Snapshot>>) -> mpsc::Receiver<Snapshot> {
    let (merged, receiver) = mpsc::channel(1);
    for mut source in sources {
        let merged = merged.clone();
        tokio::spawn(async move {
            while let Some(snapshot) = source.recv().await {
                if merged.send(snapshot).await.is_err() {
                    return;
                }
            }
        });
    }
    receiver
}

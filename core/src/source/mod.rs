//! Manifest sources: where desired pods come from. Each source only reads, and hands the
//! agent a stream of complete [`Snapshot`]s; what to make of them is decided by
//! [`crate::ingest`].

pub mod dir;
pub mod skip;

use std::path::PathBuf;

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
    /// Larger than [`dir::MAX_MANIFEST_BYTES`].
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

/// One complete reading of a source, as the agent takes it.
#[derive(Debug)]
pub struct Snapshot {
    /// Where it was read from (the manifest path), for messages.
    pub source: PathBuf,
    /// What was read; `Err` when the source could not be read as a whole, which must keep
    /// its pods as they are, never remove them.
    pub scan: std::io::Result<Scan>,
}

/// A complete reading of a source at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Manifest files, sorted by path.
    pub files: Vec<ScannedFile>,
    /// Files left out, with the reason.
    pub skipped: Vec<(PathBuf, skip::SkipReason)>,
}

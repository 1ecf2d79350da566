//! Env files for `valueFrom.fileKeyRef` (the kubelet's `EnvFiles`, KEP-3721): a file that an
//! init container writes to an emptyDir volume, whose variables are read when a later
//! container starts. The format is the kubelet's strict one (`pkg/kubelet/util/env`), which
//! a POSIX shell reads the same way: `NAME='value'` lines, the value in single quotes (no
//! escapes, newlines kept), blank lines and `#` comments ignored, leading whitespace
//! ignored. A name given twice takes its last value, as in the shell.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::configs;
use crate::model::{Container, FileKeySelector};

/// The largest env file read (KEP-3721's limit).
pub const MAX_BYTES: u64 = 64 * 1024;

/// Why a container's env files could not be used; its start fails with
/// `CreateContainerConfigError`.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// The file could not be read.
    #[error("cannot read env file {path:?} of volume {volume:?}")]
    Read {
        /// The volume.
        volume: String,
        /// The file's path in the volume.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_BYTES`].
    #[error("env file {path:?} of volume {volume:?} is larger than {MAX_BYTES} bytes")]
    TooLarge {
        /// The volume.
        volume: String,
        /// The file's path in the volume.
        path: String,
    },
    /// The file is not an env file.
    #[error("env file {path:?} of volume {volume:?}, line {line}: {why}")]
    Syntax {
        /// The volume.
        volume: String,
        /// The file's path in the volume.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The file, or the key in it, is missing and the reference is not optional.
    #[error("couldn't find key {key:?} in env file {path:?} of volume {volume:?}{}", if *.file_missing { " (no such file)" } else { "" })]
    Missing {
        /// The volume.
        volume: String,
        /// The file's path in the volume.
        path: String,
        /// The key asked for.
        key: String,
        /// Whether the file itself is missing.
        file_missing: bool,
    },
}

/// The env files a container's `fileKeyRef`s name, read from its pod's volumes: by volume
/// and path, the file's variables, or `None` for a file that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFiles(HashMap<(String, String), Option<HashMap<String, String>>>);

impl EnvFiles {
    /// Reads every env file that `container`'s variables name, from the emptyDir volumes of
    /// pod `uid` under `root_dir`. Blocking.
    pub fn read(root_dir: &Path, uid: &str, container: &Container) -> Result<Self, EnvFileError> {
        let mut files = HashMap::new();
        let wanted: HashSet<(&str, &str)> = container
            .env
            .iter()
            .filter_map(|var| var.value_from.as_ref()?.file_key_ref.as_ref())
            .map(|s| (s.volume_name.as_str(), s.path.as_str()))
            .collect();
        for (volume, path) in wanted {
            let host_path = configs::empty_dir(root_dir, uid, volume).join(path);
            let vars = read_file(&host_path, volume, path)?;
            files.insert((volume.to_owned(), path.to_owned()), vars);
        }
        Ok(EnvFiles(files))
    }

    /// The value `selector` takes: `None` when its file or key is missing and it is
    /// optional.
    pub fn value(&self, selector: &FileKeySelector) -> Result<Option<String>, EnvFileError> {
        let file = self
            .0
            .get(&(selector.volume_name.clone(), selector.path.clone()))
            .and_then(Option::as_ref);
        match file.and_then(|vars| vars.get(&selector.key)) {
            Some(value) => Ok(Some(value.clone())),
            None if selector.optional == Some(true) => Ok(None),
            None => Err(EnvFileError::Missing {
                volume: selector.volume_name.clone(),
                path: selector.path.clone(),
                key: selector.key.clone(),
                file_missing: file.is_none(),
            }),
        }
    }
}

fn read_file(
    host_path: &Path,
    volume: &str,
    path: &str,
) -> Result<Option<HashMap<String, String>>, EnvFileError> {
    let read_error = |source| EnvFileError::Read {
        volume: volume.to_owned(),
        path: path.to_owned(),
        source,
    };
    let size = match std::fs::metadata(host_path) {
        Ok(meta) => meta.len(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(read_error(err)),
    };
    if size > MAX_BYTES {
        return Err(EnvFileError::TooLarge {
            volume: volume.to_owned(),
            path: path.to_owned(),
        });
    }
    let text = std::fs::read_to_string(host_path).map_err(read_error)?;
    let vars = parse(&text).map_err(|(line, why)| EnvFileError::Syntax {
        volume: volume.to_owned(),
        path: path.to_owned(),
        line,
        why,
    })?;
    Ok(Some(vars.into_iter().collect()))
}

/// The variables of env file `text`, in order, or the line (from 1) and reason of the
/// first error.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, &'static str)> {
    let mut vars = Vec::new();
    let mut line = 1;
    let mut rest = text;
    while !rest.is_empty() {
        let entry = rest.trim_start_matches([' ', '\t']);
        let (this_line, after) = entry.split_once('\n').unwrap_or((entry, ""));
        if this_line.trim_end_matches([' ', '\t', '\r']).is_empty() || this_line.starts_with('#') {
            rest = after;
            line += 1;
            continue;
        }
        let Some((name, value_on)) = this_line.split_once('=') else {
            return Err((line, "invalid environment variable format: no '='"));
        };
        if name.is_empty() {
            return Err((
                line,
                "invalid environment variable format: no name before '='",
            ));
        }
        if name.contains([' ', '\t']) {
            return Err((line, "whitespace before '=' is not allowed"));
        }
        if !value_on.starts_with('\'') {
            return Err((line, "value must be enclosed in single quotes"));
        }
        // The value runs from after `='` to the next quote, across lines.
        let value_start = &entry[name.len() + 2..];
        let Some(end) = value_start.find('\'') else {
            return Err((line, "unclosed single quote"));
        };
        let value = &value_start[..end];
        line += value.matches('\n').count();
        let tail = &value_start[end + 1..];
        let (tail_line, after) = tail.split_once('\n').unwrap_or((tail, ""));
        let tail_line = tail_line.trim_matches([' ', '\t', '\r']);
        if !tail_line.is_empty() && !tail_line.starts_with('#') {
            return Err((line, "unexpected content after closing quote"));
        }
        vars.push((name.to_owned(), value.to_owned()));
        rest = after;
        line += 1;
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, key: &str) -> Result<Option<String>, (usize, &'static str)> {
        let vars = parse(text)?;
        Ok(vars
            .into_iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }

    #[test]
    fn single_quoted_values_are_taken_literally() {
        let text = "   KEY1='val1'\n\t\tKEY2='  foo  bar  '\n# comment\n\nKEY3='foo#not=comment' # comment\nKEY4='$HOME \\n'\nKEY5=''\n";
        assert_eq!(value(text, "KEY1"), Ok(Some("val1".into())));
        assert_eq!(value(text, "KEY2"), Ok(Some("  foo  bar  ".into())));
        assert_eq!(value(text, "KEY3"), Ok(Some("foo#not=comment".into())));
        assert_eq!(value(text, "KEY4"), Ok(Some("$HOME \\n".into())));
        assert_eq!(value(text, "KEY5"), Ok(Some(String::new())));
        assert_eq!(value(text, "KEY6"), Ok(None));
    }

    #[test]
    fn a_value_spans_lines_and_the_last_of_a_name_wins() {
        let text = "KEY1='line one\n\n  line three'\nKEY2='a'\nKEY2='b'";
        assert_eq!(
            value(text, "KEY1"),
            Ok(Some("line one\n\n  line three".into()))
        );
        assert_eq!(value(text, "KEY2"), Ok(Some("b".into())));
        // The error after a multi-line value names its own line.
        assert_eq!(
            parse("K='a\nb' x\n"),
            Err((2, "unexpected content after closing quote"))
        );
    }

    #[test]
    fn what_a_shell_would_not_read_so_is_refused_with_its_line() {
        let cases = [
            ("KEY1 = 'val1'\n", 1, "whitespace before '=' is not allowed"),
            (
                "A='x'\n='foo'\n",
                2,
                "invalid environment variable format: no name before '='",
            ),
            (
                "A='x'\nINVALID_LINE\n",
                2,
                "invalid environment variable format: no '='",
            ),
            ("A=bar\n", 1, "value must be enclosed in single quotes"),
            ("A=\"bar\"\n", 1, "value must be enclosed in single quotes"),
            ("A=  'bar'\n", 1, "value must be enclosed in single quotes"),
            (
                "A='foo''bar'\n",
                1,
                "unexpected content after closing quote",
            ),
            ("A='foo'bar\n", 1, "unexpected content after closing quote"),
            (
                "A='with \\'nested\\' quotes'\n",
                1,
                "unexpected content after closing quote",
            ),
            ("A='unclosed\n", 1, "unclosed single quote"),
        ];
        for (text, line, why) in cases {
            assert_eq!(parse(text), Err((line, why)), "{text:?}");
        }
    }

    fn selector(key: &str, optional: Option<bool>) -> FileKeySelector {
        FileKeySelector {
            volume_name: "config".into(),
            path: "config.env".into(),
            key: key.into(),
            optional,
        }
    }

    #[test]
    fn a_missing_file_or_key_fails_unless_optional() {
        let dir = tempfile::tempdir().unwrap();
        let volume = configs::empty_dir(dir.path(), "uid-1", "config");
        std::fs::create_dir_all(&volume).unwrap();
        let container: Container = serde_json::from_value(serde_json::json!({
            "name": "c", "image": "busybox",
            "env": [{"name": "A", "valueFrom": {"fileKeyRef": {"volumeName": "config", "path": "config.env", "key": "A"}}}]
        }))
        .unwrap();
        let files = EnvFiles::read(dir.path(), "uid-1", &container).unwrap();
        let missing = files.value(&selector("A", None)).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "couldn't find key \"A\" in env file \"config.env\" of volume \"config\" (no such file)"
        );
        assert_eq!(files.value(&selector("A", Some(true))).unwrap(), None);

        std::fs::write(volume.join("config.env"), "A='1'\n").unwrap();
        let files = EnvFiles::read(dir.path(), "uid-1", &container).unwrap();
        assert_eq!(files.value(&selector("A", None)).unwrap(), Some("1".into()));
        assert!(matches!(
            files.value(&selector("B", None)),
            Err(EnvFileError::Missing {
                file_missing: false,
                ..
            })
        ));
        assert_eq!(files.value(&selector("B", Some(true))).unwrap(), None);

        std::fs::write(volume.join("config.env"), "A=1\n").unwrap();
        let err = EnvFiles::read(dir.path(), "uid-1", &container).unwrap_err();
        assert_eq!(
            err.to_string(),
            "env file \"config.env\" of volume \"config\", line 1: value must be enclosed in single quotes"
        );
    }
}

//! What the probes had found, kept across a restart of the agent (the kubelet's KEP-4781,
//! "restarting kubelet does not change pod status"). The kubelet reads a container's
//! `started` and `ready` from the API server's copy of the pod; with no API server, the
//! agent keeps them in a file of its `--root-dir`, by container id, written whenever one
//! changes. A new agent gives a container it finds still running (the same id) those
//! verdicts at once, instead of "not started, not ready" until its probes pass again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::verdicts::ProbeVerdicts;

/// The file's name in `--root-dir`.
pub const FILE: &str = "probe-verdicts.json";

/// What one container's probes had found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The startup probe had passed (or there is none).
    pub started: bool,
    /// The readiness probe passed (or there is none).
    pub ready: bool,
}

/// The kept verdicts: those a previous agent left, until each container's worker takes
/// its own, and the file this agent writes.
#[derive(Debug)]
pub struct KeptVerdicts {
    path: PathBuf,
    previous: BTreeMap<String, Kept>,
    written: BTreeMap<String, Kept>,
}

impl KeptVerdicts {
    /// The verdicts a previous agent left in `root_dir`, which this one keeps there in
    /// turn. An unreadable file is told and counts as none.
    pub fn in_dir(root_dir: &Path) -> Self {
        let path = root_dir.join(FILE);
        let previous = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                tracing::warn!(path = %path.display(), %err, "unreadable probe verdicts of the previous agent; its containers are probed afresh");
                BTreeMap::new()
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot read the probe verdicts of the previous agent; its containers are probed afresh");
                BTreeMap::new()
            }
        };
        KeptVerdicts {
            path,
            written: previous.clone(),
            previous,
        }
    }

    /// The verdicts the previous agent had for container `id`, once.
    pub fn take(&mut self, id: &str) -> Option<Kept> {
        self.previous.remove(id)
    }

    /// Writes `verdicts` (their `started` and `ready`) when they differ from what the file
    /// holds: on a verdict's change, not at every pass. A failed write is told; the next
    /// change tries again.
    pub fn keep(&mut self, verdicts: &ProbeVerdicts) {
        // Both maps are sorted by id: the check of every pass walks them side by side, with
        // no allocation.
        let kept = |v: &crate::verdicts::Verdicts| Kept {
            started: v.started,
            ready: v.ready,
        };
        let same = verdicts.len() == self.written.len()
            && verdicts
                .iter()
                .zip(&self.written)
                .all(|((id, v), (was_id, was))| id == was_id && kept(v) == *was);
        if same {
            return;
        }
        let now: BTreeMap<String, Kept> = verdicts
            .iter()
            .map(|(id, v)| (id.clone(), kept(v)))
            .collect();
        let written = serde_json::to_vec(&now).expect("verdicts are plain data");
        let path = &self.path;
        let temporary = path.with_extension("json.tmp");
        let result =
            std::fs::write(&temporary, written).and_then(|()| std::fs::rename(&temporary, path));
        match result {
            Ok(()) => self.written = now,
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot keep the probe verdicts for the next agent");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdicts::Verdicts;

    #[test]
    fn a_new_agent_takes_each_containers_verdicts_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = KeptVerdicts::in_dir(dir.path());
        let verdicts = ProbeVerdicts::from([
            (
                "c1".to_string(),
                Verdicts {
                    started: true,
                    ready: true,
                    failed: None,
                },
            ),
            (
                "c2".to_string(),
                Verdicts {
                    started: true,
                    ready: false,
                    failed: None,
                },
            ),
        ]);
        first.keep(&verdicts);
        let mut second = KeptVerdicts::in_dir(dir.path());
        assert_eq!(
            second.take("c1"),
            Some(Kept {
                started: true,
                ready: true
            })
        );
        assert_eq!(second.take("c1"), None, "taken once");
        assert_eq!(
            second.take("c2"),
            Some(Kept {
                started: true,
                ready: false
            })
        );
        assert_eq!(second.take("c3"), None);
    }

    #[test]
    fn the_file_is_written_only_when_a_verdict_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut kept = KeptVerdicts::in_dir(dir.path());
        kept.keep(&ProbeVerdicts::new());
        assert!(!path.exists(), "nothing to keep, nothing written");
        let mut verdicts = ProbeVerdicts::from([(
            "c1".to_string(),
            Verdicts {
                started: true,
                ready: false,
                failed: None,
            },
        )]);
        kept.keep(&verdicts);
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::remove_file(&path).unwrap();
        kept.keep(&verdicts);
        assert!(!path.exists(), "unchanged verdicts are not written again");
        verdicts.get_mut("c1").unwrap().ready = true;
        kept.keep(&verdicts);
        assert!(std::fs::metadata(&path).unwrap().modified().unwrap() >= written);
        let mut next = KeptVerdicts::in_dir(dir.path());
        assert_eq!(
            next.take("c1"),
            Some(Kept {
                started: true,
                ready: true
            })
        );
    }

    #[test]
    fn an_unreadable_file_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not json").unwrap();
        assert_eq!(KeptVerdicts::in_dir(dir.path()).take("c1"), None);
    }
}

//! What a pod's infra (pause) process gets besides what libpod 4.3's pod create takes: its
//! `oom_score_adj` (dockershim's and containerd's -998 for a sandbox, bounded by the node),
//! written to `/proc/<pid>/oom_score_adj` as the OCI runtime would have set it. The process
//! is first checked to be the infra container's, by its cgroup naming the container, so a
//! service in another PID namespace never has a stranger's score changed.

use std::path::{Path, PathBuf};

/// Why the infra process's score was not set.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// The process is not the infra container's (another PID namespace, or gone).
    #[error("process {pid} is not infra container {container}'s")]
    NotTheInfraProcess {
        /// The pid libpod reported.
        pid: i64,
        /// The infra container.
        container: String,
    },
    /// Writing the score failed.
    #[error("cannot write {path}")]
    Write {
        /// `/proc/<pid>/oom_score_adj`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Sets `score` as the `oom_score_adj` of `pid`, infra container `container`'s process,
/// under `proc` (`/proc`).
pub(crate) fn set_oom_score_adj(
    proc: &Path,
    pid: i64,
    container: &str,
    score: i64,
) -> Result<(), InfraError> {
    let dir = proc.join(pid.to_string());
    let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
    if pid <= 0 || !names_container(&cgroup, container) {
        return Err(InfraError::NotTheInfraProcess {
            pid,
            container: container.to_owned(),
        });
    }
    let path = dir.join("oom_score_adj");
    std::fs::write(&path, score.to_string()).map_err(|source| InfraError::Write { path, source })
}

/// True when a `/proc/<pid>/cgroup` text puts the process in container `id`'s cgroup
/// (libpod names it `libpod-<id>`, with cgroupfs as with systemd).
fn names_container(cgroup: &str, id: &str) -> bool {
    !id.is_empty()
        && cgroup
            .lines()
            .any(|line| line.contains(&format!("libpod-{id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_infra_containers_process_is_changed() {
        let proc = tempfile::tempdir().unwrap();
        let dir = proc.path().join("42");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("cgroup"),
            "12:memory:/libpod_parent/libpod-abc123\n0::/libpod_parent/libpod-abc123\n",
        )
        .unwrap();
        std::fs::write(dir.join("oom_score_adj"), "0").unwrap();
        set_oom_score_adj(proc.path(), 42, "abc123", -998).unwrap();
        let score = std::fs::read_to_string(dir.join("oom_score_adj")).unwrap();
        assert_eq!(score, "-998");
        let other = set_oom_score_adj(proc.path(), 42, "def456", -998).unwrap_err();
        assert_eq!(
            other.to_string(),
            "process 42 is not infra container def456's"
        );
        assert!(set_oom_score_adj(proc.path(), 7, "abc123", -998).is_err());
    }
}

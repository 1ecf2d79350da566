//! What the log rotation (`staticpod_runtime::log_rotation`) asks of Podman, on the
//! rotation's own thread: the running containers we manage, their k8s-file log paths, and
//! the reopen after a rotation. Podman has no call for that last one; conmon, which writes
//! the file, reopens it on a `2 0 0` line (its `REOPEN_LOGS_EVENT`) in the container's
//! control FIFO, `<StaticDir>/ctl`, the FIFO `podman` itself writes a terminal's resizes to.
//! conmon reopens after the write returns, into `<log>.tmp` that it renames to `<log>`.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde::Deserialize;
use staticpod_runtime::BoxError;
use staticpod_runtime::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use staticpod_runtime::log_rotation::{LogWriters, ReopenError};
use tokio::runtime::Handle;

use crate::convert::ContainerInspect;
use crate::libpod::Libpod;

/// conmon's control line asking for its log files to be reopened.
const REOPEN_LOGS: &[u8] = b"2 0 0\n";

/// A listed container: its id.
#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "Id")]
    id: String,
}

/// libpod calls made from the rotation's thread on the async runtime of the backend, and
/// the control FIFOs of the containers whose logs were looked up.
pub(crate) struct PodmanLogWriters {
    runtime: Handle,
    libpod: Libpod,
    /// By container id.
    controls: HashMap<String, PathBuf>,
}

impl PodmanLogWriters {
    /// Calls through `libpod`, from inside the async runtime the backend runs on.
    pub(crate) fn new(libpod: Libpod) -> Self {
        Self {
            runtime: Handle::current(),
            libpod,
            controls: HashMap::new(),
        }
    }
}

impl LogWriters for PodmanLogWriters {
    fn running(&mut self) -> Result<Vec<String>, BoxError> {
        let filters = serde_json::json!({
            "status": ["running"],
            "label": [format!("{MANAGED_BY}={MANAGED_BY_VALUE}")],
        })
        .to_string();
        let filters =
            percent_encoding::utf8_percent_encode(&filters, percent_encoding::NON_ALPHANUMERIC);
        let path = format!("/containers/json?filters={filters}");
        let listed: Vec<Listed> = self.runtime.block_on(self.libpod.get_json(&path))?;
        let running: Vec<String> = listed.into_iter().map(|c| c.id).collect();
        let alive: HashSet<&str> = running.iter().map(String::as_str).collect();
        self.controls.retain(|id, _| alive.contains(id.as_str()));
        Ok(running)
    }

    fn log_path(&mut self, id: &str) -> Option<PathBuf> {
        let path = format!("/containers/{id}/json");
        let inspect: ContainerInspect = self.runtime.block_on(self.libpod.get_json(&path)).ok()?;
        let log = inspect.host_config?.log_config?.k8s_file()?;
        self.controls
            .insert(id.to_owned(), inspect.static_dir?.join("ctl"));
        Some(log)
    }

    fn reopen(&mut self, id: &str) -> Result<(), ReopenError> {
        let Some(control) = self.controls.get(id) else {
            return Err(ReopenError::Gone);
        };
        // Non-blocking: with no conmon reading (the container exited), the open fails at
        // once (ENXIO) instead of waiting for a reader.
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(control);
        let written = opened.and_then(|mut fifo| fifo.write_all(REOPEN_LOGS));
        match written {
            Ok(()) => Ok(()),
            Err(err)
                if err.kind() == io::ErrorKind::NotFound
                    || err.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) =>
            {
                Err(ReopenError::Gone)
            }
            Err(err) => Err(ReopenError::Failed(Box::new(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn writers(controls: &[(&str, PathBuf)]) -> PodmanLogWriters {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let mut writers = PodmanLogWriters::new(Libpod::new(
            std::path::Path::new("/nonexistent/podman.sock"),
            "4.3.1",
        ));
        for (id, path) in controls {
            writers.controls.insert((*id).to_owned(), path.clone());
        }
        writers
    }

    #[test]
    fn a_reopen_is_conmons_control_line_and_a_fifo_nobody_reads_is_a_gone_container() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("ctl");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let mut writers = writers(&[("c1", fifo.clone()), ("c2", dir.path().join("none"))]);

        assert!(
            matches!(writers.reopen("c1"), Err(ReopenError::Gone)),
            "no reader"
        );
        assert!(
            matches!(writers.reopen("c2"), Err(ReopenError::Gone)),
            "no FIFO"
        );
        assert!(
            matches!(writers.reopen("c3"), Err(ReopenError::Gone)),
            "never looked up"
        );

        // conmon holds its control FIFO open for reading.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&fifo)
            .unwrap();
        writers.reopen("c1").unwrap();
        let mut line = String::new();
        reader.read_to_string(&mut line).unwrap();
        assert_eq!(line, "2 0 0\n");
    }
}

//! The container runtimes xtask provisions, what each is called, and the shared
//! start-or-reuse logic of their daemons.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::daemon::Daemon;
use crate::{containerd, docker, podman};

/// A container runtime that xtask can bring up and test against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Docker Engine (dockerd) on the system socket.
    Docker,
    /// containerd with its CRI plugin, an instance of our own under `target/`.
    Containerd,
    /// Podman's API service on a socket under `target/`.
    Podman,
}

/// The facts about one runtime, kept in one table so adding or wiring one is a one-line change.
struct Info {
    /// Its name on xtask's command line.
    name: &'static str,
    /// Whether `cargo xtask test` runs the integration tests against it by default.
    wired: bool,
    /// The variable through which integration tests receive this runtime's endpoint.
    endpoint_env: &'static str,
    /// The value of `staticpod run --runtime` for it.
    cli_runtime: &'static str,
    /// The workspace package holding its backend and that backend's integration tests.
    backend_package: &'static str,
}

const INFO: [Info; 3] = [
    Info {
        name: "docker",
        wired: true,
        endpoint_env: "STATICPOD_TEST_DOCKER_ENDPOINT",
        cli_runtime: "docker",
        backend_package: "staticpod-backend-docker",
    },
    Info {
        name: "containerd",
        wired: true,
        endpoint_env: "STATICPOD_TEST_CRI_ENDPOINT",
        cli_runtime: "cri",
        backend_package: "staticpod-backend-cri",
    },
    Info {
        name: "podman",
        wired: true,
        endpoint_env: "STATICPOD_TEST_PODMAN_ENDPOINT",
        cli_runtime: "podman",
        backend_package: "staticpod-backend-podman",
    },
];

/// The outcome of bringing a runtime up.
#[derive(Debug, Clone)]
pub struct Up {
    /// Where to reach it, as `--container-runtime-endpoint` takes it (`unix:///…`).
    pub endpoint: String,
    /// Whether this run started its daemon (false: one was already answering).
    pub started: bool,
}

impl Runtime {
    /// Every runtime, in the order `test` and `runtime down all` visit them.
    pub const ALL: [Runtime; 3] = [Runtime::Docker, Runtime::Containerd, Runtime::Podman];

    /// Its row of [`INFO`] (the table is in declaration order).
    fn info(self) -> &'static Info {
        &INFO[self as usize]
    }

    /// Parses a runtime name; `cri` is accepted for containerd, as `staticpod run` calls it.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cri" => Ok(Runtime::Containerd),
            _ => Runtime::ALL
                .into_iter()
                .find(|r| r.name() == name)
                .with_context(|| format!("unknown runtime `{name}` (docker, containerd, podman)")),
        }
    }

    /// Its name on xtask's command line.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Whether `cargo xtask test` covers it by default.
    pub fn wired(self) -> bool {
        self.info().wired
    }

    /// The environment variable that hands its endpoint to integration tests.
    pub fn endpoint_env(self) -> &'static str {
        self.info().endpoint_env
    }

    /// Its name for `staticpod run --runtime`.
    pub fn cli_runtime(self) -> &'static str {
        self.info().cli_runtime
    }

    /// The package of its backend.
    pub fn backend_package(self) -> &'static str {
        self.info().backend_package
    }

    /// Starts (or reuses) the runtime and loads the test images into it.
    pub fn up(self) -> Result<Up> {
        match self {
            Runtime::Docker => docker::up(),
            Runtime::Containerd => containerd::up(),
            Runtime::Podman => podman::up(),
        }
    }

    /// Stops the runtime's daemon if xtask started it; leaves any other alone.
    pub fn down(self) -> Result<()> {
        let daemon = match self {
            Runtime::Docker => docker::daemon(),
            Runtime::Containerd => containerd::daemon(),
            Runtime::Podman => podman::daemon(),
        };
        if !daemon.stop(STOP_GRACE)? {
            eprintln!(
                "xtask: {}: nothing started by xtask is running",
                self.name()
            );
        }
        Ok(())
    }
}

/// How long a daemon gets to exit after SIGTERM (dockerd stops its containers first).
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Reuses the daemon if `answers()`, otherwise starts it and waits until it answers; our
/// own running instance is restarted first when its configuration changed. Returns whether
/// it was started. `owned_socket` is a socket path of ours, removed if stale before a start.
pub fn start_or_reuse(
    daemon: &Daemon,
    config_changed: bool,
    owned_socket: Option<&Path>,
    answers: impl Fn() -> bool,
) -> Result<bool> {
    if config_changed && daemon.running_pid().is_some() {
        eprintln!(
            "xtask: {}'s configuration changed, restarting it",
            daemon.name
        );
        daemon.stop(STOP_GRACE)?;
    }
    if answers() {
        eprintln!("xtask: {} is already answering, reusing it", daemon.name);
        return Ok(false);
    }
    if daemon.running_pid().is_some() {
        // Ours, alive, yet not answering: wedged or half-started; start afresh.
        daemon.stop(STOP_GRACE)?;
    }
    if !daemon.program.exists() {
        bail!("{} is missing", daemon.program.display());
    }
    if let Some(socket) = owned_socket {
        let _ = fs::remove_file(socket);
    }
    let mut child = daemon.spawn()?;
    daemon.wait_ready(&mut child, answers)?;
    Ok(true)
}

/// Writes `contents` to `path` unless it already holds exactly that; returns whether it wrote.
pub fn write_if_changed(path: &Path, contents: &str) -> Result<bool> {
    if fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_enum() {
        for runtime in Runtime::ALL {
            assert_eq!(Runtime::parse(runtime.name()).unwrap(), runtime);
        }
        assert_eq!(Runtime::parse("cri").unwrap(), Runtime::Containerd);
        assert_eq!(
            Runtime::Containerd.endpoint_env(),
            "STATICPOD_TEST_CRI_ENDPOINT"
        );
        assert!(Runtime::Podman.wired());
    }
}

//! The container runtimes xtask provisions, one per [`Backend`] of the workspace's list:
//! what xtask calls each and how it brings it up, and the shared start-or-reuse logic of
//! their daemons.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use staticpod_runtime::backend::Backend;

use crate::daemon::Daemon;
use crate::{containerd, docker, podman};

/// What xtask knows of a backend's runtime beyond the [`Backend`] list itself: what it calls
/// the runtime, whether the tests cover it, its backend's package, and how to bring it up
/// and down.
pub trait Provision: Copy {
    /// Its name on xtask's command line and in its messages (`containerd` for CRI).
    fn runtime_name(self) -> &'static str;

    /// Whether `cargo xtask test` covers it by default.
    fn wired(self) -> bool;

    /// The workspace package holding its backend and that backend's integration tests.
    fn backend_package(self) -> &'static str;

    /// Starts (or reuses) the runtime and loads the test images into it.
    fn up(self) -> Result<Up>;

    /// Stops the runtime's daemon if xtask started it; leaves any other alone.
    fn down(self) -> Result<()>;
}

/// The facts of one runtime, kept together so adding or wiring one is a one-line change.
struct Facts {
    runtime_name: &'static str,
    wired: bool,
    backend_package: &'static str,
}

fn facts(backend: Backend) -> Facts {
    match backend {
        Backend::Docker => Facts {
            runtime_name: "docker",
            wired: true,
            backend_package: "staticpod-backend-docker",
        },
        Backend::Cri => Facts {
            runtime_name: "containerd",
            wired: true,
            backend_package: "staticpod-backend-cri",
        },
        Backend::Podman => Facts {
            runtime_name: "podman",
            wired: true,
            backend_package: "staticpod-backend-podman",
        },
    }
}

/// The outcome of bringing a runtime up.
#[derive(Debug, Clone)]
pub struct Up {
    /// Where to reach it, as `--container-runtime-endpoint` takes it (`unix:///…`).
    pub endpoint: String,
    /// Whether this run started its daemon (false: one was already answering).
    pub started: bool,
}

impl Provision for Backend {
    fn runtime_name(self) -> &'static str {
        facts(self).runtime_name
    }

    fn wired(self) -> bool {
        facts(self).wired
    }

    fn backend_package(self) -> &'static str {
        facts(self).backend_package
    }

    fn up(self) -> Result<Up> {
        match self {
            Backend::Docker => docker::up(),
            Backend::Cri => containerd::up(),
            Backend::Podman => podman::up(),
        }
    }

    fn down(self) -> Result<()> {
        let daemon = match self {
            Backend::Docker => docker::daemon(),
            Backend::Cri => containerd::daemon(),
            Backend::Podman => podman::daemon(),
        };
        if !daemon.stop(STOP_GRACE)? {
            eprintln!(
                "xtask: {}: nothing started by xtask is running",
                self.runtime_name()
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

/// Where containerd's CNI and Podman's netavark both keep their pods' network namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Makes [`NETNS_DIR`] a shared mount of itself, as `ip netns` and netavark make it when
/// they first need it. Done before either runtime starts: when netavark does it after
/// containerd has made a namespace there, that namespace's mount is hidden under the new
/// one, containerd cannot remove it (`device or resource busy`), and the status of its
/// sandbox fails from then on (E2E.md, the traps of this machine).
pub fn share_netns_dir() -> Result<()> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    if mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(NETNS_DIR))
    {
        return Ok(());
    }
    fs::create_dir_all(NETNS_DIR)?;
    if fs::read_dir(NETNS_DIR)?.next().is_some() {
        // Binding over them would hide their mounts: the very trap.
        eprintln!(
            "xtask: {NETNS_DIR} already holds network namespaces and is not a mount; left as it is (a runtime may fail to remove one of them, see E2E.md)"
        );
        return Ok(());
    }
    for args in [
        ["--bind", NETNS_DIR, NETNS_DIR].as_slice(),
        ["--make-shared", NETNS_DIR].as_slice(),
    ] {
        let status = std::process::Command::new("mount").args(args).status()?;
        if !status.success() {
            bail!("mount {} failed: {status}", args.join(" "));
        }
    }
    Ok(())
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
    fn every_runtime_name_reads_back_as_its_backend() {
        for backend in Backend::ALL {
            assert_eq!(backend.runtime_name().parse(), Ok(backend));
        }
        assert_eq!("cri".parse(), Ok(Backend::Cri));
        assert!(Backend::Podman.wired());
    }
}

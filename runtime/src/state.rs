//! What a backend reports of the objects it holds: sandboxes, containers, the runtime's
//! version, an exec's result.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Which runtime answered, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// The runtime's own name: "docker", "containerd", "podman".
    pub runtime_name: String,
    /// Its version string.
    pub runtime_version: String,
    /// The API version spoken (Docker API "1.41", CRI "v1", libpod "4.3.1").
    pub api_version: String,
}

/// Whether a sandbox is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxState {
    /// Its namespaces exist and containers can join it.
    Ready,
    /// Stopped or broken: it must be replaced.
    NotReady,
}

/// A sandbox as the runtime reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxInfo {
    /// Runtime id.
    pub id: String,
    /// State.
    pub state: SandboxState,
    /// Creation time.
    pub created_at: SystemTime,
    /// The pod's IP address, when it has its own network.
    pub ip: Option<String>,
    /// Labels and annotations, merged (annotations win on a clash).
    pub labels: BTreeMap<String, String>,
}

/// Lifecycle state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running since `started_at`.
    Running {
        /// When the process started.
        started_at: SystemTime,
    },
    /// Its process ended.
    Exited {
        /// Exit code.
        exit_code: i32,
        /// When it started.
        started_at: SystemTime,
        /// When it ended.
        finished_at: SystemTime,
        /// Killed by the OOM killer.
        oom_killed: bool,
    },
    /// The runtime cannot say.
    Unknown,
}

/// A container as the runtime reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    /// Runtime id.
    pub id: String,
    /// Id of the sandbox it belongs to, when the runtime records it.
    pub sandbox_id: Option<String>,
    /// Image reference it was created from.
    pub image: String,
    /// The image it runs, as the status' `imageID` shows it: CRI's `image_ref`, Docker's
    /// image id as cri-dockerd names it (`docker://sha256:...`), Podman's (`sha256:...`);
    /// empty when the runtime does not say.
    pub image_id: String,
    /// State.
    pub state: ContainerState,
    /// Creation time.
    pub created_at: SystemTime,
    /// Labels and annotations, merged (annotations win on a clash).
    pub labels: BTreeMap<String, String>,
}

/// What a command run in a container with [`ContainerRuntime::exec_sync`] gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Its exit code.
    pub exit_code: i32,
    /// Its stdout and stderr, as far as the runtime returns them.
    pub output: String,
}

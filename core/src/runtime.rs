//! The `ContainerRuntime` trait every backend implements, shaped like CRI: sandboxes,
//! containers, images, and a change feed. Everything here is plain data; the meaning of the
//! labels a backend stores and returns is decided in [`crate::labels`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::mpsc;

/// A boxed error kept as the `#[source]` of a [`RuntimeError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors a backend reports, translated at the backend's edge into kinds the reconciler can
/// act on: a missing object is not a daemon that is down.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The object (container, sandbox, image) does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What was looked for: "container", "sandbox", "image".
        kind: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The daemon cannot be reached or did not answer.
    #[error("container runtime at {endpoint} is unavailable")]
    Unavailable {
        /// The endpoint we tried.
        endpoint: String,
        /// What went wrong on the way.
        #[source]
        source: BoxError,
    },
    /// An image is not present and could not be pulled.
    #[error("image {image} could not be pulled")]
    ImagePull {
        /// The image reference from the manifest.
        image: String,
        /// The runtime's answer.
        #[source]
        source: BoxError,
    },
    /// The runtime refused the request as invalid or conflicting (name in use, bad mount, ...).
    #[error("{operation} was refused by the runtime")]
    Rejected {
        /// The operation, e.g. "create container k8s_web_...".
        operation: String,
        /// The runtime's answer.
        #[source]
        source: BoxError,
    },
    /// Any other failure of one operation.
    #[error("{operation} failed")]
    Failed {
        /// The operation, e.g. "start container 3f2a...".
        operation: String,
        /// The runtime's answer.
        #[source]
        source: BoxError,
    },
}

impl RuntimeError {
    /// True when the daemon itself is unreachable, so every pod is affected alike.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RuntimeError::Unavailable { .. })
    }
}

/// Result alias for runtime calls.
pub type RuntimeResult<T> = Result<T, RuntimeError>;

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

/// When to pull an image, as `imagePullPolicy` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time a container is created.
    Always,
    /// Pull only when the image is not present.
    IfNotPresent,
    /// Never pull; a missing image is an error.
    Never,
}

impl PullPolicy {
    /// Whether ensuring `image`, which is (or is not) `present`, takes a pull under this
    /// policy. An absent image under `Never` is this pod's [`RuntimeError::ImagePull`], with
    /// [`NeverPull`] as its source.
    pub fn must_pull(self, image: &str, present: bool) -> RuntimeResult<bool> {
        match (present, self) {
            (true, PullPolicy::IfNotPresent | PullPolicy::Never) => Ok(false),
            (false, PullPolicy::Never) => Err(RuntimeError::ImagePull {
                image: image.to_owned(),
                source: Box::new(NeverPull {
                    image: image.to_owned(),
                }),
            }),
            _ => Ok(true),
        }
    }
}

/// `imagePullPolicy: Never` and the image is not in the runtime's store.
#[derive(Debug, thiserror::Error)]
#[error("image {image} is not present and the pull policy Never forbids pulling it")]
pub struct NeverPull {
    /// The image reference.
    pub image: String,
}

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Lower-case name as Docker writes it ("tcp").
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A container port published on the host (a `hostPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// Protocol.
    pub protocol: Protocol,
    /// Port inside the pod.
    pub container_port: u16,
    /// Port on the host.
    pub host_port: u16,
    /// Host address to bind; empty means all addresses.
    pub host_ip: String,
}

/// Everything a backend needs to create a pod's sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// Pod full name (`static-web-node0`).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Pod UID.
    pub uid: String,
    /// How many sandboxes this pod had before (0 for the first).
    pub attempt: u32,
    /// Hostname inside the pod; empty for host-network pods (the node's own name is used).
    pub hostname: String,
    /// Share the node's network namespace.
    pub host_network: bool,
    /// Share the node's PID namespace.
    pub host_pid: bool,
    /// Share the node's IPC namespace.
    pub host_ipc: bool,
    /// Some container of the pod runs privileged (CRI refuses privileged containers in a
    /// sandbox not created privileged).
    pub privileged: bool,
    /// hostPort mappings (ignored for host-network pods).
    pub port_mappings: Vec<PortMapping>,
    /// Labels to set on the sandbox (see [`crate::labels`]).
    pub labels: BTreeMap<String, String>,
    /// Annotations to set on the sandbox; runtimes without annotations store them as labels.
    pub annotations: BTreeMap<String, String>,
    /// Directory for the pod's container logs (CRI log format), already created.
    pub log_directory: PathBuf,
}

/// A bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Path on the host (already resolved and created where the volume type says so).
    pub host_path: PathBuf,
    /// Path inside the container.
    pub container_path: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// Linux security settings of a container, already merged from pod and container level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Run privileged.
    pub privileged: bool,
    /// UID to run as.
    pub run_as_user: Option<i64>,
    /// GID to run as.
    pub run_as_group: Option<i64>,
    /// Capabilities to add, without the `CAP_` prefix.
    pub capabilities_add: Vec<String>,
    /// Capabilities to drop, without the `CAP_` prefix.
    pub capabilities_drop: Vec<String>,
    /// Mount the root filesystem read-only.
    pub read_only_root_filesystem: bool,
    /// `no_new_privs` is set when this is false.
    pub allow_privilege_escalation: bool,
}

impl SecurityConfig {
    /// The user as Docker and libpod take it: `uid` or `uid:gid`; `None` keeps the image's.
    /// A group without a user cannot be expressed without also choosing a user, so the
    /// image's user is kept and the group ignored, with a warning naming `runtime`.
    pub fn user(&self, runtime: &str) -> Option<String> {
        match (self.run_as_user, self.run_as_group) {
            (Some(uid), Some(gid)) => Some(format!("{uid}:{gid}")),
            (Some(uid), None) => Some(uid.to_string()),
            (None, Some(gid)) => {
                tracing::warn!(gid, "runAsGroup without runAsUser is ignored on {runtime}");
                None
            }
            (None, None) => None,
        }
    }
}

/// Resource limits of a container, in runtime units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceConfig {
    /// CPU limit in millicores.
    pub cpu_limit_millis: Option<u64>,
    /// CPU request in millicores (becomes cpu shares).
    pub cpu_request_millis: Option<u64>,
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<u64>,
}

/// Everything a backend needs to create one container in a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerConfig {
    /// Container name from the manifest.
    pub name: String,
    /// Restart count: 0 for the first start, then one more per restart.
    pub attempt: u32,
    /// Image reference.
    pub image: String,
    /// Overrides the image's entrypoint when not empty (Kubernetes `command`).
    pub command: Vec<String>,
    /// Overrides the image's cmd when not empty (Kubernetes `args`).
    pub args: Vec<String>,
    /// Working directory, when set.
    pub working_dir: Option<String>,
    /// Environment, in order, with `$(VAR)` references already expanded.
    pub env: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Security settings.
    pub security: SecurityConfig,
    /// Resource limits.
    pub resources: ResourceConfig,
    /// Labels to set (see [`crate::labels`]).
    pub labels: BTreeMap<String, String>,
    /// Annotations to set; runtimes without annotations store them as labels.
    pub annotations: BTreeMap<String, String>,
    /// Log file path relative to the sandbox's log directory (`<name>/<attempt>.log`).
    pub log_path: PathBuf,
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

/// A container runtime as the agent drives it. Implementations translate their errors into
/// [`RuntimeError`] kinds, store the given labels verbatim, and list only objects carrying
/// the label [`crate::labels::MANAGED_BY`] = [`crate::labels::MANAGED_BY_VALUE`].
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Name and version of the runtime; also the connectivity check at start.
    async fn version(&self) -> RuntimeResult<RuntimeVersion>;

    /// Makes sure `image` is present, pulling it when `policy` asks for it.
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<()>;

    /// Creates and starts a sandbox; returns its id.
    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String>;

    /// Stops a sandbox (its namespaces go away). Idempotent: a missing sandbox is `Ok`.
    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()>;

    /// Removes a stopped sandbox. Idempotent: a missing sandbox is `Ok`.
    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()>;

    /// Creates a container in a sandbox; returns its id. `sandbox` is the config the sandbox
    /// was created with, for runtimes that need it (CRI does).
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> RuntimeResult<String>;

    /// Starts a created container.
    async fn start_container(&self, container_id: &str) -> RuntimeResult<()>;

    /// Stops a container: SIGTERM, then SIGKILL after `grace`. Idempotent.
    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()>;

    /// Removes a stopped container. Idempotent: a missing container is `Ok`.
    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()>;

    /// All sandboxes this agent manages.
    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>>;

    /// All containers this agent manages (sandbox/pause containers excluded).
    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>>;

    /// Runs `command` in a running container and waits for it, at most `timeout` (for exec
    /// probes). A command that outlives the timeout is an error.
    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult>;

    /// A feed that yields `()` whenever a managed container or sandbox changed state
    /// (started, exited, removed), so the agent relists at once instead of polling. A backend
    /// without events may return a receiver that never yields: the agent's periodic resync
    /// still runs. The feed reconnects by itself after the daemon comes back.
    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>>;
}

/// A stop's `grace` in whole seconds, the unit Docker, libpod and CRI count it in, rounded
/// up: a grace period is never cut short.
pub fn grace_seconds(grace: Duration) -> u64 {
    grace.as_secs() + u64::from(grace.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_absent_image_under_never_is_refused() {
        use PullPolicy::{Always, IfNotPresent, Never};
        let pull = |policy: PullPolicy, present| policy.must_pull("nginx:1.25", present).ok();
        assert_eq!(pull(Always, true), Some(true));
        assert_eq!(pull(Always, false), Some(true));
        assert_eq!(pull(IfNotPresent, true), Some(false));
        assert_eq!(pull(IfNotPresent, false), Some(true));
        assert_eq!(pull(Never, true), Some(false));
        let err = Never.must_pull("nginx:1.25", false).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::ImagePull { image, .. } if image == "nginx:1.25"),
            "{err:?}"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(
            source,
            "image nginx:1.25 is not present and the pull policy Never forbids pulling it"
        );
    }

    #[test]
    fn grace_periods_round_up_to_whole_seconds() {
        assert_eq!(grace_seconds(Duration::ZERO), 0);
        assert_eq!(grace_seconds(Duration::from_millis(1)), 1);
        assert_eq!(grace_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(grace_seconds(Duration::from_secs(30)), 30);
    }
}

//! The backend API of staticpod: the `ContainerRuntime` trait every backend implements,
//! shaped like CRI (sandboxes, containers, images, exec, logs, a change feed), its plain-data
//! types, the labels and names objects carry, and the toolkit the backends share (endpoint
//! parsing, error classification, inspection cache, event feeds, exec output, log
//! formatting, timestamps, CPU math, back-off, stop signals). Nothing here knows about manifests or plans: backends depend on this crate
//! alone.

pub mod backend;
pub mod backoff;
pub mod call_error;
pub mod clock;
mod config;
pub mod cpu;
pub mod endpoint;
mod error;
pub mod event_feed;
pub mod exec_output;
#[cfg(feature = "log-files")]
pub mod inotify;
pub mod inspect;
pub mod labels;
#[cfg(feature = "log-files")]
pub mod log_files;
#[cfg(feature = "log-files")]
pub mod log_rotation;
pub mod logs;
pub mod naming;
pub mod signal;
mod state;
pub mod timestamp;

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::logs::{LogOptions, LogStream};

pub use config::{
    AppArmor, ContainerConfig, ImageEnsured, ImageUser, Mount, NeverPull, PortMapping, Propagation,
    Protocol, PullPolicy, ResourceConfig, SandboxConfig, Seccomp, SecurityConfig,
};
pub use error::{BoxError, RuntimeError, RuntimeResult};
pub use state::{
    ContainerInfo, ContainerState, ExecResult, RuntimeVersion, SandboxInfo, SandboxState,
};

/// [`RuntimeError`] kinds, store the given labels verbatim, and list only objects carrying
/// the label [`crate::labels::MANAGED_BY`] = [`crate::labels::MANAGED_BY_VALUE`].
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Name and version of the runtime; also the connectivity check at start.
    async fn version(&self) -> RuntimeResult<RuntimeVersion>;

    /// Makes sure `image` is present, pulling it when `policy` asks for it.
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured>;

    /// The user `image` (present) runs as when the manifest names none, for `runAsNonRoot`.
    /// An image not in the store is [`RuntimeError::NotFound`].
    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser>;

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

    /// The log of container `container_id` (running or exited; an older instance is asked
    /// for by its own id, as `kubectl logs --previous`), stdout and stderr interleaved, as
    /// `options` ask. With `follow` the stream goes on until the container has exited and
    /// its log is drained, or until the reader drops it. A container the runtime does not
    /// know is [`RuntimeError::NotFound`].
    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream>;
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
    fn grace_periods_round_up_to_whole_seconds() {
        assert_eq!(grace_seconds(Duration::ZERO), 0);
        assert_eq!(grace_seconds(Duration::from_millis(1)), 1);
        assert_eq!(grace_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(grace_seconds(Duration::from_secs(30)), 30);
    }
}

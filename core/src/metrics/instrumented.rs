//! A [`ContainerRuntime`] that counts and times every call of the one it wraps, as the
//! kubelet's instrumented runtime service does (`kubelet_runtime_operations_total`,
//! `_errors_total`, `_duration_seconds`, by the kubelet's `operation_type` names).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use staticpod_runtime::logs::{LogOptions, LogStream};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ExecResult, ImageEnsured, ImageUser,
    PullPolicy, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
};
use tokio::sync::mpsc;

use super::Metrics;

/// The wrapped runtime and where its calls are counted.
pub struct Instrumented {
    runtime: Arc<dyn ContainerRuntime>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    /// `runtime`, its calls counted in `metrics`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>, metrics: Arc<Metrics>) -> Self {
        Instrumented { runtime, metrics }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = RuntimeResult<T>>,
    ) -> RuntimeResult<T> {
        let begin = Instant::now();
        let result = call.await;
        self.metrics
            .operation(operation, begin.elapsed(), result.is_err());
        result
    }
}

#[async_trait]
impl ContainerRuntime for Instrumented {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        self.timed("version", self.runtime.version()).await
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        let begin = Instant::now();
        let result = self.runtime.ensure_image(image, policy).await;
        // The kubelet's names: a pull when there was one, else the look at the store.
        let operation = match result {
            Ok(ImageEnsured::Present) => "image_status",
            _ => "pull_image",
        };
        self.metrics
            .operation(operation, begin.elapsed(), result.is_err());
        result
    }

    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser> {
        // The kubelet reads the image's user with an ImageStatus call.
        self.timed("image_status", self.runtime.image_user(image))
            .await
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        self.timed("run_podsandbox", self.runtime.run_sandbox(config))
            .await
    }

    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.timed("stop_podsandbox", self.runtime.stop_sandbox(sandbox_id))
            .await
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.timed("remove_podsandbox", self.runtime.remove_sandbox(sandbox_id))
            .await
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        let call = self.runtime.create_container(sandbox_id, config, sandbox);
        self.timed("create_container", call).await
    }

    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.timed(
            "start_container",
            self.runtime.start_container(container_id),
        )
        .await
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        let call = self.runtime.stop_container(container_id, grace);
        self.timed("stop_container", call).await
    }

    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.timed(
            "remove_container",
            self.runtime.remove_container(container_id),
        )
        .await
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        self.timed("list_podsandbox", self.runtime.list_sandboxes())
            .await
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        self.timed("list_containers", self.runtime.list_containers())
            .await
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        let call = self.runtime.exec_sync(container_id, command, timeout);
        self.timed("exec_sync", call).await
    }

    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        self.timed("get_container_events", self.runtime.watch())
            .await
    }

    /// Counts the opening of the stream, not its reading. The kubelet has no such operation
    /// (it reads CRI's log files itself), hence a name of our own.
    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.timed("container_logs", self.runtime.logs(container_id, options))
            .await
    }
}

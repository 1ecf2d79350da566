//! A [`ContainerRuntime`] that counts and times every call of the one it wraps, as the
//! kubelet's instrumented runtime service does (`kubelet_runtime_operations_total`,
//! `_errors_total`, `_duration_seconds`, by the kubelet's `operation_type` names), and fails
//! a call that has not answered within the kubelet's `runtimeRequestTimeout`, as its remote
//! runtime client does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use staticpod_runtime::logs::{LogOptions, LogStream};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ExecResult, ImageEnsured, ImageUser,
    PullPolicy, RuntimeError, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
};
use tokio::sync::mpsc;

use super::Metrics;

/// The kubelet's default `runtimeRequestTimeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The wrapped runtime, where its calls are counted, and how long each may take.
pub struct Instrumented {
    runtime: Arc<dyn ContainerRuntime>,
    metrics: Arc<Metrics>,
    timeout: Duration,
}

impl Instrumented {
    /// `runtime`, its calls counted in `metrics`, each failed after `timeout` without an
    /// answer (the kubelet's `runtimeRequestTimeout`; a stop also has its grace period, an
    /// exec its own timeout, a sandbox's start twice the time, and a pull no bound).
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        metrics: Arc<Metrics>,
        timeout: Duration,
    ) -> Self {
        Instrumented {
            runtime,
            metrics,
            timeout,
        }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = RuntimeResult<T>>,
    ) -> RuntimeResult<T> {
        self.within(operation, self.timeout, call).await
    }

    /// Counts and times `call`, failed when it has not answered within `limit` (it is then
    /// dropped: a gRPC or HTTP request is cancelled).
    async fn within<T>(
        &self,
        operation: &'static str,
        limit: Duration,
        call: impl Future<Output = RuntimeResult<T>>,
    ) -> RuntimeResult<T> {
        let begin = Instant::now();
        let result = tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(RuntimeError::Failed {
                operation: operation.to_string(),
                source: format!(
                    "no answer from the runtime within {} (runtimeRequestTimeout)",
                    crate::status::go_duration(limit)
                )
                .into(),
            })
        });
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

    /// Not bounded: a pull takes what the image's size takes, as the kubelet's `PullImage`.
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
        // Twice the time, as the kubelet gives it: the runtime may pull its pause image.
        let call = self.runtime.run_sandbox(config);
        self.within("run_podsandbox", self.timeout * 2, call).await
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
        self.within("stop_container", self.timeout + grace, call)
            .await
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
        self.within("exec_sync", self.timeout + timeout, call).await
    }

    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        self.timed("get_container_events", self.runtime.watch())
            .await
    }

    /// Counts and bounds the opening of the stream, not its reading. The kubelet has no such operation
    /// (it reads CRI's log files itself), hence a name of our own.
    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.timed("container_logs", self.runtime.logs(container_id, options))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use staticpod_testkit::fake::FakeRuntime;

    #[tokio::test(start_paused = true)]
    async fn a_call_the_runtime_never_answers_fails_after_the_request_timeout() {
        let fake = Arc::new(FakeRuntime::default());
        let metrics = Arc::new(Metrics::new());
        let timeout = Duration::from_secs(120);
        let runtime = Instrumented::new(fake.clone(), metrics, timeout);
        fake.set_hung(true);
        let begin = tokio::time::Instant::now();
        let error = runtime.list_sandboxes().await.unwrap_err();
        assert_eq!(begin.elapsed(), timeout);
        assert_eq!(
            crate::error_chain::describe(&error),
            "list_podsandbox failed: no answer from the runtime within 2m0s (runtimeRequestTimeout)"
        );
        fake.set_hung(false);
        assert!(runtime.list_sandboxes().await.is_ok(), "answered again");
    }
}

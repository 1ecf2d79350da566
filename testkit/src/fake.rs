//! An in-memory [`ContainerRuntime`] for tests of the planner, executor and agent: it keeps
//! sandboxes and containers in maps, records every call, and can be told to fail a call or
//! to make a container exit.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::mpsc;

use staticpod_runtime::clock::{Clock, SystemClock};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ExecResult, ImageEnsured,
    PullPolicy, RuntimeError, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
    SandboxState,
};

#[derive(Debug, Default)]
struct State {
    sandboxes: BTreeMap<String, SandboxInfo>,
    containers: BTreeMap<String, ContainerInfo>,
    images: Vec<String>,
    calls: Vec<String>,
    fail: BTreeMap<String, String>,
    down: bool,
    hung: Option<Arc<tokio::sync::Notify>>,
    exec_exit_code: i32,
    next_id: u64,
    events: Vec<mpsc::Sender<()>>,
}

/// The fake runtime.
#[derive(Debug)]
pub struct FakeRuntime {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            state: Mutex::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl FakeRuntime {
    /// The same runtime, stamping creations, starts and exits with `clock`'s time (a
    /// [`staticpod_runtime::clock::TokioClock`] in tests with paused time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A runtime that holds `images`.
    pub fn with_images(images: &[&str]) -> Self {
        let fake = FakeRuntime::default();
        fake.state.lock().unwrap().images = images.iter().map(|i| i.to_string()).collect();
        fake
    }

    /// Every call so far, as `"operation argument"` lines.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// Makes the next call of `operation` (e.g. `"run_sandbox"`) fail with `message`.
    pub fn fail_next(&self, operation: &str, message: &str) {
        self.state
            .lock()
            .unwrap()
            .fail
            .insert(operation.to_string(), message.to_string());
    }

    /// The exit code every later `exec_sync` returns (0 at first).
    pub fn set_exec_exit_code(&self, exit_code: i32) {
        self.state.lock().unwrap().exec_exit_code = exit_code;
    }

    /// Takes the daemon down (every call fails as unavailable) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Makes the daemon hang (listing sandboxes waits until it is unhung, as a daemon that
    /// accepts calls and never answers them) or stops the hang.
    pub fn set_hung(&self, hung: bool) {
        let mut state = self.state.lock().unwrap();
        match (hung, state.hung.take()) {
            (true, old) => state.hung = Some(old.unwrap_or_default()),
            (false, Some(waiting)) => waiting.notify_waiters(),
            (false, None) => {}
        }
    }

    /// Makes a running container exit with `exit_code` at `finished_at`, and sends an event.
    pub fn exit_container(&self, id: &str, exit_code: i32, finished_at: SystemTime) {
        let mut state = self.state.lock().unwrap();
        if let Some(container) = state.containers.get_mut(id) {
            let started_at = match container.state {
                ContainerState::Running { started_at } => started_at,
                _ => finished_at,
            };
            container.state = ContainerState::Exited {
                exit_code,
                started_at,
                finished_at,
                oom_killed: false,
            };
        }
        state.events.retain(|tx| !tx.is_closed());
        for tx in &state.events {
            let _ = tx.try_send(());
        }
    }

    /// Current containers.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.state
            .lock()
            .unwrap()
            .containers
            .values()
            .cloned()
            .collect()
    }

    /// Current sandboxes.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        self.state
            .lock()
            .unwrap()
            .sandboxes
            .values()
            .cloned()
            .collect()
    }

    fn call(&self, operation: &str, argument: &str) -> RuntimeResult<()> {
        let mut state = self.state.lock().unwrap();
        state
            .calls
            .push(format!("{operation} {argument}").trim_end().to_string());
        if state.down {
            return Err(RuntimeError::Unavailable {
                endpoint: "fake".into(),
                source: "the fake daemon is down".into(),
            });
        }
        match state.fail.remove(operation) {
            Some(message) => Err(RuntimeError::Failed {
                operation: operation.to_string(),
                source: message.into(),
            }),
            None => Ok(()),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut state = self.state.lock().unwrap();
        state.next_id += 1;
        format!("{prefix}{}", state.next_id)
    }
}

fn merged(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = labels.clone();
    all.extend(annotations.clone());
    all
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        self.call("version", "")?;
        Ok(RuntimeVersion {
            runtime_name: "fake".into(),
            runtime_version: "1".into(),
            api_version: "1".into(),
        })
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        self.call("ensure_image", image)?;
        let present = self.state.lock().unwrap().images.iter().any(|i| i == image);
        if !policy.must_pull(image, present)? {
            return Ok(ImageEnsured::Present);
        }
        Err(RuntimeError::ImagePull {
            image: image.to_string(),
            source: "no registry in the fake".into(),
        })
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        self.call(
            "run_sandbox",
            &format!("{}#{}", config.name, config.attempt),
        )?;
        let id = self.next_id("sandbox-");
        let info = SandboxInfo {
            id: id.clone(),
            state: SandboxState::Ready,
            created_at: self.clock.now(),
            ip: (!config.host_network).then(|| "10.88.0.2".to_string()),
            labels: merged(&config.labels, &config.annotations),
        };
        self.state
            .lock()
            .unwrap()
            .sandboxes
            .insert(id.clone(), info);
        Ok(id)
    }

    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.call("stop_sandbox", sandbox_id)?;
        if let Some(sandbox) = self.state.lock().unwrap().sandboxes.get_mut(sandbox_id) {
            sandbox.state = SandboxState::NotReady;
        }
        Ok(())
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.call("remove_sandbox", sandbox_id)?;
        self.state.lock().unwrap().sandboxes.remove(sandbox_id);
        Ok(())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        _sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        self.call(
            "create_container",
            &format!("{}#{}", config.name, config.attempt),
        )?;
        let id = self.next_id("container-");
        let info = ContainerInfo {
            id: id.clone(),
            sandbox_id: Some(sandbox_id.to_string()),
            image: config.image.clone(),
            state: ContainerState::Created,
            created_at: self.clock.now(),
            labels: merged(&config.labels, &config.annotations),
        };
        self.state
            .lock()
            .unwrap()
            .containers
            .insert(id.clone(), info);
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.call("start_container", container_id)?;
        if let Some(container) = self.state.lock().unwrap().containers.get_mut(container_id) {
            container.state = ContainerState::Running {
                started_at: self.clock.now(),
            };
        }
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        self.call(
            "stop_container",
            &format!("{container_id} grace={}s", grace.as_secs()),
        )?;
        if let Some(container) = self.state.lock().unwrap().containers.get_mut(container_id)
            && let ContainerState::Running { started_at } = container.state
        {
            let now = self.clock.now();
            container.state = ContainerState::Exited {
                exit_code: 137,
                started_at,
                finished_at: now,
                oom_killed: false,
            };
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.call("remove_container", container_id)?;
        self.state.lock().unwrap().containers.remove(container_id);
        Ok(())
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        let hang = self.state.lock().unwrap().hung.clone();
        if let Some(hang) = hang {
            hang.notified().await;
        }
        self.call("list_sandboxes", "")?;
        Ok(self.sandboxes())
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        self.call("list_containers", "")?;
        Ok(self.containers())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        _timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        self.call(
            "exec_sync",
            &format!("{container_id} {}", command.join(" ")),
        )?;
        let exit_code = self.state.lock().unwrap().exec_exit_code;
        Ok(ExecResult {
            exit_code,
            output: format!("exit {exit_code}"),
        })
    }

    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        let (tx, rx) = mpsc::channel(1);
        self.state.lock().unwrap().events.push(tx);
        Ok(rx)
    }
}

//! The floor: what the agent's own planner and executor do for the bench's pods, run in the
//! bench process against the same backend, without the agent around them (no manifest
//! directory to watch, no loop, no status). The executor talks to the backend through
//! [`Timed`], which passes every call on and records how long it took, so the floor cannot
//! drift from what the agent does and still says where its time goes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use async_trait::async_trait;
use staticpod_core::events::{Events, Recorder};
use staticpod_core::manifest::{self, defaults::StaticPod};
use staticpod_core::metrics::Metrics;
use staticpod_core::metrics::instrumented::{DEFAULT_REQUEST_TIMEOUT, Instrumented};
use staticpod_core::node::HostFacts;
use staticpod_core::reconcile::configs::Dirs;
use staticpod_core::reconcile::execute::Executor;
use staticpod_core::reconcile::history::History;
use staticpod_core::reconcile::observe::{self, ObservedPod};
use staticpod_core::reconcile::plan;
use staticpod_core::reconcile::security::NodePolicy;
use staticpod_core::source::SourceKind;
use staticpod_core::verdicts::ProbeVerdicts;
use staticpod_runtime::clock::SystemClock;
use staticpod_runtime::logs::{LogOptions, LogStream};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ExecResult, ImageEnsured, ImageUser,
    PullPolicy, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
};
use tokio::sync::mpsc;

use crate::node::all;
use crate::stats::ms;

/// The node address the floor's executor hands to pods (the agent's is its default route's).
const HOST_IP: &str = "127.0.0.1";

/// The agent's planner and executor, run as node `node` on `runtime`.
pub struct Floor {
    runtime: Arc<dyn ContainerRuntime>,
    node: String,
    root: PathBuf,
    /// The agent's decisions on this host (its `oom_score_adj` floor above all).
    policy: NodePolicy,
}

impl Floor {
    /// The floor as node `node`, keeping pod files under `root`, as the agent's
    /// `--root-dir`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>, node: String, root: PathBuf) -> Floor {
        let policy = NodePolicy::of_host(&HostFacts::read(), &root);
        Floor {
            runtime,
            node,
            root,
            policy,
        }
    }

    /// Pod `file` of this node, read from `text` as the agent reads a manifest.
    pub fn load(&self, file: &str, text: &str) -> Result<Arc<StaticPod>> {
        let path = Path::new("/bench").join(file);
        let mut loaded = manifest::load(
            &path,
            SourceKind::File,
            text,
            &self.node,
            "2025-01-01T00:00:00Z",
        );
        ensure!(
            !loaded.has_errors() && loaded.pods.len() == 1,
            "{file}: {:?}",
            loaded.diagnostics
        );
        Ok(Arc::new(loaded.pods.remove(0)))
    }

    /// Starts new pods as the agent does when their manifests appear: the plan for `pods`
    /// on a node that has none of them, each pod's work run at once.
    pub async fn start(&self, pods: &[Arc<StaticPod>]) -> Result<Calls> {
        self.execute(pods, &BTreeMap::new()).await
    }

    /// Brings the node to `desired` as the agent does after manifests changed or went: one
    /// listing of the runtime, the plan from it, each pod's work run at once.
    pub async fn converge(&self, desired: &[Arc<StaticPod>]) -> Result<Calls> {
        let (sandboxes, containers) = tokio::join!(
            self.runtime.list_sandboxes(),
            self.runtime.list_containers()
        );
        let observed = observe::group(&self.node, sandboxes?, containers?);
        self.execute(desired, &observed).await
    }

    async fn execute(
        &self,
        desired: &[Arc<StaticPod>],
        observed: &BTreeMap<String, ObservedPod>,
    ) -> Result<Calls> {
        let timed = Arc::new(Timed {
            backend: self.runtime.clone(),
            calls: Mutex::default(),
        });
        // The agent records events and counts metrics as it works; so does its floor.
        let events = Arc::new(Events::new(&self.node));
        let recorder = Recorder::new(events, Arc::new(SystemClock));
        let metrics = Arc::new(Metrics::new());
        let executor = Executor::new(
            Arc::new(Instrumented::new(
                timed.clone(),
                metrics.clone(),
                DEFAULT_REQUEST_TIMEOUT,
            )),
            Dirs {
                root: self.root.clone(),
                pod_logs: self.root.join("logs"),
            },
            HOST_IP.to_string(),
            recorder,
            metrics,
        )
        .with_policy(self.policy.clone());
        let verdicts = ProbeVerdicts::default();
        let plan = plan::plan(
            desired,
            observed,
            &History::default(),
            &verdicts,
            plan::Timing {
                now: SystemTime::now(),
                backoff: plan::CrashBackoff::default(),
            },
        );
        all(plan.work.into_iter().map(|work| {
            let executor = executor.clone();
            async move {
                let pod = work.key.clone();
                executor
                    .run(work)
                    .await
                    .with_context(|| format!("the floor's work on {pod}"))
            }
        }))
        .await?;
        let calls = std::mem::take(&mut *timed.calls.lock().expect("the call log"));
        Ok(Calls(calls))
    }
}

/// The runtime calls of one piece of floor work, with how long each took, in the order they
/// ended.
#[derive(Debug)]
pub struct Calls(Vec<(Call, Duration)>);

impl Calls {
    /// The breakdown of a start that the report shows.
    pub fn start_times(&self) -> CallTimes {
        CallTimes {
            run_sandbox: self.ms(&[Call::RunSandbox]),
            containers: self.ms(&[
                Call::EnsureImage,
                Call::ImageUser,
                Call::CreateContainer,
                Call::StartContainer,
            ]),
        }
    }

    /// The time spent in `calls`, summed, in ms.
    fn ms(&self, calls: &[Call]) -> f64 {
        self.0
            .iter()
            .filter(|(call, _)| calls.contains(call))
            .map(|(_, took)| ms(*took))
            .sum()
    }
}

/// How long the runtime calls of one floor start took, in ms.
#[derive(Debug, Default, Clone)]
pub struct CallTimes {
    /// run_sandbox.
    pub run_sandbox: f64,
    /// ensure_image + create_container + start_container, all containers.
    pub containers: f64,
}

/// A [`ContainerRuntime`] method, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Version,
    EnsureImage,
    ImageUser,
    RunSandbox,
    StopSandbox,
    RemoveSandbox,
    CreateContainer,
    StartContainer,
    StopContainer,
    RemoveContainer,
    ListSandboxes,
    ListContainers,
    ExecSync,
    Watch,
    Logs,
}

/// The real backend, each call passed on and its duration recorded.
struct Timed {
    backend: Arc<dyn ContainerRuntime>,
    calls: Mutex<Vec<(Call, Duration)>>,
}

impl Timed {
    async fn time<T>(&self, call: Call, request: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let answer = request.await;
        let took = started.elapsed();
        self.calls.lock().expect("the call log").push((call, took));
        answer
    }
}

#[async_trait]
impl ContainerRuntime for Timed {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        self.time(Call::Version, self.backend.version()).await
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        let request = self.backend.ensure_image(image, policy);
        self.time(Call::EnsureImage, request).await
    }

    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser> {
        let request = self.backend.image_user(image);
        self.time(Call::ImageUser, request).await
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        let request = self.backend.run_sandbox(config);
        self.time(Call::RunSandbox, request).await
    }

    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        let request = self.backend.stop_sandbox(sandbox_id);
        self.time(Call::StopSandbox, request).await
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        let request = self.backend.remove_sandbox(sandbox_id);
        self.time(Call::RemoveSandbox, request).await
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        let request = self.backend.create_container(sandbox_id, config, sandbox);
        self.time(Call::CreateContainer, request).await
    }

    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        let request = self.backend.start_container(container_id);
        self.time(Call::StartContainer, request).await
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        let request = self.backend.stop_container(container_id, grace);
        self.time(Call::StopContainer, request).await
    }

    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        let request = self.backend.remove_container(container_id);
        self.time(Call::RemoveContainer, request).await
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        self.time(Call::ListSandboxes, self.backend.list_sandboxes())
            .await
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        self.time(Call::ListContainers, self.backend.list_containers())
            .await
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        let request = self.backend.exec_sync(container_id, command, timeout);
        self.time(Call::ExecSync, request).await
    }

    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        self.time(Call::Watch, self.backend.watch()).await
    }

    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        let request = self.backend.logs(container_id, options);
        self.time(Call::Logs, request).await
    }
}

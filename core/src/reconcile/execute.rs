//! The executor: applies one pod's steps, in order, through the `ContainerRuntime` trait.
//! Pods are executed concurrently by the agent; a failed step ends the pod's work and is
//! reported with the kubelet's reason word, so the status can show it.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::join_all;
use tracing::{Instrument, info, info_span};

use super::configs::{self, NodeFacts};
use super::observe::ContainerKind;
use super::plan::{PodWork, SandboxTarget, Step, container_of};
use super::volumes::{self, VolumeError};
use crate::manifest::defaults::StaticPod;
use staticpod_runtime::{ContainerRuntime, RuntimeError, SandboxConfig};

/// Why a pod's work stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// A runtime call failed.
    #[error("{reason}")]
    Runtime {
        /// The kubelet's word for it (`ErrImagePull`, `CreateContainerError`, ...).
        reason: &'static str,
        /// The failure.
        #[source]
        source: RuntimeError,
    },
    /// A volume could not be prepared.
    #[error("CreateContainerConfigError")]
    Volume(#[from] VolumeError),
}

impl WorkError {
    /// The kubelet's word for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            WorkError::Runtime { reason, .. } => reason,
            WorkError::Volume(_) => "CreateContainerConfigError",
        }
    }

    /// True when the runtime itself is unreachable.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, WorkError::Runtime { source, .. } if source.is_unavailable())
    }
}

/// Full text of an error and its causes, for logs and status messages.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn at(reason: &'static str) -> impl FnOnce(RuntimeError) -> WorkError {
    move |source| WorkError::Runtime { reason, source }
}

/// Applies pod work through a runtime.
#[derive(Clone)]
pub struct Executor {
    runtime: Arc<dyn ContainerRuntime>,
    root_dir: PathBuf,
    host_ip: String,
}

impl Executor {
    /// An executor for `runtime`, keeping pod files under `root_dir`.
    pub fn new(runtime: Arc<dyn ContainerRuntime>, root_dir: PathBuf, host_ip: String) -> Self {
        Executor {
            runtime,
            root_dir,
            host_ip,
        }
    }

    /// Runs the steps of one pod, in order, stopping at the first failure.
    pub async fn run(&self, work: PodWork) -> Result<(), WorkError> {
        let span = info_span!("pod", pod = %work.key);
        async move {
            let mut new_sandbox: Option<(String, SandboxConfig)> = None;
            for step in work.steps {
                match step {
                    Step::KillPod {
                        uid,
                        containers,
                        sandboxes,
                        grace,
                        forget,
                    } => {
                        info!(%uid, "killing pod (grace {}s)", grace.as_secs());
                        let stops = containers
                            .iter()
                            .map(|id| self.runtime.stop_container(id, grace));
                        first_error(join_all(stops).await).map_err(at("KillContainerError"))?;
                        for id in &sandboxes {
                            self.runtime
                                .stop_sandbox(id)
                                .await
                                .map_err(at("KillPodSandboxError"))?;
                        }
                        for id in &containers {
                            self.runtime
                                .remove_container(id)
                                .await
                                .map_err(at("KillContainerError"))?;
                        }
                        for id in &sandboxes {
                            self.runtime
                                .remove_sandbox(id)
                                .await
                                .map_err(at("KillPodSandboxError"))?;
                        }
                        if forget {
                            self.forget(&uid);
                        }
                    }
                    Step::StopSandbox { id } => {
                        info!(sandbox = %id, "pod finished; stopping its sandbox");
                        self.runtime
                            .stop_sandbox(&id)
                            .await
                            .map_err(at("KillPodSandboxError"))?;
                    }
                    Step::StopContainer {
                        id,
                        name,
                        grace,
                        reason,
                    } => {
                        info!(container = %name, "{reason}; restarting the container");
                        self.runtime
                            .stop_container(&id, grace)
                            .await
                            .map_err(at("KillContainerError"))?;
                    }
                    Step::RemoveContainer { id } => {
                        self.runtime
                            .remove_container(&id)
                            .await
                            .map_err(at("KillContainerError"))?;
                    }
                    Step::RunSandbox { attempt } => {
                        let pod = desired(&work.pod);
                        let config = configs::sandbox_config(pod, attempt, &self.root_dir);
                        std::fs::create_dir_all(&config.log_directory).map_err(|source| {
                            VolumeError::Create {
                                path: config.log_directory.clone(),
                                source,
                            }
                        })?;
                        let id = self
                            .runtime
                            .run_sandbox(&config)
                            .await
                            .map_err(at("CreatePodSandboxError"))?;
                        info!(uid = %pod.uid(), sandbox = %id, attempt, "sandbox started");
                        new_sandbox = Some((id, config));
                    }
                    Step::StartContainer {
                        kind,
                        index,
                        attempt,
                        sandbox,
                    } => {
                        let pod = desired(&work.pod);
                        let (sandbox_id, sandbox_config, pod_ip) = match sandbox {
                            SandboxTarget::New => {
                                let (id, config) = new_sandbox
                                    .clone()
                                    .expect("RunSandbox precedes StartContainer");
                                let ip = self.sandbox_ip(pod, &id).await;
                                (id, config, ip)
                            }
                            SandboxTarget::Existing { id, ip } => {
                                // Attempt numbers only name objects; the sandbox's own is in its labels.
                                (id, configs::sandbox_config(pod, 0, &self.root_dir), ip)
                            }
                        };
                        self.start_container(
                            pod,
                            kind,
                            index,
                            attempt,
                            &sandbox_id,
                            &sandbox_config,
                            pod_ip,
                        )
                        .await?;
                    }
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_container(
        &self,
        pod: &StaticPod,
        kind: ContainerKind,
        index: usize,
        attempt: u32,
        sandbox_id: &str,
        sandbox: &SandboxConfig,
        pod_ip: Option<String>,
    ) -> Result<(), WorkError> {
        let container = container_of(pod, kind, index);
        let mounts = volumes::prepare(&configs::mount_requests(pod, container, &self.root_dir))?;
        let pod_ip = pod_ip.unwrap_or_else(|| self.host_ip.clone());
        let node = NodeFacts {
            root_dir: &self.root_dir,
            host_ip: &self.host_ip,
            pod_ip: &pod_ip,
        };
        let config = configs::container_config(pod, kind, container, attempt, mounts, &node);
        self.runtime
            .ensure_image(&container.image, configs::pull_policy(container))
            .await
            .map_err(at("ErrImagePull"))?;
        let id = self
            .runtime
            .create_container(sandbox_id, &config, sandbox)
            .await
            .map_err(at("CreateContainerError"))?;
        self.runtime
            .start_container(&id)
            .await
            .map_err(at("RunContainerError"))?;
        info!(container = %container.name, attempt, id = %id, "container started");
        Ok(())
    }

    /// The IP of a sandbox just created; only looked up when a container asks for it.
    async fn sandbox_ip(&self, pod: &StaticPod, id: &str) -> Option<String> {
        let wants_ip = pod
            .pod
            .spec
            .containers
            .iter()
            .chain(&pod.pod.spec.init_containers)
            .any(|c| {
                c.env.iter().any(|e| {
                    e.value_from
                        .as_ref()
                        .and_then(|f| f.field_ref.as_ref())
                        .is_some_and(|f| f.field_path == "status.podIP")
                })
            });
        if !wants_ip {
            return None;
        }
        let sandboxes = self.runtime.list_sandboxes().await.ok()?;
        sandboxes
            .into_iter()
            .find(|s| s.id == id)
            .and_then(|s| s.ip)
    }

    /// Deletes the files of a pod that is gone for good: its emptyDir volumes and logs.
    fn forget(&self, uid: &str) {
        let pod_dir = configs::pod_dir(&self.root_dir, uid);
        if let Err(error) = std::fs::remove_dir_all(&pod_dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %pod_dir.display(), %error, "cannot remove the pod's directory");
        }
        let logs = self.root_dir.join("logs");
        let suffix = format!("_{uid}");
        for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn desired(pod: &Option<Arc<StaticPod>>) -> &StaticPod {
    pod.as_deref()
        .expect("the planner only creates objects for desired pods")
}

fn first_error(results: Vec<Result<(), RuntimeError>>) -> Result<(), RuntimeError> {
    results.into_iter().collect()
}

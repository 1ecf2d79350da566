//! The executor: applies one pod's steps, in order, through the `ContainerRuntime` trait.
//! Pods are executed concurrently by the agent; a failed step ends the pod's work and is
//! reported with the kubelet's reason word, so the status can show it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tracing::{Instrument, info, info_span};

use super::configs::{self, Dirs, NodeFacts};
use super::observe::ContainerKind;
use super::plan::{ContainerRef, Instance, PodWork, SandboxTarget, Step, container_of};
use super::volumes::{self, VolumeError};
use crate::error_chain::describe;
use crate::events::{ObjectReference, Recorder};
use crate::manifest::defaults::StaticPod;
use crate::model::Container;
use staticpod_runtime::{ContainerRuntime, ImageEnsured, NeverPull, RuntimeError, SandboxConfig};

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

fn at(reason: &'static str) -> impl FnOnce(RuntimeError) -> WorkError {
    move |source| WorkError::Runtime { reason, source }
}

/// Applies pod work through a runtime.
#[derive(Clone)]
pub struct Executor {
    runtime: Arc<dyn ContainerRuntime>,
    dirs: Dirs,
    host_ip: String,
    recorder: Recorder,
}

impl Executor {
    /// An executor for `runtime`, keeping pod files in `dirs`, telling what it does as the
    /// kubelet's events through `recorder`.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        dirs: Dirs,
        host_ip: String,
        recorder: Recorder,
    ) -> Self {
        Executor {
            runtime,
            dirs,
            host_ip,
            recorder,
        }
    }

    /// Runs the steps of one pod, in order, stopping at the first failure.
    pub async fn run(&self, work: PodWork) -> Result<(), WorkError> {
        let span = info_span!("pod", pod = %work.key);
        async move {
            let mut new_sandbox = None;
            for step in work.steps {
                match step {
                    Step::KillPod {
                        uid,
                        containers,
                        sandboxes,
                        grace,
                        forget,
                    } => {
                        let object =
                            ObjectReference::pod(&work.key.namespace, &work.key.name, &uid);
                        self.kill_pod(&object, &containers, &sandboxes, grace)
                            .await?;
                        if forget {
                            self.forget(uid).await;
                        }
                    }
                    Step::StopSandbox { id } => self.stop_sandbox(&id).await?,
                    Step::StopContainer {
                        id,
                        name,
                        grace,
                        reason,
                    } => {
                        let pod = desired(&work.pod);
                        let object = reference(pod).container(false, &name);
                        self.stop_container(&object, &id, grace, &reason).await?
                    }
                    Step::RemoveContainer { id } => self.remove_container(&id).await?,
                    Step::RunSandbox { attempt } => {
                        let pod = desired(&work.pod);
                        new_sandbox = Some(self.run_sandbox(pod, attempt).await?);
                    }
                    Step::StartContainer { instance, sandbox } => {
                        let pod = desired(&work.pod);
                        let target = self.target(pod, sandbox, new_sandbox.as_ref()).await;
                        self.start_container(pod, &instance, &target).await?;
                    }
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Stops every container (SIGTERM, `grace`, SIGKILL) at once, then the sandboxes, then
    /// removes them all.
    async fn kill_pod(
        &self,
        pod: &ObjectReference,
        containers: &[ContainerRef],
        sandboxes: &[String],
        grace: Duration,
    ) -> Result<(), WorkError> {
        info!(uid = %pod.uid, "killing pod (grace {}s)", grace.as_secs());
        for container in containers {
            let object = pod.container(container.kind == ContainerKind::Init, &container.name);
            let message = format!("Stopping container {}", container.name);
            self.recorder.normal(&object, "Killing", &message);
        }
        let stops = containers
            .iter()
            .map(|c| self.runtime.stop_container(&c.id, grace));
        first_error(join_all(stops).await).map_err(at("KillContainerError"))?;
        for id in sandboxes {
            self.runtime
                .stop_sandbox(id)
                .await
                .map_err(at("KillPodSandboxError"))?;
        }
        for container in containers {
            self.runtime
                .remove_container(&container.id)
                .await
                .map_err(at("KillContainerError"))?;
        }
        for id in sandboxes {
            self.runtime
                .remove_sandbox(id)
                .await
                .map_err(at("KillPodSandboxError"))?;
        }
        Ok(())
    }

    /// Stops the sandbox of a pod whose containers have all finished.
    async fn stop_sandbox(&self, id: &str) -> Result<(), WorkError> {
        info!(sandbox = %id, "pod finished; stopping its sandbox");
        self.runtime
            .stop_sandbox(id)
            .await
            .map_err(at("KillPodSandboxError"))
    }

    /// Stops a container whose probe failed; the restart policy then applies.
    async fn stop_container(
        &self,
        object: &ObjectReference,
        id: &str,
        grace: Duration,
        reason: &str,
    ) -> Result<(), WorkError> {
        let name = container_name(object);
        info!(container = %name, "{reason}; restarting the container");
        // `Liveness probe failed: ...` or `Startup probe failed: ...`.
        let probe = reason.split(' ').next().unwrap_or_default().to_lowercase();
        let message = format!("Container {name} failed {probe} probe, will be restarted");
        self.recorder.normal(object, "Killing", &message);
        self.runtime
            .stop_container(id, grace)
            .await
            .map_err(at("KillContainerError"))
    }

    /// Removes an old, exited instance of a container.
    async fn remove_container(&self, id: &str) -> Result<(), WorkError> {
        self.runtime
            .remove_container(id)
            .await
            .map_err(at("KillContainerError"))
    }

    /// Creates the pod's log directory and runs its sandbox.
    async fn run_sandbox(&self, pod: &StaticPod, attempt: u32) -> Result<Target, WorkError> {
        let config = configs::sandbox_config(pod, attempt, &self.dirs.pod_logs);
        let log_directory = config.log_directory.clone();
        blocking(move || {
            std::fs::create_dir_all(&log_directory).map_err(|source| VolumeError::Create {
                path: log_directory,
                source,
            })
        })
        .await?;
        let object = reference(pod);
        if attempt > 0 {
            let message = "Pod sandbox changed, it will be killed and re-created.";
            self.recorder.normal(&object, "SandboxChanged", message);
        }
        let id = match self.runtime.run_sandbox(&config).await {
            Ok(id) => id,
            Err(error) => {
                let message = format!("Failed to create pod sandbox: {}", describe(&error));
                self.recorder
                    .warning(&object, "FailedCreatePodSandBox", &message);
                return Err(at("CreatePodSandboxError")(error));
            }
        };
        info!(uid = %pod.uid(), sandbox = %id, attempt, "sandbox started");
        Ok(Target {
            id,
            config,
            ip: None,
        })
    }

    /// The sandbox a container step goes into: the one this work just created (whose IP is
    /// looked up only when a container asks for it), or one that exists.
    async fn target(
        &self,
        pod: &StaticPod,
        sandbox: SandboxTarget,
        new_sandbox: Option<&Target>,
    ) -> Target {
        match sandbox {
            SandboxTarget::New => {
                let new = new_sandbox.expect("RunSandbox precedes StartContainer");
                Target {
                    ip: self.sandbox_ip(pod, &new.id).await,
                    ..new.clone()
                }
            }
            SandboxTarget::Existing { id, ip } => Target {
                id,
                // Attempt numbers only name objects; the sandbox's own is in its labels.
                config: configs::sandbox_config(pod, 0, &self.dirs.pod_logs),
                ip,
            },
        }
    }

    /// Prepares the container's volumes, makes sure its image is there, creates it in
    /// `target` and starts it.
    async fn start_container(
        &self,
        pod: &StaticPod,
        instance: &Instance,
        target: &Target,
    ) -> Result<(), WorkError> {
        let container = container_of(pod, instance.kind, instance.index);
        let requests = configs::mount_requests(pod, container, &self.dirs.root);
        let mounts = blocking(move || volumes::prepare(&requests)).await?;
        let pod_ip = target.ip.as_deref().unwrap_or(&self.host_ip);
        let node = NodeFacts {
            root_dir: &self.dirs.root,
            host_ip: &self.host_ip,
            pod_ip,
        };
        let config = configs::container_config(pod, instance, container, mounts, &node);
        let object =
            reference(pod).container(instance.kind == ContainerKind::Init, &container.name);
        self.ensure_image(&object, container).await?;
        let failed = |reason: &'static str| {
            let object = &object;
            move |error: RuntimeError| {
                let message = format!("Error: {}", describe(&error));
                self.recorder.warning(object, "Failed", &message);
                WorkError::Runtime {
                    reason,
                    source: error,
                }
            }
        };
        let id = self
            .runtime
            .create_container(&target.id, &config, &target.config)
            .await
            .map_err(failed("CreateContainerError"))?;
        let message = format!("Created container {}", container.name);
        self.recorder.normal(&object, "Created", &message);
        self.runtime
            .start_container(&id)
            .await
            .map_err(failed("RunContainerError"))?;
        let message = format!("Started container {}", container.name);
        self.recorder.normal(&object, "Started", &message);
        info!(container = %container.name, attempt = instance.attempt, id = %id, "container started");
        Ok(())
    }

    /// Makes sure `container`'s image is there, telling it as the kubelet does: `Pulling` and
    /// `Pulled`, or `Pulled` for an image already present, or why it is not there.
    async fn ensure_image(
        &self,
        object: &ObjectReference,
        container: &Container,
    ) -> Result<(), WorkError> {
        let image = &container.image;
        let started = Instant::now();
        match self
            .runtime
            .ensure_image(image, configs::pull_policy(container))
            .await
        {
            Ok(ImageEnsured::Present) => {
                let message = format!("Container image {image:?} already present on machine");
                self.recorder.normal(object, "Pulled", &message);
                Ok(())
            }
            Ok(ImageEnsured::Pulled) => {
                let took = started.elapsed().as_secs_f64();
                self.recorder
                    .normal(object, "Pulling", &format!("Pulling image {image:?}"));
                let message = format!("Successfully pulled image {image:?} in {took:.3}s");
                self.recorder.normal(object, "Pulled", &message);
                Ok(())
            }
            Err(error) => {
                let never = std::error::Error::source(&error).is_some_and(|e| e.is::<NeverPull>());
                if never {
                    let message = format!(
                        "Container image {image:?} is not present with pull policy of Never"
                    );
                    self.recorder.warning(object, "ErrImageNeverPull", &message);
                    return Err(at("ErrImageNeverPull")(error));
                }
                let message = format!("Failed to pull image {image:?}: {}", describe(&error));
                self.recorder.warning(object, "Failed", &message);
                self.recorder
                    .warning(object, "Failed", "Error: ErrImagePull");
                Err(at("ErrImagePull")(error))
            }
        }
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
    async fn forget(&self, uid: String) {
        let dirs = self.dirs.clone();
        let removal = tokio::task::spawn_blocking(move || remove_pod_files(&dirs, &uid));
        if let Err(join) = removal.await {
            tracing::warn!(%join, "removing the pod's files panicked");
        }
    }
}

/// The sandbox a container goes into.
#[derive(Debug, Clone)]
struct Target {
    id: String,
    config: SandboxConfig,
    /// Its IP, for `status.podIP` in the environment; the node's when `None`.
    ip: Option<String>,
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VolumeError> + Send + 'static,
) -> Result<T, WorkError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
        .map_err(WorkError::Volume)
}

/// Removes the pod directory (emptyDir volumes) and the log directories of pod `uid`.
fn remove_pod_files(dirs: &Dirs, uid: &str) {
    let pod_dir = configs::pod_dir(&dirs.root, uid);
    if let Err(error) = std::fs::remove_dir_all(&pod_dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %pod_dir.display(), %error, "cannot remove the pod's directory");
    }
    let logs = &dirs.pod_logs;
    let suffix = format!("_{uid}");
    for entry in std::fs::read_dir(logs).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().ends_with(&suffix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The event reference of a desired pod.
fn reference(pod: &StaticPod) -> ObjectReference {
    ObjectReference::pod(pod.namespace(), pod.full_name(), pod.uid())
}

/// The container's name in a container reference (`spec.containers{web}`).
fn container_name(object: &ObjectReference) -> &str {
    object
        .field_path
        .as_deref()
        .and_then(|path| path.split_once('{'))
        .map_or("", |(_, name)| name.trim_end_matches('}'))
}

fn desired(pod: &Option<Arc<StaticPod>>) -> &StaticPod {
    pod.as_deref()
        .expect("the planner only creates objects for desired pods")
}

fn first_error(results: Vec<Result<(), RuntimeError>>) -> Result<(), RuntimeError> {
    results.into_iter().collect()
}

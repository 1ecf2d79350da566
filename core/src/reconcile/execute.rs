//! The executor: applies one pod's steps, in order, through the `ContainerRuntime` trait.
//! Pods are executed concurrently by the agent; a failed step ends the pod's work and is
//! reported with the kubelet's reason word, so the status can show it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span};

use super::configs::{self, Dirs, NodeFacts};
use super::dns::{self, DnsError, NodeDns, SYSTEMD_RESOLVED_UPSTREAM};
use super::env_file::{EnvFileError, EnvFiles};
use super::hooks::{Hook, HookTarget, MINIMUM_GRACE};
use super::hostname::{self, FqdnTooLong};
use super::hosts::Hosts;
use super::observe::ContainerKind;
use super::plan::{ContainerRef, Instance, PodWork, SandboxTarget, Step, StopReason, container_of};
use super::security::{self, AppArmorRefused, NodePolicy, NonRootRefused};
use super::volumes::{self, VolumeError};
use crate::error_chain::describe;
use crate::events::{ObjectReference, Recorder};
use crate::handler;
use crate::manifest::defaults::{DEFAULT_TERMINATION_MESSAGE_PATH, StaticPod};
use crate::metrics::Metrics;
use crate::model::{Container, LifecycleHandler};
use staticpod_runtime::{
    ContainerRuntime, ImageEnsured, ImageUser, Mount, NeverPull, RuntimeError, SandboxConfig,
};

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
    /// A `fileKeyRef` variable could not be set.
    #[error("CreateContainerConfigError")]
    EnvFile(#[from] EnvFileError),
    /// The pod's resolver file could not be made.
    #[error("CreatePodSandboxError")]
    Dns(#[from] DnsError),
    /// `runAsNonRoot` keeps the container from starting as the user it would run as.
    #[error(transparent)]
    NonRoot(#[from] NonRootRefused),
    /// The container asks for AppArmor on a host without it.
    #[error(transparent)]
    AppArmor(#[from] AppArmorRefused),
    /// The pod's FQDN is too long for its hostname (`setHostnameAsFQDN`).
    #[error("CreatePodSandboxError")]
    Hostname(#[from] FqdnTooLong),
    /// The container's `postStart` hook failed; the container was stopped.
    #[error("PostStartHookError: {message}")]
    PostStartHook {
        /// The kubelet's words for the failure.
        message: String,
    },
    /// Starting one container failed: the status shows the reason on that container alone.
    #[error("container {container:?}")]
    Container {
        /// The container's name.
        container: String,
        /// The sandbox it was started in, when the pod's work found it there (not one this
        /// work made): a failure in a sandbox that is gone since (torn down behind the
        /// agent's back) is not a reason to wait before making a new one.
        sandbox: Option<String>,
        /// Why.
        #[source]
        source: Box<WorkError>,
    },
}

impl WorkError {
    /// The kubelet's word for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            WorkError::Runtime { reason, .. } => reason,
            WorkError::Volume(_) | WorkError::EnvFile(_) | WorkError::NonRoot(_) => {
                "CreateContainerConfigError"
            }
            WorkError::PostStartHook { .. } => "PostStartHookError",
            WorkError::Dns(_) | WorkError::Hostname(_) => "CreatePodSandboxError",
            WorkError::AppArmor(_) => "AppArmor",
            WorkError::Container { source, .. } => source.reason(),
        }
    }

    /// The container whose start failed and the sandbox it was started in, when the
    /// failure was one container's.
    pub fn container(&self) -> Option<(&str, Option<&str>)> {
        match self {
            WorkError::Container {
                container, sandbox, ..
            } => Some((container, sandbox.as_deref())),
            _ => None,
        }
    }

    /// The error as a status message tells it: a container's own failure without the
    /// container's name (the status is that container's), as the kubelet's messages read.
    pub fn as_shown(&self) -> &WorkError {
        match self {
            WorkError::Container { source, .. } => source,
            other => other,
        }
    }

    /// True when the runtime itself is unreachable.
    pub fn is_unavailable(&self) -> bool {
        match self {
            WorkError::Runtime { source, .. } => source.is_unavailable(),
            WorkError::Container { source, .. } => source.is_unavailable(),
            _ => false,
        }
    }
}

/// Where the kubelet-managed hosts file is mounted, and the node's own.
const ETC_HOSTS: &str = "/etc/hosts";
/// Where the pod's resolver file is mounted.
const ETC_RESOLV_CONF: &str = "/etc/resolv.conf";

/// How long a `postStart` hook may run: the kubelet sets no limit; this one only keeps a
/// wedged hook from holding the pod's work forever.
const POST_START_LIMIT: Duration = Duration::from_secs(24 * 3600);

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
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    policy: NodePolicy,
    dns: NodeDns,
}

impl Executor {
    /// An executor for `runtime`, keeping pod files in `dirs`, telling what it does as the
    /// kubelet's events through `recorder` and counting it in `metrics`.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        dirs: Dirs,
        host_ip: String,
        recorder: Recorder,
        metrics: Arc<Metrics>,
    ) -> Self {
        Executor {
            runtime,
            dirs,
            host_ip,
            recorder,
            metrics,
            http: handler::client(),
            policy: NodePolicy::default(),
            dns: NodeDns::default(),
        }
    }

    /// The same executor, deciding seccomp profiles and OOM scores by `policy`.
    pub fn with_policy(mut self, policy: NodePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The same executor, making the pods' resolver files from `dns`.
    pub fn with_dns(mut self, dns: NodeDns) -> Self {
        self.dns = dns;
        self
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
                        address,
                        grace,
                        forget,
                    } => {
                        let object =
                            ObjectReference::pod(&work.key.namespace, &work.key.name, &uid);
                        let address = address.as_deref();
                        self.kill_pod(&object, &containers, &sandboxes, address, grace)
                            .await?;
                        if forget {
                            self.metrics.pod_removed(&uid);
                            self.forget(uid).await;
                        }
                    }
                    Step::StopSandbox { id } => self.stop_sandbox(&id).await?,
                    Step::StopContainer {
                        container,
                        address,
                        grace,
                        reason,
                    } => {
                        let pod = reference(desired(&work.pod));
                        let address = address.as_deref();
                        self.stop_container(&pod, &container, address, grace, &reason)
                            .await?
                    }
                    Step::RemoveContainer { id, log } => {
                        self.remove_container(desired(&work.pod), &id, &log).await?
                    }
                    Step::RunSandbox { attempt } => {
                        let pod = desired(&work.pod);
                        let result = self.run_sandbox(pod, attempt).await;
                        self.metrics.pod_started(pod.uid(), result.is_ok());
                        new_sandbox = Some(result?);
                    }
                    Step::StartContainer { instance, sandbox } => {
                        let pod = desired(&work.pod);
                        let existing = matches!(sandbox, SandboxTarget::Existing { .. });
                        let target = self.target(pod, sandbox, new_sandbox.as_ref()).await?;
                        let result = self.start_container(pod, &instance, &target).await;
                        let init = instance.kind == ContainerKind::Init;
                        let error = result.as_ref().err().map(WorkError::reason);
                        self.metrics.container_started(init, error);
                        result.map_err(|source| WorkError::Container {
                            container: container_of(pod, instance.kind, instance.index)
                                .name
                                .clone(),
                            sandbox: existing.then(|| target.id.clone()),
                            source: Box::new(source),
                        })?;
                    }
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Stops the pod's containers as the kubelet's termination ordering does, all within
    /// `grace` from now: every `preStop` hook at once; every container but the native
    /// sidecars stopped as soon as its own hook is done; then the sidecars, the last declared
    /// first, each once the one after it has stopped, and all that are left at once when
    /// the grace is over (each given at least 2 s). Unlike the kubelet, a sidecar waits for
    /// every hook, not only its own. Then the sandboxes stop, and everything is removed.
    async fn kill_pod(
        &self,
        pod: &ObjectReference,
        containers: &[ContainerRef],
        sandboxes: &[String],
        address: Option<&str>,
        grace: Duration,
    ) -> Result<(), WorkError> {
        info!(uid = %pod.uid, "killing pod (grace {}s)", grace.as_secs());
        for container in containers {
            let object = pod.container(container.kind == ContainerKind::Init, &container.name);
            let message = format!("Stopping container {}", container.name);
            self.recorder.normal(&object, "Killing", &message);
        }
        let deadline = Instant::now() + grace;
        let (mut sidecars, others): (Vec<&ContainerRef>, Vec<&ContainerRef>) =
            containers.iter().partition(|c| c.sidecar.is_some());
        let others = join_all(
            others
                .into_iter()
                .map(|c| self.stop_gracefully(pod, c, address, deadline)),
        );
        let hooks = join_all(
            sidecars
                .iter()
                .map(|c| self.run_pre_stop(pod, c, address, deadline)),
        );
        let (stopped, _) = tokio::join!(others, hooks);
        first_error(stopped).map_err(at("KillContainerError"))?;
        // The last declared first; every instance of one sidecar together.
        sidecars.sort_by_key(|c| std::cmp::Reverse(c.sidecar));
        let mut rest = sidecars.as_slice();
        while let Some(first) = rest.first() {
            let turn = if Instant::now() < deadline {
                rest.iter()
                    .take_while(|c| c.sidecar == first.sidecar)
                    .count()
            } else {
                rest.len()
            };
            let (now, later) = rest.split_at(turn);
            let stops = now.iter().map(|c| self.stop_by(c, deadline));
            first_error(join_all(stops).await).map_err(at("KillContainerError"))?;
            rest = later;
        }
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

    /// Stops a container whose probe failed (the restart policy then applies), or a sidecar
    /// of a completed pod.
    async fn stop_container(
        &self,
        pod: &ObjectReference,
        container: &ContainerRef,
        address: Option<&str>,
        grace: Duration,
        reason: &StopReason,
    ) -> Result<(), WorkError> {
        let name = &container.name;
        let message = match reason {
            StopReason::ProbeFailed(why) => {
                info!(container = %name, "{why}; restarting the container");
                // `Liveness probe failed: ...` or `Startup probe failed: ...`.
                let probe = why.split(' ').next().unwrap_or_default().to_lowercase();
                format!("Container {name} failed {probe} probe, will be restarted")
            }
            StopReason::PodCompleted => {
                info!(container = %name, "the app containers have finished; stopping the sidecar");
                format!("Stopping container {name}")
            }
        };
        let object = pod.container(container.kind == ContainerKind::Init, name);
        self.recorder.normal(&object, "Killing", &message);
        self.stop_gracefully(pod, container, address, Instant::now() + grace)
            .await
            .map_err(at("KillContainerError"))
    }

    /// Runs the `preStop` hook of `container` (when it runs and has one) until `deadline`,
    /// then stops it with what is left, never less than the kubelet's 2 s.
    async fn stop_gracefully(
        &self,
        pod: &ObjectReference,
        container: &ContainerRef,
        address: Option<&str>,
        deadline: Instant,
    ) -> Result<(), RuntimeError> {
        self.run_pre_stop(pod, container, address, deadline).await;
        self.stop_by(container, deadline).await
    }

    /// Runs the `preStop` hook of `container`, when it runs and has one, until `deadline`;
    /// a hook that fails is a `FailedPreStopHook` warning, and the stop goes on.
    async fn run_pre_stop(
        &self,
        pod: &ObjectReference,
        container: &ContainerRef,
        address: Option<&str>,
        deadline: Instant,
    ) {
        let (true, Some(hook)) = (container.running, &container.pre_stop) else {
            return;
        };
        let target = HookTarget {
            container_id: &container.id,
            name: &container.name,
            pod: &pod.name,
            address: address.unwrap_or(&self.host_ip),
        };
        let grace = deadline.saturating_duration_since(Instant::now());
        if let Err(message) = hook.run(&*self.runtime, &self.http, target, grace).await {
            let object = pod.container(container.kind == ContainerKind::Init, &container.name);
            self.recorder
                .warning(&object, "FailedPreStopHook", &message);
        }
    }

    /// Stops `container` with the grace left until `deadline`, never less than the kubelet's
    /// 2 s.
    async fn stop_by(
        &self,
        container: &ContainerRef,
        deadline: Instant,
    ) -> Result<(), RuntimeError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.runtime
            .stop_container(&container.id, left.max(MINIMUM_GRACE))
            .await
    }

    /// Removes an old, exited instance of a container, then its log file `log` and the
    /// files rotated from it, as the kubelet's container GC removes `<log>*`: the runtime
    /// leaves the log files it was told to write.
    async fn remove_container(
        &self,
        pod: &StaticPod,
        id: &str,
        log: &Path,
    ) -> Result<(), WorkError> {
        self.runtime
            .remove_container(id)
            .await
            .map_err(at("KillContainerError"))?;
        let log = configs::log_dir(&self.dirs.pod_logs, pod).join(log);
        tokio::task::spawn_blocking(move || remove_log_files(&log))
            .await
            .unwrap_or_else(|join| tracing::warn!(%join, "cannot remove a container's logs"));
        Ok(())
    }

    /// Creates the pod's log directory and runs its sandbox.
    async fn run_sandbox(&self, pod: &StaticPod, attempt: u32) -> Result<Target, WorkError> {
        let object = reference(pod);
        let config =
            configs::sandbox_config(pod, attempt, &self.dirs, &self.policy).map_err(|refused| {
                let message = format!("Failed to create pod sandbox: {refused}");
                self.recorder
                    .warning(&object, "FailedCreatePodSandBox", &message);
                WorkError::Hostname(refused)
            })?;
        let log_directory = config.log_directory.clone();
        blocking(move || {
            std::fs::create_dir_all(&log_directory).map_err(|source| VolumeError::Create {
                path: log_directory,
                source,
            })
        })
        .await?;
        if let Err(error) = self.write_resolv_conf(pod).await {
            let message = format!("Failed to create pod sandbox: {}", describe(&error));
            self.recorder
                .warning(&object, "FailedCreatePodSandBox", &message);
            return Err(error);
        }
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
    ) -> Result<Target, WorkError> {
        Ok(match sandbox {
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
                config: configs::sandbox_config(pod, 0, &self.dirs, &self.policy)?,
                ip,
            },
        })
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
        let object =
            reference(pod).container(instance.kind == ContainerKind::Init, &container.name);
        self.verify_apparmor(pod, container, &object)?;
        let pod_ip = target.ip.as_deref().unwrap_or(&self.host_ip);
        let node = NodeFacts {
            root_dir: &self.dirs.root,
            host_ip: &self.host_ip,
            pod_ip,
            policy: &self.policy,
        };
        let refused = |message: &dyn std::fmt::Display| {
            self.recorder
                .warning(&object, "Failed", &format!("Error: {message}"));
        };
        let env = self
            .container_env(pod, container, &node)
            .await
            .inspect_err(|err| refused(err))?;
        let requests = configs::mount_requests(pod, container, &env, &self.dirs.root, &self.policy)
            .inspect_err(|err| refused(err))?;
        let (root, uid, name) = (&self.dirs.root, pod.uid(), &container.name);
        let log = configs::termination_log(root, uid, name, instance.attempt);
        // The instance two before this one is no longer kept: its message is not needed.
        let stale = (instance.attempt >= 2)
            .then(|| configs::termination_log(root, uid, name, instance.attempt - 2));
        let message_path = container
            .termination_message_path
            .clone()
            .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.to_string());
        // The kubelet manages /etc/hosts, unless the container mounts its own.
        let hosts = (!container
            .volume_mounts
            .iter()
            .any(|m| m.mount_path == ETC_HOSTS))
        .then(|| self.hosts(pod, target));
        let node_hosts = Path::new(ETC_HOSTS);
        let hosts_file = configs::hosts_file(root, uid);
        let resolv_file = configs::resolv_conf_file(root, uid);
        let mounts_resolv_conf = container
            .volume_mounts
            .iter()
            .any(|m| m.mount_path == ETC_RESOLV_CONF);
        // A sandbox made before staticpod wrote resolver files has none yet.
        if !mounts_resolv_conf && !blocking(exists(resolv_file.clone())).await? {
            self.write_resolv_conf(pod).await?;
        }
        let mounts = blocking(move || {
            let mut mounts = volumes::prepare(&requests)?;
            volumes::termination_log(&log, stale.as_deref())?;
            mounts.push(Mount {
                host_path: log,
                container_path: message_path,
                read_only: false,
                propagation: Default::default(),
            });
            if let Some(hosts) = hosts {
                volumes::write_file(&hosts_file, &hosts.text(node_hosts)?)?;
                mounts.push(Mount {
                    host_path: hosts_file,
                    container_path: ETC_HOSTS.to_string(),
                    read_only: false,
                    propagation: Default::default(),
                });
            }
            if !mounts_resolv_conf {
                mounts.push(Mount {
                    host_path: resolv_file,
                    container_path: ETC_RESOLV_CONF.to_string(),
                    read_only: false,
                    propagation: Default::default(),
                });
            }
            Ok::<_, VolumeError>(mounts)
        })
        .await?;
        let config = configs::container_config(pod, instance, container, mounts, env, &node);
        self.ensure_image(&object, container).await?;
        self.verify_run_as_non_root(pod, container, &object).await?;
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
        if let Some(handler) = container
            .lifecycle
            .as_ref()
            .and_then(|l| l.post_start.as_ref())
        {
            let address = target.ip.as_deref().unwrap_or(&self.host_ip);
            self.post_start(pod, container, handler, &id, address, &object)
                .await?;
        }
        info!(container = %container.name, attempt = instance.attempt, id = %id, "container started");
        Ok(())
    }

    /// `container`'s environment, with the env files its `fileKeyRef`s name read now.
    async fn container_env(
        &self,
        pod: &StaticPod,
        container: &Container,
        node: &NodeFacts<'_>,
    ) -> Result<Vec<(String, String)>, EnvFileError> {
        let wants_files = container.env.iter().any(|var| {
            var.value_from
                .as_ref()
                .is_some_and(|source| source.file_key_ref.is_some())
        });
        let files = if wants_files {
            let (root, uid) = (self.dirs.root.clone(), pod.uid().to_owned());
            let container = container.clone();
            off_runtime(move || EnvFiles::read(&root, &uid, &container)).await?
        } else {
            EnvFiles::default()
        };
        configs::resolve_env(pod, container, node, &files)
    }

    /// Refuses `container` when `runAsNonRoot` forbids the user it would run as (its
    /// `runAsUser`, else its image's), as the kubelet does before creating it.
    async fn verify_run_as_non_root(
        &self,
        pod: &StaticPod,
        container: &Container,
        object: &ObjectReference,
    ) -> Result<(), WorkError> {
        let image_user = if security::needs_image_user(pod, container) {
            self.runtime
                .image_user(&container.image)
                .await
                .map_err(at("CreateContainerConfigError"))?
        } else {
            ImageUser::default()
        };
        security::verify_run_as_non_root(pod, container, &image_user).map_err(|refused| {
            self.recorder
                .warning(object, "Failed", &format!("Error: {refused}"));
            WorkError::NonRoot(refused)
        })
    }

    /// Refuses `container` when it asks for AppArmor on a host without it, as the kubelet's
    /// admission does (its event's reason is `AppArmor`).
    fn verify_apparmor(
        &self,
        pod: &StaticPod,
        container: &Container,
        object: &ObjectReference,
    ) -> Result<(), WorkError> {
        security::verify_apparmor(pod, container, self.policy.apparmor_enabled).map_err(|refused| {
            self.recorder
                .warning(object, "AppArmor", &refused.to_string());
            WorkError::AppArmor(refused)
        })
    }

    /// Runs `container`'s `postStart` hook in instance `id`; when it fails, the container is
    /// stopped (`FailedPostStartHook`), and its restart policy then applies.
    async fn post_start(
        &self,
        pod: &StaticPod,
        container: &Container,
        handler: &LifecycleHandler,
        id: &str,
        address: &str,
        object: &ObjectReference,
    ) -> Result<(), WorkError> {
        let target = HookTarget {
            container_id: id,
            name: &container.name,
            pod: pod.full_name(),
            address,
        };
        let result = match Hook::of(container, handler) {
            Ok(hook) => {
                let runtime = &*self.runtime;
                hook.run(runtime, &self.http, target, POST_START_LIMIT)
                    .await
            }
            Err(why) => Err(why),
        };
        let Err(message) = result else {
            return Ok(());
        };
        self.recorder
            .warning(object, "FailedPostStartHook", &message);
        let grace = pod.grace_period().max(MINIMUM_GRACE);
        self.runtime
            .stop_container(id, grace)
            .await
            .map_err(at("KillContainerError"))?;
        Err(WorkError::PostStartHook { message })
    }

    /// Writes the pod's resolver file, `pods/<uid>/etc-resolv.conf`, from its DNS policy and
    /// the node's settings, telling the pod's events what had to be changed to make it.
    async fn write_resolv_conf(&self, pod: &StaticPod) -> Result<(), WorkError> {
        let node = self.dns.clone();
        let own_network = !pod.pod.spec.host_network;
        let host =
            blocking(move || node.host_config(own_network, Path::new(SYSTEMD_RESOLVED_UPSTREAM)))
                .await?;
        let node_ipv6 = self.host_ip.contains(':');
        let formed = dns::pod_dns(pod, &self.dns, host, node_ipv6);
        let object = reference(pod);
        for warning in &formed.warnings {
            self.recorder
                .warning(&object, warning.reason, &warning.message);
        }
        let path = configs::resolv_conf_file(&self.dirs.root, pod.uid());
        let text = formed.conf.text();
        blocking(move || volumes::write_file(&path, &text)).await
    }

    /// What the pod's hosts file holds: the pod's IP and hostname for a pod with its own
    /// network (in `target`), the node's own file for a host-network pod; the aliases after.
    fn hosts(&self, pod: &StaticPod, target: &Target) -> Hosts {
        let spec = &pod.pod.spec;
        let aliases = spec.host_aliases.clone();
        if spec.host_network {
            return Hosts::HostNetwork { aliases };
        }
        let names = hostname::of(pod, &self.policy.cluster_domain);
        Hosts::Pod {
            ip: target.ip.clone().unwrap_or_else(|| self.host_ip.clone()),
            fqdn: names.fqdn(),
            hostname: names.hostname,
            aliases,
        }
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

    /// The IP of a sandbox just created, when the pod has its own network (its hosts file
    /// names it) or a container asks for it.
    async fn sandbox_ip(&self, pod: &StaticPod, id: &str) -> Option<String> {
        // The hosts file names the pod's IP; so may an environment variable.
        let wants_ip = !pod.pod.spec.host_network
            || pod
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
                            .is_some_and(|f| f.field_path.starts_with("status.podIP"))
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
async fn blocking<T: Send + 'static, E: Into<WorkError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, WorkError> {
    off_runtime(work).await.map_err(Into::into)
}

/// `work`'s answer, run on tokio's blocking threads; its panic is the caller's.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

/// Whether `path` exists, as blocking work.
fn exists(path: PathBuf) -> impl FnOnce() -> Result<bool, VolumeError> {
    move || {
        path.try_exists()
            .map_err(|source| VolumeError::Read { path, source })
    }
}

/// Removes the pod directory (emptyDir volumes, their tmpfs unmounted) and the log directories of pod `uid`.
fn remove_pod_files(dirs: &Dirs, uid: &str) {
    let pod_dir = configs::pod_dir(&dirs.root, uid);
    // A Memory emptyDir is a tmpfs on its directory: unmounted first, as the kubelet does.
    let empty_dirs = pod_dir.join("volumes").join(configs::EMPTY_DIR_PLUGIN);
    for error in volumes::unmount_tmpfs_volumes(&empty_dirs) {
        tracing::warn!(error = %describe(&error), "cannot remove a Memory emptyDir");
    }
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

/// Removes `log` and the files rotated from it (`<log>.<timestamp>`, `.gz`, `.tmp`).
fn remove_log_files(log: &Path) {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let rotated = format!("{name}.");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if (file == name || file.starts_with(&rotated))
            && let Err(error) = std::fs::remove_file(entry.path())
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %entry.path().display(), %error, "cannot remove a container's log");
        }
    }
}

/// The event reference of a desired pod.
fn reference(pod: &StaticPod) -> ObjectReference {
    ObjectReference::pod(pod.namespace(), pod.full_name(), pod.uid())
}

fn desired(pod: &Option<Arc<StaticPod>>) -> &StaticPod {
    pod.as_deref()
        .expect("the planner only creates objects for desired pods")
}

fn first_error(results: Vec<Result<(), RuntimeError>>) -> Result<(), RuntimeError> {
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_instances_log_goes_with_its_rotated_files_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "0.log",
            "0.log.20261202-051500",
            "0.log.20261202-051400.gz",
            "0.log.20261202-051600.tmp",
            "1.log",
            "10.log",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        remove_log_files(&dir.path().join("0.log"));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["1.log", "10.log"]);
        remove_log_files(&dir.path().join("gone").join("0.log"));
    }
}

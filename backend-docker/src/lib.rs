//! staticpod's Docker backend: [`DockerRuntime`] implements the core's
//! [`ContainerRuntime`] on Docker Engine through bollard, the way the kubelet's dockershim
//! did: a pod's sandbox is a pause container holding the pod's namespaces, each container
//! joins it, and every object carries the labels the agent rebuilds its state from.

mod container;
mod convert;
pub mod error;
mod events;
mod exec;
mod image;
pub mod labels;
mod logs;
mod sandbox;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummaryStateEnum, HostConfigLogConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::TryStreamExt;
use std::sync::Arc;

use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::inspect::InspectCache;
use staticpod_runtime::labels::{MANAGED_BY, MANAGED_BY_VALUE, is_managed};
use staticpod_runtime::logs::{DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, LogOptions, LogStream};
use staticpod_runtime::naming;
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ExecResult, ImageEnsured, ImageUser,
    PullPolicy, RuntimeError, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo, Seccomp,
    grace_seconds,
};
use tokio::sync::mpsc;

use crate::container::SeccompOption;
use crate::error::{
    Call, DockerBackendError, DockerError, is_connection_error, is_not_found, status_code,
    unshareable_sandbox,
};
use crate::labels::{DOCKER_TYPE, DOCKER_TYPE_CONTAINER, DOCKER_TYPE_SANDBOX};

pub use crate::sandbox::SANDBOX_CONTAINER_NAME;

/// The endpoint used when none is given, as the kubelet's Docker integration defaulted.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// How long a request may wait for Docker's answer, on top of any grace period it includes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Grace period for a pause container: it has nothing to save and exits on SIGTERM
/// (dockershim's `defaultSandboxGracePeriod`).
const SANDBOX_GRACE: Duration = Duration::from_secs(10);

/// A [`ContainerRuntime`] on Docker Engine.
#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
    endpoint: String,
    pause_image: String,
    /// The json-file driver's rotation of every container's log.
    log: HostConfigLogConfig,
    /// Where the daemon keeps each container's directory (`<DockerRootDir>/containers`),
    /// for a daemon on this host (a unix socket); `None` for a remote one.
    containers_dir: Option<PathBuf>,
    /// What the inspections of pause containers said, reused while their listed state is
    /// unchanged: the few fields the agent reads, not bollard's whole answer (kilobytes of
    /// configuration a container, for every container of the node).
    sandboxes: Arc<InspectCache<SandboxInfo>>,
    /// What the inspections of app containers said, likewise.
    containers: Arc<InspectCache<ContainerInfo>>,
}

impl fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("endpoint", &self.endpoint)
            .field("pause_image", &self.pause_image)
            .finish_non_exhaustive()
    }
}

impl DockerRuntime {
    /// Connects to Docker at `endpoint` (its unix socket or a TCP address) and negotiates the
    /// API version, since bollard's default is newer than older daemons speak (Docker 20.10
    /// speaks 1.41). `pause_image` is the image of every pod's sandbox container
    /// (`--pod-infra-container-image`).
    ///
    /// A daemon that does not answer is [`RuntimeError::Unavailable`] naming `endpoint`.
    pub async fn connect(endpoint: &Endpoint, pause_image: String) -> Result<Self, RuntimeError> {
        let name = endpoint.to_string();
        let timeout = REQUEST_TIMEOUT.as_secs();
        let docker = match endpoint {
            Endpoint::Unix(path) => {
                Docker::connect_with_unix(&path.to_string_lossy(), timeout, API_DEFAULT_VERSION)
            }
            Endpoint::Tcp(_) => Docker::connect_with_http(&name, timeout, API_DEFAULT_VERSION),
        }
        .map_err(|err| RuntimeError::Unavailable {
            endpoint: name.clone(),
            source: Box::new(err),
        })?;
        let docker = docker.negotiate_version().await.map_err(|err| {
            Call::new(&name, "negotiate the API version with", "daemon", &name).error(err)
        })?;
        tracing::debug!(endpoint = %name, api_version = %docker.client_version(), "connected to Docker");
        let containers_dir = match endpoint {
            Endpoint::Unix(_) => containers_dir(&docker, &name).await,
            Endpoint::Tcp(_) => None,
        };
        Ok(Self {
            docker,
            endpoint: name,
            pause_image,
            log: container::log_config(DEFAULT_MAX_SIZE, DEFAULT_MAX_FILES),
            containers_dir,
            sandboxes: Arc::default(),
            containers: Arc::default(),
        })
    }

    /// Rotates every container's log at `max_size` bytes into at most `max_files` files
    /// (`containerLogMaxSize`, `containerLogMaxFiles`) with Docker's json-file driver,
    /// instead of the kubelet's defaults (10 MiB, 5 files).
    pub fn with_log_limits(mut self, max_size: u64, max_files: u32) -> Self {
        self.log = container::log_config(max_size, max_files);
        self
    }

    /// The endpoint this runtime talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The image of every sandbox's pause container.
    pub fn pause_image(&self) -> &str {
        &self.pause_image
    }

    fn call<'a>(&'a self, verb: &'static str, kind: &'static str, id: &'a str) -> Call<'a> {
        Call::new(&self.endpoint, verb, kind, id)
    }

    /// `seccomp` as Docker takes it: a `Localhost` profile's file is read, and one that
    /// cannot be read refuses the creation of `name`.
    async fn seccomp(&self, seccomp: &Seccomp, name: &str) -> RuntimeResult<SeccompOption> {
        Ok(match seccomp {
            Seccomp::Unconfined => SeccompOption::Unconfined,
            Seccomp::RuntimeDefault => SeccompOption::RuntimeDefault,
            Seccomp::Localhost(path) => match tokio::fs::read_to_string(path).await {
                Ok(json) => SeccompOption::Profile(json),
                Err(source) => {
                    return Err(RuntimeError::Rejected {
                        operation: format!("create {name}"),
                        source: Box::new(SeccompProfileUnreadable {
                            path: path.clone(),
                            source,
                        }),
                    });
                }
            },
        })
    }

    /// Pulls `image`, consuming Docker's progress stream; an error item fails the pull.
    async fn pull(&self, image: &str) -> RuntimeResult<()> {
        let (repository, tag) = image::pull_target(image);
        tracing::info!(image, "pulling image");
        let options = CreateImageOptionsBuilder::new()
            .from_image(repository)
            .tag(tag)
            .build();
        self.docker
            .create_image(Some(options), None, None)
            .try_for_each(|_progress| async { Ok(()) })
            .await
            .map_err(|err| error::pull_error(&self.endpoint, image, err))
    }

    /// Creates a container named `name`. A leftover of ours holding the name (the agent died
    /// between create and record) is removed first; a container we did not create is left
    /// alone and the create is refused.
    async fn create_named(
        &self,
        name: &str,
        kind: &'static str,
        body: ContainerCreateBody,
    ) -> RuntimeResult<String> {
        let call = self.call("create", kind, name);
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let created = match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Err(err) if status_code(&err) == Some(409) => {
                self.remove_leftover(name, call).await?;
                self.docker.create_container(Some(options), body).await
            }
            other => other,
        }
        .map_err(|err| call.error(err))?;
        for warning in &created.warnings {
            tracing::warn!(name, warning, "Docker warning on create");
        }
        Ok(created.id)
    }

    async fn remove_leftover(&self, name: &str, call: Call<'_>) -> RuntimeResult<()> {
        let existing = match self.docker.inspect_container(name, None).await {
            Ok(existing) => existing,
            Err(err) if is_not_found(&err) => return Ok(()),
            Err(err) => return Err(self.call("inspect", call.kind, name).error(err)),
        };
        let id = existing.id.clone().unwrap_or_default();
        let ours = is_managed(existing.config.as_ref().and_then(|c| c.labels.as_ref()));
        if !ours {
            return Err(
                call.rejected(DockerBackendError::NameTakenByForeignContainer {
                    name: name.to_owned(),
                    id,
                }),
            );
        }
        tracing::info!(name, id, "removing a leftover container holding the name");
        self.remove(&id, call.kind).await
    }

    async fn start(&self, id: &str, kind: &'static str) -> RuntimeResult<()> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|err| self.call("start", kind, id).error(err))
    }

    /// Stops `id` with SIGTERM, then SIGKILL after `grace` (rounded up to whole seconds,
    /// Docker's unit). Already stopped (304) or gone (404) is success.
    async fn stop(&self, id: &str, kind: &'static str, grace: Duration) -> RuntimeResult<()> {
        let seconds = grace_seconds(grace);
        let options = StopContainerOptionsBuilder::new()
            .t(i32::try_from(seconds).unwrap_or(i32::MAX))
            .build();
        // Docker answers only once the container is down, so the request may take the whole
        // grace period on top of the usual wait.
        let docker = self
            .docker
            .clone()
            .with_timeout(REQUEST_TIMEOUT + Duration::from_secs(seconds));
        match docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(self.call("stop", kind, id).error(err)),
        }
    }

    /// Removes `id` with its anonymous volumes, killing it if still running. Gone already, or
    /// being removed by someone else, is success.
    async fn remove(&self, id: &str, kind: &'static str) -> RuntimeResult<()> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(err) => Err(self.call("remove", kind, id).error(err)),
        }
    }

    /// Every managed container whose [`DOCKER_TYPE`] is `docker_type`, as `convert` reads
    /// its inspection (kept in `cache`). Containers removed between the list and the
    /// inspect are left out.
    async fn inspect_managed<T: Clone>(
        &self,
        docker_type: &str,
        kind: &'static str,
        cache: &InspectCache<T>,
        convert: fn(&ContainerInspectResponse) -> T,
    ) -> RuntimeResult<Vec<T>> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{MANAGED_BY}={MANAGED_BY_VALUE}"),
                format!("{DOCKER_TYPE}={docker_type}"),
            ],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|err| self.call("list", kind, "(all managed)").error(err))?;
        let listed: Vec<(String, String)> = summaries
            .into_iter()
            .filter_map(|s| {
                // A container whose start failed stays "created" while its inspection gains
                // the error and exit code: never reuse a created container's inspection.
                let state = match s.state {
                    Some(ContainerSummaryStateEnum::CREATED) | None => String::new(),
                    Some(state) => state.to_string(),
                };
                Some((s.id?, state))
            })
            .collect();
        cache
            .inspect_changed(&self.endpoint, kind, listed, |id| async move {
                let inspected = self.docker.inspect_container(&id, None).await;
                inspected
                    .map(|inspect| convert(&inspect))
                    .map_err(DockerError::from)
            })
            .await
    }
}

/// `<DockerRootDir>/containers` of the daemon at `endpoint`, or `None` (told) when its info
/// does not say.
async fn containers_dir(docker: &Docker, endpoint: &str) -> Option<PathBuf> {
    match docker.info().await {
        Ok(info) => info
            .docker_root_dir
            .map(|root| PathBuf::from(root).join("containers")),
        Err(error) => {
            tracing::warn!(endpoint, %error, "cannot read the daemon's root directory; container logs are not linked at the kubelet's path");
            None
        }
    }
}

/// A `Localhost` seccomp profile that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the seccomp profile {}", path.display())]
struct SeccompProfileUnreadable {
    path: std::path::PathBuf,
    #[source]
    source: std::io::Error,
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        let version = self
            .docker
            .version()
            .await
            .map_err(|err| self.call("query", "version of", &self.endpoint).error(err))?;
        Ok(RuntimeVersion {
            runtime_name: "docker".to_owned(),
            runtime_version: version.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
        })
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        let present = match self.docker.inspect_image(image).await {
            Ok(_) => true,
            Err(err) if is_not_found(&err) => false,
            Err(err) if is_connection_error(&err) => {
                return Err(self.call("inspect", "image", image).error(err));
            }
            // Docker answers 400 or 500 for references it cannot parse.
            Err(err) => return Err(error::pull_error(&self.endpoint, image, err)),
        };
        if !policy.must_pull(image, present)? {
            return Ok(ImageEnsured::Present);
        }
        self.pull(image).await?;
        Ok(ImageEnsured::Pulled)
    }

    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser> {
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|err| self.call("inspect", "image", image).error(err))?;
        let user = inspected.config.and_then(|config| config.user);
        Ok(ImageUser::parse(user.as_deref().unwrap_or_default()))
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        let name = naming::sandbox_name(config);
        if config.user_namespace {
            // Docker's user namespace is the daemon's (userns-remap), for every container.
            return Err(RuntimeError::no_user_namespace(
                &name,
                "Docker gives no container (its user namespace is the daemon's, userns-remap)",
            ));
        }
        self.ensure_image(&self.pause_image, PullPolicy::IfNotPresent)
            .await?;
        let seccomp = self.seccomp(&config.seccomp, &name).await?;
        let body = sandbox::sandbox_body(config, &self.pause_image, &seccomp);
        let id = self.create_named(&name, "sandbox", body).await?;
        if let Err(err) = self.start(&id, "sandbox").await {
            // A sandbox that never started (a hostPort already taken, say) is of no use;
            // leaving it would only hold the name.
            if let Err(cleanup) = self.remove(&id, "sandbox").await {
                tracing::warn!(name, id, error = %cleanup, "could not remove a sandbox that failed to start");
            }
            return Err(err);
        }
        tracing::debug!(name, id, "sandbox running");
        Ok(id)
    }

    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.stop(sandbox_id, "sandbox", SANDBOX_GRACE).await
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        self.remove(sandbox_id, "sandbox").await
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        let name = naming::container_name(config, sandbox);
        let seccomp = self.seccomp(&config.security.seccomp, &name).await?;
        let body =
            container::container_body(config, sandbox, sandbox_id, &seccomp, self.log.clone());
        let id = self.create_named(&name, "container", body).await?;
        if let Some(dir) = &self.containers_dir {
            let target = dir.join(&id).join(format!("{id}-json.log"));
            let link = sandbox.log_directory.join(&config.log_path);
            let linked = tokio::task::spawn_blocking(move || logs::link(&target, &link))
                .await
                .unwrap_or_else(|join| Err(std::io::Error::other(join)));
            if let Err(error) = linked {
                tracing::warn!(container = %name, %error, "cannot link the container's log at the kubelet's path; Docker still serves it");
            }
        }
        Ok(id)
    }

    /// Starts the container; when it cannot join its sandbox's IPC namespace because the
    /// sandbox has none to share, the sandbox is stopped too, so that the next pass reads it
    /// as not ready and gives the pod a new one, instead of retrying the start forever.
    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        let Err(err) = self.docker.start_container(container_id, None).await else {
            return Ok(());
        };
        if let Some(sandbox) = unshareable_sandbox(&err) {
            tracing::warn!(
                container = container_id,
                sandbox,
                "the sandbox's IPC namespace cannot be joined (no /dev/shm to share); stopping the sandbox so that the pod gets a new one"
            );
            if let Err(error) = self.stop(sandbox, "sandbox", Duration::ZERO).await {
                tracing::warn!(sandbox, %error, "could not stop the unusable sandbox");
            }
        }
        Err(self.call("start", "container", container_id).error(err))
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        self.stop(container_id, "container", grace).await
    }

    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        self.remove(container_id, "container").await
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        let cache = &self.sandboxes;
        self.inspect_managed(DOCKER_TYPE_SANDBOX, "sandbox", cache, convert::sandbox_info)
            .await
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        let cache = &self.containers;
        self.inspect_managed(
            DOCKER_TYPE_CONTAINER,
            "container",
            cache,
            convert::container_info,
        )
        .await
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        self.exec(container_id, command, timeout).await
    }

    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        Ok(events::spawn_watch(
            self.docker.clone(),
            self.endpoint.clone(),
        ))
    }

    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.container_logs(container_id, options).await
    }
}

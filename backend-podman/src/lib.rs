//! staticpod's Podman backend: [`PodmanRuntime`] implements the core's [`ContainerRuntime`]
//! on Podman 4's libpod REST API with Podman's native pods: a pod's sandbox is a Podman pod
//! whose infra container (from the `--pod-infra-container-image`) holds the pod's network,
//! IPC and UTS namespaces, and each of the pod's containers is a Podman container in it.
//! Every object carries the labels the agent rebuilds its state from, and the kubelet's
//! names, so `podman pod ps` and `podman ps --pod` read as on a kubelet node.
//!
//! Most calls go through the `podman-api` crate; the few it gets wrong for us are made
//! directly over the socket (see the `libpod` module).

mod container;
mod convert;
pub mod error;
mod events;
mod exec;
#[cfg(test)]
mod fake_libpod;
mod infra;
mod libpod;
mod log_writers;
mod logs;
mod sandbox;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use podman_api::opts::{
    ContainerDeleteOpts, ContainerListFilter, ContainerListOpts, PodListFilter, PodListOpts,
    PullOpts,
};
use podman_api::{ApiVersion, LATEST_API_VERSION, Podman};
use std::sync::Arc;

use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::inspect::InspectCache;
use staticpod_runtime::labels::{self, MANAGED_BY, MANAGED_BY_VALUE};
use staticpod_runtime::log_rotation::{self, Rotation};
use staticpod_runtime::logs::{LogOptions, LogRotation, LogStream};
use staticpod_runtime::naming;
use staticpod_runtime::{
    BoxError, ContainerConfig, ContainerInfo, ContainerRuntime, ExecResult, ImageEnsured,
    ImageUser, PullPolicy, RuntimeError, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
    grace_seconds,
};
use tokio::sync::mpsc;

use crate::convert::{ContainerInspect, ImageInspect};
use crate::error::{ApiError, Call, PodmanBackendError, pull_error};
use crate::libpod::Libpod;

/// The endpoint used when none is given: the rootful Podman service's socket.
pub const DEFAULT_ENDPOINT: &str = "unix:///run/podman/podman.sock";

/// How long a request may wait for Podman's answer, on top of any grace period it includes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a pull may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Grace period for a pod's stop: its infra container has nothing to save and exits on
/// SIGTERM, and its other containers have been stopped by the agent with their own grace
/// periods before.
const SANDBOX_GRACE: Duration = Duration::from_secs(10);
/// The oldest libpod API this backend is written for.
const MIN_API_MAJOR: usize = 4;

/// A [`ContainerRuntime`] on Podman's libpod API.
#[derive(Clone)]
pub struct PodmanRuntime {
    podman: Podman,
    libpod: Libpod,
    endpoint: String,
    pause_image: String,
    api_version: String,
    /// Inspections of infra containers, reused while their listed state is unchanged.
    sandboxes: Arc<InspectCache<ContainerInspect>>,
    /// Inspections of app containers, likewise.
    containers: Arc<InspectCache<ContainerInspect>>,
    /// The log rotation, when there is one.
    log_rotation: Option<Rotation>,
}

impl fmt::Debug for PodmanRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodmanRuntime")
            .field("endpoint", &self.endpoint)
            .field("pause_image", &self.pause_image)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// Runs `call` with a deadline; no answer by then counts as the service being unreachable.
async fn within<T, E: Into<ApiError>>(
    limit: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(ApiError::TimedOut(limit)),
    }
}

/// The listed state under which an inspection may be reused: none for a `created`
/// container, whose start may fail without its state changing.
fn settled_state(state: Option<String>) -> String {
    state
        .filter(|s| !s.eq_ignore_ascii_case("created"))
        .unwrap_or_default()
}

/// The libpod API version to speak: the service's own, capped at the newest podman-api knows.
/// `None` when the service's is older than [`MIN_API_MAJOR`] or unreadable.
fn api_version_to_use(found: &str) -> Option<ApiVersion> {
    let version: ApiVersion = found.parse().ok()?;
    if version.major() < MIN_API_MAJOR {
        return None;
    }
    Some(if version > LATEST_API_VERSION {
        LATEST_API_VERSION
    } else {
        version
    })
}

impl PodmanRuntime {
    /// Connects to the Podman service at `endpoint` (its unix socket; a TCP endpoint is
    /// refused) and checks the libpod API version it speaks: 4.x is needed. The
    /// version is read from `/libpod/_ping`'s `Libpod-API-Version` header; `/libpod/version`'s
    /// `ApiVersion` is the Docker-compatible API's ("1.41"), not libpod's. `pause_image` is the
    /// image of every pod's infra container (`--pod-infra-container-image`).
    ///
    /// With `log_rotation`, the logs of the running containers under its directory are
    /// rotated, as the kubelet's container log manager does, until the last clone of this
    /// runtime is dropped; a rotation that cannot start is [`RuntimeError::Failed`].
    ///
    /// A service that does not answer is [`RuntimeError::Unavailable`] naming `endpoint`.
    pub async fn connect(
        endpoint: &Endpoint,
        pause_image: String,
        log_rotation: Option<LogRotation>,
    ) -> Result<Self, RuntimeError> {
        let name = endpoint.to_string();
        let socket = endpoint
            .unix_socket("Podman")
            .map_err(|err| RuntimeError::Unavailable {
                endpoint: name.clone(),
                source: Box::new(err),
            })?;
        let endpoint = name.as_str();
        let call = Call::new(endpoint, "ping", "service", endpoint);
        let ping = within(REQUEST_TIMEOUT, Podman::unix(socket).ping())
            .await
            .map_err(|err| call.error(err))?;
        let found = ping.libpod_api_version;
        let Some(version) = api_version_to_use(&found) else {
            let check = Call::new(
                endpoint,
                "check the libpod API version of",
                "service",
                endpoint,
            );
            return Err(check.failed(PodmanBackendError::UnsupportedApiVersion { found }));
        };
        let api_version = version.to_string();
        tracing::debug!(endpoint, libpod_api = %found, speaking = %api_version, "connected to Podman");
        let libpod = Libpod::new(socket, &api_version);
        let log_rotation = log_rotation
            .map(|policy| {
                let writers = log_writers::PodmanLogWriters::new(libpod.clone());
                log_rotation::start(writers, policy)
            })
            .transpose()?;
        Ok(Self {
            podman: Podman::unix_versioned(socket, version),
            libpod,
            endpoint: endpoint.to_owned(),
            pause_image,
            api_version,
            sandboxes: Arc::default(),
            containers: Arc::default(),
            log_rotation,
        })
    }

    /// The endpoint this runtime talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The image of every pod's infra container.
    pub fn pause_image(&self) -> &str {
        &self.pause_image
    }

    fn call<'a>(&'a self, verb: &'static str, kind: &'static str, id: &'a str) -> Call<'a> {
        Call::new(&self.endpoint, verb, kind, id)
    }

    /// Pulls `image`; an error reported in Podman's progress stream fails the pull.
    async fn pull(&self, image: &str) -> RuntimeResult<()> {
        tracing::info!(image, "pulling image");
        let opts = PullOpts::builder().reference(image).quiet(true).build();
        let images = self.podman.images();
        let reports: Vec<_> = within(PULL_TIMEOUT, images.pull(&opts).try_collect())
            .await
            .map_err(|err| pull_error(&self.endpoint, image, err))?;
        if let Some(message) = reports.into_iter().find_map(|report| report.error) {
            return Err(RuntimeError::ImagePull {
                image: image.to_owned(),
                source: Box::new(PodmanBackendError::PullFailed {
                    image: image.to_owned(),
                    message,
                }),
            });
        }
        Ok(())
    }

    /// Creates pod `name`. A leftover of ours holding the name (the agent died between create
    /// and record) is removed first; a pod we did not create is left alone and the create
    /// is refused.
    async fn create_pod(&self, name: &str, config: &SandboxConfig) -> RuntimeResult<String> {
        let call = self.call("create", "sandbox", name);
        let opts = sandbox::pod_create_opts(config, &self.pause_image);
        let pods = self.podman.pods();
        let created = match within(REQUEST_TIMEOUT, pods.create(&opts)).await {
            Err(err) if err.is_name_in_use() => {
                self.remove_leftover_pod(name, call).await?;
                within(REQUEST_TIMEOUT, pods.create(&opts)).await
            }
            other => other,
        }
        .map_err(|err| call.error(err))?;
        Ok(created.id().to_string())
    }

    /// Gives pod `pod_id`'s infra process the sandbox's `oom_score_adj` (see [`infra`]).
    async fn set_infra_oom_score_adj(&self, pod_id: &str, score: i64) -> Result<(), BoxError> {
        let pod = within(REQUEST_TIMEOUT, self.podman.pods().get(pod_id).inspect()).await?;
        let infra_id = pod.infra_container_id.unwrap_or_default();
        let pid = self
            .inspect(&infra_id)
            .await?
            .state
            .map_or(0, |state| state.pid);
        tokio::task::spawn_blocking(move || {
            infra::set_oom_score_adj(Path::new("/proc"), pid, &infra_id, score)
        })
        .await??;
        Ok(())
    }

    async fn remove_leftover_pod(&self, name: &str, call: Call<'_>) -> RuntimeResult<()> {
        let existing = match within(REQUEST_TIMEOUT, self.podman.pods().get(name).inspect()).await {
            Ok(existing) => existing,
            Err(err) if err.is_not_found() => return Ok(()),
            Err(err) => return Err(self.call("inspect", "sandbox", name).error(err)),
        };
        let id = existing.id.clone().unwrap_or_default();
        let ours = labels::is_managed(existing.labels.as_ref());
        if !ours {
            return Err(call.rejected(PodmanBackendError::NameTakenByForeignObject {
                kind: "pod",
                name: name.to_owned(),
                id,
            }));
        }
        tracing::info!(name, id, "removing a leftover pod holding the name");
        self.remove_sandbox(&id).await
    }

    /// Creates container `spec.name`, replacing a leftover of ours that holds the name.
    async fn create_named_container(
        &self,
        spec: &container::ContainerSpec,
    ) -> RuntimeResult<String> {
        #[derive(serde::Deserialize)]
        struct Created {
            #[serde(rename = "Id")]
            id: String,
            #[serde(rename = "Warnings", default)]
            warnings: Option<Vec<String>>,
        }
        let name = spec.name.as_str();
        let call = self.call("create", "container", name);
        let create = || {
            self.libpod
                .post_json::<_, Created>("/containers/create", spec)
        };
        let created = match within(REQUEST_TIMEOUT, create()).await {
            Err(err) if err.is_name_in_use() => {
                self.remove_leftover_container(name, call).await?;
                within(REQUEST_TIMEOUT, create()).await
            }
            other => other,
        }
        .map_err(|err| match err.status() {
            // libpod answers 404 for a missing image or pod; say which was asked for.
            Some(404) => RuntimeError::Rejected {
                operation: format!(
                    "create container {name} from image {} in sandbox {}",
                    spec.image, spec.pod
                ),
                source: Box::new(err),
            },
            _ => call.error(err),
        })?;
        for warning in created.warnings.iter().flatten() {
            tracing::warn!(name, warning, "Podman warning on create");
        }
        Ok(created.id)
    }

    async fn remove_leftover_container(&self, name: &str, call: Call<'_>) -> RuntimeResult<()> {
        let existing = match self.inspect(name).await {
            Ok(existing) => existing,
            Err(err) if err.is_not_found() => return Ok(()),
            Err(err) => return Err(self.call("inspect", "container", name).error(err)),
        };
        let ours = labels::is_managed(existing.config.as_ref().and_then(|c| c.labels.as_ref()));
        if !ours || existing.is_infra {
            return Err(call.rejected(PodmanBackendError::NameTakenByForeignObject {
                kind: "container",
                name: name.to_owned(),
                id: existing.id,
            }));
        }
        tracing::info!(
            name,
            id = existing.id,
            "removing a leftover container holding the name"
        );
        self.remove_container(&existing.id).await
    }

    /// Stops container `id` with SIGTERM, then SIGKILL after `grace` (rounded up to whole
    /// seconds, Podman's unit). Already stopped (304) or gone (404) is success.
    async fn stop(&self, id: &str, kind: &'static str, grace: Duration) -> RuntimeResult<()> {
        let seconds = grace_seconds(grace);
        // Podman answers only once the container is down, so the request may take the whole
        // grace period on top of the usual wait.
        let stopped = within(
            REQUEST_TIMEOUT + Duration::from_secs(seconds),
            self.libpod
                .post(&format!("/containers/{id}/stop?timeout={seconds}")),
        )
        .await;
        match stopped {
            Ok(()) => Ok(()),
            Err(err) if err.is_not_found() || err.is_not_modified() => Ok(()),
            Err(err) => Err(self.call("stop", kind, id).error(err)),
        }
    }

    /// Inspects container `id` (or name) without computing its size.
    async fn inspect(&self, id: &str) -> Result<ContainerInspect, ApiError> {
        within(
            REQUEST_TIMEOUT,
            self.libpod
                .get_json::<ContainerInspect>(&format!("/containers/{id}/json")),
        )
        .await
    }

    /// Inspects each of `listed` (id and listed state), a few at a time, leaving out those
    /// removed meanwhile and reusing `cache`'s inspection of objects whose state is unchanged.
    async fn inspect_all(
        &self,
        cache: &InspectCache<ContainerInspect>,
        listed: Vec<(String, String)>,
        kind: &'static str,
    ) -> RuntimeResult<Vec<ContainerInspect>> {
        cache
            .inspect_changed(&self.endpoint, kind, listed, |id| async move {
                self.inspect(&id).await
            })
            .await
    }

    /// Creates the directory of a container's log file; without it conmon cannot open the
    /// file and the container would not start. On failure the log stays in Podman's own
    /// place. With the rotation on, conmon does not truncate the file: its count of what it
    /// wrote goes on across our rotations' reopens, so it would truncate a current file
    /// part-written.
    async fn prepare_log(&self, spec: &mut container::ContainerSpec, log_file: &Path) {
        if let (Some(log), Some(_)) = (spec.log_configuration.as_mut(), &self.log_rotation) {
            log.size = container::NO_TRUNCATION;
        }
        let Some(dir) = log_file.parent() else {
            return;
        };
        if let Err(err) = tokio::fs::create_dir_all(dir).await {
            tracing::warn!(dir = %dir.display(), %err, "cannot create the container's log directory; Podman keeps the log");
            spec.log_configuration = None;
        }
    }
}

#[async_trait]
impl ContainerRuntime for PodmanRuntime {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        let version = within(REQUEST_TIMEOUT, self.podman.version())
            .await
            .map_err(|err| self.call("query", "version of", &self.endpoint).error(err))?;
        Ok(RuntimeVersion {
            runtime_name: "podman".to_owned(),
            runtime_version: version.version.unwrap_or_default(),
            api_version: self.api_version.clone(),
        })
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        let present = within(REQUEST_TIMEOUT, self.podman.images().get(image).exists())
            .await
            .map_err(|err| pull_error(&self.endpoint, image, err))?;
        if !policy.must_pull(image, present)? {
            return Ok(ImageEnsured::Present);
        }
        self.pull(image).await?;
        Ok(ImageEnsured::Pulled)
    }

    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser> {
        let path = format!("/images/{image}/json");
        let inspected = within(REQUEST_TIMEOUT, self.libpod.get_json::<ImageInspect>(&path))
            .await
            .map_err(|err| self.call("inspect", "image", image).error(err))?;
        Ok(ImageUser::parse(&inspected.config.user))
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        let name = naming::sandbox_name(config);
        if config.user_namespace {
            // Tried (E2E.md): a pod made with `userns=auto` started, its containers did not.
            return Err(RuntimeError::no_user_namespace(
                &name,
                "the Podman backend does not set up",
            ));
        }
        self.ensure_image(&self.pause_image, PullPolicy::IfNotPresent)
            .await?;
        let id = self.create_pod(&name, config).await?;
        let started = within(
            REQUEST_TIMEOUT,
            self.libpod.post(&format!("/pods/{id}/start")),
        )
        .await;
        let failure = match started {
            Ok(()) => None,
            Err(err) if err.is_not_modified() => None,
            Err(err) => Some(self.call("start", "sandbox", &id).error(err)),
        };
        if let Some(err) = failure {
            // A pod that never started (a hostPort already taken, say) is of no use;
            // leaving it would only hold the name.
            if let Err(cleanup) = self.remove_sandbox(&id).await {
                tracing::warn!(name, id, error = %cleanup, "could not remove a pod that failed to start");
            }
            return Err(err);
        }
        if let Some(score) = config.oom_score_adj
            && let Err(error) = self.set_infra_oom_score_adj(&id, score).await
        {
            tracing::warn!(name, id, score, %error, "the infra process keeps its oom_score_adj");
        }
        tracing::debug!(name, id, "pod running");
        Ok(id)
    }

    /// Stops the pod's containers, then its infra container. Not libpod's pod stop: Podman
    /// 4.3 answers it with 304 and stops nothing unless every container of the pod runs, so a
    /// pod whose containers the agent already stopped ("Degraded") would keep its network.
    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        let pod = match within(
            REQUEST_TIMEOUT,
            self.podman.pods().get(sandbox_id).inspect(),
        )
        .await
        {
            Ok(pod) => pod,
            Err(err) if err.is_not_found() => return Ok(()),
            Err(err) => return Err(self.call("inspect", "sandbox", sandbox_id).error(err)),
        };
        let infra = pod.infra_container_id.filter(|id| !id.is_empty());
        let running: Vec<String> = pod
            .containers
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.state.as_deref() == Some("running"))
            .filter_map(|c| c.id)
            .filter(|id| Some(id) != infra.as_ref())
            .collect();
        futures_util::future::try_join_all(
            running
                .iter()
                .map(|id| self.stop(id, "container", SANDBOX_GRACE)),
        )
        .await?;
        match infra {
            Some(infra) => self.stop(&infra, "sandbox", SANDBOX_GRACE).await,
            None => Ok(()),
        }
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        match within(REQUEST_TIMEOUT, self.podman.pods().get(sandbox_id).remove()).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(self.call("remove", "sandbox", sandbox_id).error(err)),
        }
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        let mut spec = container::container_spec(config, sandbox, sandbox_id);
        self.prepare_log(&mut spec, &container::log_file(sandbox, config))
            .await;
        self.create_named_container(&spec).await
    }

    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        let container = self.podman.containers().get(container_id);
        match within(REQUEST_TIMEOUT, container.start(None)).await {
            Ok(()) => {
                if let Some(rotation) = &self.log_rotation {
                    rotation.container_started();
                }
                Ok(())
            }
            Err(err) if err.is_not_modified() => Ok(()),
            Err(err) => Err(self.call("start", "container", container_id).error(err)),
        }
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        self.stop(container_id, "container", grace).await
    }

    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        let opts = ContainerDeleteOpts::builder()
            .force(true)
            .volumes(true)
            .build();
        let container = self.podman.containers().get(container_id);
        match within(REQUEST_TIMEOUT, container.delete(&opts)).await {
            Ok(()) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(self.call("remove", "container", container_id).error(err)),
        }
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        let opts = PodListOpts::builder()
            .filter([PodListFilter::LabelKeyVal(
                MANAGED_BY.to_owned(),
                MANAGED_BY_VALUE.to_owned(),
            )])
            .build();
        let pods = within(REQUEST_TIMEOUT, self.podman.pods().list(&opts))
            .await
            .map_err(|err| self.call("list", "sandbox", "(all managed)").error(err))?;
        // A pod being created or removed may be listed without its infra container yet.
        let infra_id = |pod: &podman_api::models::ListPodsReport| {
            pod.infra_id.clone().filter(|id| !id.is_empty())
        };
        let infras_listed: Vec<(String, String)> = pods
            .iter()
            .filter_map(|pod| {
                let id = infra_id(pod)?;
                let status = pod
                    .containers
                    .iter()
                    .flatten()
                    .find(|c| c.id.as_deref() == Some(id.as_str()))
                    .and_then(|c| c.status.clone());
                Some((id, settled_state(status)))
            })
            .collect();
        let infras = self
            .inspect_all(&self.sandboxes, infras_listed, "sandbox")
            .await?;
        Ok(pods
            .iter()
            .map(|pod| {
                let infra = infra_id(pod).and_then(|id| infras.iter().find(|infra| infra.id == id));
                convert::sandbox_info(pod, infra)
            })
            .collect())
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        // Infra containers carry their pod's labels, so the managed-by label finds them too;
        // only app containers carry a container name. libpod ANDs label filters, and syncs
        // the state of every container it lists: leaving the infra containers out halves
        // that work.
        let opts = ContainerListOpts::builder()
            .all(true)
            .filter([
                ContainerListFilter::LabelKeyVal(
                    MANAGED_BY.to_owned(),
                    MANAGED_BY_VALUE.to_owned(),
                ),
                ContainerListFilter::LabelKey(labels::CONTAINER_NAME.to_owned()),
            ])
            .build();
        let listed = within(REQUEST_TIMEOUT, self.podman.containers().list(&opts))
            .await
            .map_err(|err| self.call("list", "container", "(all managed)").error(err))?;
        // Should an infra container be listed anyway, it stands for a sandbox, not a container.
        let ids: Vec<(String, String)> = listed
            .into_iter()
            .filter(|c| c.is_infra != Some(true))
            .filter_map(|c| Some((c.id?, settled_state(c.state))))
            .collect();
        let inspected = self.inspect_all(&self.containers, ids, "container").await?;
        Ok(inspected
            .iter()
            .filter(|inspect| !inspect.is_infra)
            .map(convert::container_info)
            .collect())
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
            self.podman.clone(),
            self.endpoint.clone(),
        ))
    }

    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.container_logs(container_id, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_libpod::FakeLibpod;

    #[test]
    fn the_api_version_is_the_services_capped_at_the_crates() {
        assert_eq!(
            api_version_to_use("4.3.1").map(|v| v.to_string()),
            Some("4.3.1".into())
        );
        assert_eq!(
            api_version_to_use("4.0.0").map(|v| v.to_string()),
            Some("4.0.0".into())
        );
        assert_eq!(
            api_version_to_use("5.2.0").map(|v| v.to_string()),
            Some(LATEST_API_VERSION.to_string())
        );
        assert_eq!(api_version_to_use("3.4.4"), None);
        assert_eq!(api_version_to_use("1.41").map(|v| v.major()), None);
        assert_eq!(api_version_to_use("garbage"), None);
    }

    #[tokio::test]
    async fn an_old_libpod_api_is_refused_naming_what_was_found() {
        let fake = FakeLibpod::start("3.4.4", vec![]);
        let err = PodmanRuntime::connect(&fake.endpoint(), "pause".into(), None)
            .await
            .expect_err("libpod 3 is too old");
        assert!(
            matches!(&err, RuntimeError::Failed { operation, .. } if operation.contains("libpod API version")),
            "{err:?}"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("libpod API 3.4.4"), "{source}");
    }

    #[tokio::test]
    async fn calls_speak_the_libpod_version_from_ping_not_the_docker_one() {
        let fake = FakeLibpod::start("4.1.0", vec![]);
        let runtime = PodmanRuntime::connect(&fake.endpoint(), "pause".into(), None)
            .await
            .expect("connects");
        assert!(format!("{runtime:?}").contains("4.1.0"), "{runtime:?}");
        // The fake knows no containers; only the path asked for matters here.
        let _ = runtime.remove_container("c1").await;
        let _ = runtime.stop_container("c1", Duration::from_secs(1)).await;
        assert_eq!(fake.count("/v4.1.0/libpod/containers/c1"), 2);
        assert_eq!(fake.count("/v1.41/"), 0);
    }

    #[tokio::test]
    async fn an_endpoint_of_another_kind_is_refused() {
        let endpoint = "tcp://127.0.0.1:8080".parse().unwrap();
        let err = PodmanRuntime::connect(&endpoint, "pause".into(), None)
            .await
            .expect_err("not supported");
        assert!(err.is_unavailable(), "{err:?}");
        let source = std::error::Error::source(&err)
            .expect("a cause")
            .to_string();
        assert!(
            source.contains("Podman is reached only on a unix socket"),
            "{source}"
        );
    }
}

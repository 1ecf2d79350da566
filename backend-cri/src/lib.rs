//! staticpod backend for containerd (and any runtime serving CRI v1) over gRPC on a unix
//! socket: pods map natively to CRI sandboxes, as the kubelet drives them.
//!
//! [`CriRuntime`] implements [`ContainerRuntime`]. The CRI bindings and containerd's event
//! service (`api`), the request building (`sandbox`, `container`), status conversion
//! (`convert`), error translation ([`error`]), the socket channel (`transport`), the event
//! feed (`events`: CRI's, else containerd's own), the reading of the log files the runtime
//! writes (`logs`) and the calls their rotation makes (`log_writers`; the rotation itself,
//! the kubelet's container log manager, is `staticpod_runtime::log_rotation`) live in
//! modules of their own.

pub mod error;

mod api;
mod container;
mod convert;
mod events;
mod log_writers;
mod logs;
mod sandbox;
mod stale_task;
mod transport;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use staticpod_runtime::call_error::{Classify, ErrorKind, pull_error};
use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::exec_output;
use staticpod_runtime::inspect::InspectCache;
use staticpod_runtime::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use staticpod_runtime::log_rotation;
use staticpod_runtime::logs::{LogOptions, LogRotation, LogStream};
use staticpod_runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ExecResult, ImageEnsured, ImageUser,
    PullPolicy, RuntimeError, RuntimeResult, RuntimeVersion, SandboxConfig, SandboxInfo,
    grace_seconds,
};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::api::containerd_events::events_client::EventsClient;
use crate::api::containerd_tasks::tasks_client::TasksClient;
use crate::api::v1;
use crate::api::v1::image_service_client::ImageServiceClient;
use crate::api::v1::runtime_service_client::RuntimeServiceClient;
use crate::error::{
    CallError, CriError, Subject, call_error, classify, is_unimplemented, runtime_error,
    unavailable,
};

/// How long `connect` waits for the answer to `Version`: a socket that accepts but never
/// answers (not a gRPC server) must not hang the agent's start.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// A CRI v1 runtime (containerd, CRI-O) reached over its unix socket. Cheap to clone: clones
/// share one HTTP/2 connection, which is reopened on demand after the runtime restarts.
#[derive(Debug, Clone)]
pub struct CriRuntime {
    endpoint: String,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    /// containerd's own event service, for runtimes whose CRI has no events.
    events: EventsClient<Channel>,
    /// containerd's own task service, to clear a task CRI cannot ([`stale_task`]).
    tasks: TasksClient<Channel>,
    /// Sandbox statuses, asked again only when a sandbox's listed state changes: CRI's lists
    /// lack IPs, exit codes and times.
    sandboxes: Arc<InspectCache<Option<SandboxInfo>>>,
    /// Container statuses, likewise.
    containers: Arc<InspectCache<Option<ContainerInfo>>>,
    /// The log rotation, when there is one.
    log_rotation: Option<log_rotation::Rotation>,
}

impl CriRuntime {
    /// Connects to `endpoint` (a unix socket: CRI is not served over TCP) and checks with
    /// `Version` that a CRI v1 runtime answers there. Tries once: a socket that is missing,
    /// refuses, does not answer or does not serve CRI v1, or a TCP endpoint, gives one
    /// [`RuntimeError::Unavailable`] naming the endpoint; whether to retry is the caller's
    /// choice.
    ///
    /// With `log_rotation`, the logs of the running containers under its directory are
    /// rotated, as the kubelet's container log manager does, until the last clone of this
    /// runtime is dropped; a rotation that cannot start (no inotify) is
    /// [`RuntimeError::Failed`].
    pub async fn connect(
        endpoint: &Endpoint,
        log_rotation: Option<LogRotation>,
    ) -> Result<Self, RuntimeError> {
        let name = endpoint.to_string();
        let socket = endpoint
            .unix_socket("CRI")
            .map_err(|err| unavailable(&name, err))?;
        let channel = transport::channel(socket.to_owned());
        let mut runtime = CriRuntime {
            endpoint: name,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel.clone()),
            events: EventsClient::new(channel.clone()),
            tasks: TasksClient::new(channel),
            sandboxes: Arc::default(),
            containers: Arc::default(),
            log_rotation: None,
        };
        let version = tokio::time::timeout(VERSION_TIMEOUT, runtime.call_version())
            .await
            .map_err(|_| {
                unavailable(
                    &runtime.endpoint,
                    CriError::VersionTimeout {
                        seconds: VERSION_TIMEOUT.as_secs(),
                    },
                )
            })??;
        tracing::info!(
            endpoint = %runtime.endpoint,
            runtime = %version.runtime_name,
            version = %version.runtime_version,
            api = %version.api_version,
            "connected to CRI runtime"
        );
        if let Some(policy) = log_rotation {
            let writers = log_writers::CriLogWriters::new(runtime.runtime.clone());
            let rotation = log_rotation::start(writers, policy)?;
            runtime.log_rotation = Some(rotation);
        }
        Ok(runtime)
    }

    /// The endpoint this runtime was connected with.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn call_version(&self) -> RuntimeResult<RuntimeVersion> {
        let request = v1::VersionRequest {
            version: "v1".to_owned(),
        };
        match self.runtime.clone().version(request).await {
            Ok(response) => {
                let v = response.into_inner();
                Ok(RuntimeVersion {
                    runtime_name: v.runtime_name,
                    runtime_version: v.runtime_version,
                    api_version: v.runtime_api_version,
                })
            }
            // Version is the connectivity check: any failure means this endpoint cannot
            // serve us, and one that does not know the method is not a CRI v1 runtime.
            Err(status) => {
                let unimplemented = is_unimplemented(&status);
                let call = CallError::new("Version", status);
                Err(if unimplemented {
                    unavailable(&self.endpoint, CriError::NotCri(call))
                } else {
                    unavailable(&self.endpoint, call)
                })
            }
        }
    }

    fn error(
        &self,
        method: &'static str,
        subject: Subject<'_>,
        status: tonic::Status,
    ) -> RuntimeError {
        runtime_error(&self.endpoint, method, subject, status)
    }

    /// The runtime's record of `image`, if it holds it (`ImageStatus`).
    async fn image_status(&self, image: &str) -> RuntimeResult<Option<v1::Image>> {
        let request = v1::ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let response = self
            .images
            .clone()
            .image_status(request)
            .await
            .map_err(|status| self.error("ImageStatus", image_subject(image), status))?;
        Ok(response.into_inner().image)
    }

    async fn image_present(&self, image: &str) -> RuntimeResult<bool> {
        Ok(self.image_status(image).await?.is_some())
    }

    async fn pull(&self, image: &str) -> RuntimeResult<()> {
        let request = v1::PullImageRequest {
            image: Some(image_spec(image)),
            ..Default::default()
        };
        tracing::info!(image, "pulling image");
        match self.images.clone().pull_image(request).await {
            Ok(response) => {
                tracing::info!(image, image_ref = %response.into_inner().image_ref, "pulled image");
                Ok(())
            }
            // A runtime that went away is not a problem of the image.
            Err(status) => Err(pull_error(
                &self.endpoint,
                image,
                CallError::new("PullImage", status),
            )),
        }
    }

    async fn sandbox_status(&self, id: String) -> Result<Option<SandboxInfo>, CallError> {
        let request = v1::PodSandboxStatusRequest {
            pod_sandbox_id: id,
            verbose: false,
        };
        let response = self.runtime.clone().pod_sandbox_status(request).await;
        let status = response.map_err(|status| CallError::new("PodSandboxStatus", status))?;
        Ok(status
            .into_inner()
            .status
            .map(|s| convert::sandbox_info(&s)))
    }

    async fn container_status(
        &self,
        entry: &v1::Container,
    ) -> Result<Option<ContainerInfo>, CallError> {
        let request = v1::ContainerStatusRequest {
            container_id: entry.id.clone(),
            verbose: false,
        };
        let response = self.runtime.clone().container_status(request).await;
        let status = response.map_err(|status| CallError::new("ContainerStatus", status))?;
        Ok(status
            .into_inner()
            .status
            .map(|s| convert::container_info(entry, &s)))
    }
}

/// Maps `NotFound` to `Ok` for the calls the trait makes idempotent.
fn ok_if_missing(result: RuntimeResult<()>) -> RuntimeResult<()> {
    match result {
        Err(RuntimeError::NotFound { kind, id }) => {
            tracing::debug!(kind, id, "already gone");
            Ok(())
        }
        other => other,
    }
}

fn managed_selector() -> HashMap<String, String> {
    HashMap::from([(MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned())])
}

fn image_spec(image: &str) -> v1::ImageSpec {
    v1::ImageSpec {
        image: image.to_owned(),
        ..Default::default()
    }
}

fn image_subject(image: &str) -> Subject<'_> {
    Subject {
        kind: "image",
        id: image,
    }
}

fn sandbox_subject(id: &str) -> Subject<'_> {
    Subject {
        kind: "sandbox",
        id,
    }
}

fn container_subject(id: &str) -> Subject<'_> {
    Subject {
        kind: "container",
        id,
    }
}

#[async_trait]
impl ContainerRuntime for CriRuntime {
    async fn version(&self) -> RuntimeResult<RuntimeVersion> {
        self.call_version().await
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> RuntimeResult<ImageEnsured> {
        // ImageStatus resolves a short name as a pull would (`nginx:1.25` finds the stored
        // `docker.io/library/nginx:1.25`).
        let present = self.image_present(image).await?;
        if !policy.must_pull(image, present)? {
            return Ok(ImageEnsured::Present);
        }
        self.pull(image).await?;
        Ok(ImageEnsured::Pulled)
    }

    async fn image_user(&self, image: &str) -> RuntimeResult<ImageUser> {
        let found = self
            .image_status(image)
            .await?
            .ok_or(RuntimeError::NotFound {
                kind: "image",
                id: image.to_owned(),
            })?;
        Ok(ImageUser {
            uid: found.uid.map(|uid| uid.value),
            username: found.username,
        })
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> RuntimeResult<String> {
        if config.user_namespace {
            return Err(RuntimeError::no_user_namespace(
                &config.name,
                "the CRI backend does not set up (it would map each pod to a range of the node's subordinate IDs, which staticpod does not allocate)",
            ));
        }
        let request = v1::RunPodSandboxRequest {
            config: Some(sandbox::pod_sandbox_config(config)),
            runtime_handler: String::new(),
        };
        let id = self
            .runtime
            .clone()
            .run_pod_sandbox(request)
            .await
            .map_err(|status| self.error("RunPodSandbox", sandbox_subject(&config.name), status))?
            .into_inner()
            .pod_sandbox_id;
        tracing::debug!(sandbox = %id, pod = %config.name, "sandbox running");
        Ok(id)
    }

    async fn stop_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        let request = v1::StopPodSandboxRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
        };
        let result = self
            .runtime
            .clone()
            .stop_pod_sandbox(request)
            .await
            .map(drop)
            .map_err(|status| self.error("StopPodSandbox", sandbox_subject(sandbox_id), status));
        ok_if_missing(result)
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> RuntimeResult<()> {
        let request = v1::RemovePodSandboxRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
        };
        let result = self
            .runtime
            .clone()
            .remove_pod_sandbox(request)
            .await
            .map(drop)
            .map_err(|status| self.error("RemovePodSandbox", sandbox_subject(sandbox_id), status));
        ok_if_missing(result)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &SandboxConfig,
    ) -> RuntimeResult<String> {
        if let Some(signal) = &config.stop_signal {
            // CRI v1 as containerd 1.6 and 1.7 serve it has no stop signal (it came with
            // Kubernetes 1.33's API): say so rather than stop with another signal silently.
            tracing::warn!(
                container = %config.name,
                pod = %sandbox.name,
                signal,
                "lifecycle.stopSignal is not honoured on CRI: the runtime stops the container with its image's STOPSIGNAL, or SIGTERM"
            );
        }
        let request = v1::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
            config: Some(container::container_config(config, sandbox)),
            sandbox_config: Some(sandbox::pod_sandbox_config(sandbox)),
        };
        let id = self
            .runtime
            .clone()
            .create_container(request)
            .await
            .map_err(|status| {
                let call = CallError::new("CreateContainer", status);
                // NotFound here is about the sandbox or the image, never the container.
                let subject = if call.message.contains("image") {
                    image_subject(&config.image)
                } else {
                    sandbox_subject(sandbox_id)
                };
                if classify(&call) == ErrorKind::NotFound {
                    return call_error(&self.endpoint, subject, call);
                }
                let what = format!("{} in sandbox {sandbox_id}", config.name);
                call_error(&self.endpoint, container_subject(&what), call)
            })?
            .into_inner()
            .container_id;
        tracing::debug!(container = %id, name = %config.name, sandbox = %sandbox_id, "container created");
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> RuntimeResult<()> {
        let request = v1::StartContainerRequest {
            container_id: container_id.to_owned(),
        };
        self.runtime
            .clone()
            .start_container(request)
            .await
            .map_err(|status| {
                self.error("StartContainer", container_subject(container_id), status)
            })?;
        if let Some(rotation) = &self.log_rotation {
            rotation.container_started();
        }
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> RuntimeResult<()> {
        let request = v1::StopContainerRequest {
            container_id: container_id.to_owned(),
            timeout: i64::try_from(grace_seconds(grace)).unwrap_or(i64::MAX),
        };
        let result = self
            .runtime
            .clone()
            .stop_container(request)
            .await
            .map(drop)
            .map_err(|status| self.error("StopContainer", container_subject(container_id), status));
        ok_if_missing(result)
    }

    /// Removes the container; one that CRI refuses because containerd still holds a task
    /// for it ([`stale_task`]) has that task killed and deleted through containerd's task
    /// service, and is removed again.
    async fn remove_container(&self, container_id: &str) -> RuntimeResult<()> {
        let remove = || {
            let mut runtime = self.runtime.clone();
            let request = v1::RemoveContainerRequest {
                container_id: container_id.to_owned(),
            };
            async move { runtime.remove_container(request).await }
        };
        let result = match remove().await {
            Err(status) if stale_task::is_stale_task(&status) => {
                tracing::warn!(
                    container = container_id,
                    "containerd holds a task of this container, which CRI reports exited (a start cut short) and cannot remove: killing and deleting the task through containerd's task service"
                );
                match stale_task::clear(&self.tasks, container_id).await {
                    Ok(()) => remove().await,
                    Err(cleared) => Err(cleared),
                }
            }
            other => other,
        };
        let result = result.map(drop).map_err(|status| {
            self.error("RemoveContainer", container_subject(container_id), status)
        });
        ok_if_missing(result)
    }

    async fn list_sandboxes(&self) -> RuntimeResult<Vec<SandboxInfo>> {
        let request = v1::ListPodSandboxRequest {
            filter: Some(v1::PodSandboxFilter {
                label_selector: managed_selector(),
                ..Default::default()
            }),
        };
        let items = self
            .runtime
            .clone()
            .list_pod_sandbox(request)
            .await
            .map_err(|status| self.error("ListPodSandbox", sandbox_subject("*"), status))?
            .into_inner()
            .items;
        // The list lacks the IP: ask the status of each sandbox not seen in this state
        // before, a few at once. A state this API does not know is never reused.
        let listed = items
            .iter()
            .map(|item| {
                let state =
                    v1::PodSandboxState::try_from(item.state).map_or("", |s| s.as_str_name());
                (item.id.clone(), state.to_owned())
            })
            .collect();
        let not_ready: HashMap<&str, &v1::PodSandbox> = items
            .iter()
            .filter(|item| item.state == v1::PodSandboxState::SandboxNotready as i32)
            .map(|item| (item.id.as_str(), item))
            .collect();
        let infos = self
            .sandboxes
            .inspect_changed(&self.endpoint, "sandbox", listed, |id| {
                let listed = not_ready.get(id.as_str()).copied();
                async move {
                    match (self.sandbox_status(id).await, listed) {
                        // A stopped sandbox's status can fail for good (containerd 1.6 cannot
                        // remove a network namespace another mount hides: E2E.md); what
                        // the agent needs of it, its listing has.
                        (Err(error), Some(listed)) if error.kind() != ErrorKind::NotFound => {
                            tracing::warn!(sandbox = %listed.id, %error, "the status of a stopped sandbox failed; taking its listing");
                            Ok(Some(convert::not_ready_sandbox_info(listed)))
                        }
                        (result, _) => result,
                    }
                }
            })
            .await?;
        Ok(infos.into_iter().flatten().collect())
    }

    async fn list_containers(&self) -> RuntimeResult<Vec<ContainerInfo>> {
        let request = v1::ListContainersRequest {
            filter: Some(v1::ContainerFilter {
                label_selector: managed_selector(),
                ..Default::default()
            }),
        };
        let entries = self
            .runtime
            .clone()
            .list_containers(request)
            .await
            .map_err(|status| self.error("ListContainers", container_subject("*"), status))?
            .into_inner()
            .containers;
        // The list lacks exit codes, times and reasons: ask the status of each container not
        // seen in this state before. A created container's status gains a reason when its
        // start fails without the state changing: it is always asked.
        let listed = entries
            .iter()
            .map(|entry| {
                let state = match v1::ContainerState::try_from(entry.state) {
                    Ok(v1::ContainerState::ContainerCreated) | Err(_) => "",
                    Ok(state) => state.as_str_name(),
                };
                (entry.id.clone(), state.to_owned())
            })
            .collect();
        let entries: HashMap<String, v1::Container> = entries
            .into_iter()
            .map(|entry| (entry.id.clone(), entry))
            .collect();
        let infos = self
            .containers
            .inspect_changed(&self.endpoint, "container", listed, |id| {
                self.container_status(&entries[&id])
            })
            .await?;
        Ok(infos.into_iter().flatten().collect())
    }

    /// `ExecSync`, given `timeout` (the runtime counts it in whole seconds) and held to it
    /// here too; its output is stdout followed by stderr, bounded as on every backend.
    async fn exec_sync(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        let request = v1::ExecSyncRequest {
            container_id: container_id.to_owned(),
            cmd: command.to_vec(),
            timeout: i64::try_from(grace_seconds(timeout)).unwrap_or(i64::MAX),
        };
        let exec = async {
            let response = self.runtime.clone().exec_sync(request).await;
            response
                .map_err(|status| self.error("ExecSync", container_subject(container_id), status))
        };
        let response = exec_output::within(timeout, command, container_id, exec)
            .await?
            .into_inner();
        let mut output = String::new();
        exec_output::append(&mut output, &response.stdout);
        exec_output::append(&mut output, &response.stderr);
        Ok(ExecResult {
            exit_code: response.exit_code,
            output,
        })
    }

    /// Nudges at every change the runtime reports: CRI's container events
    /// (`GetContainerEvents`, containerd 1.7+), else containerd's own event service on the
    /// same socket (containerd 1.6), else every second (see the `events` module). A broken
    /// stream is reopened with capped back-off (0.5 s to 30 s), with one nudge after each
    /// reopening since changes may have been missed meanwhile.
    async fn watch(&self) -> RuntimeResult<mpsc::Receiver<()>> {
        let (tx, rx) = mpsc::channel(1);
        let clients = events::Clients {
            runtime: self.runtime.clone(),
            events: self.events.clone(),
        };
        tokio::spawn(events::run(clients, self.endpoint.clone(), tx));
        Ok(rx)
    }

    /// Reads the container's log file (`ContainerStatus.log_path`), as the kubelet does.
    async fn logs(&self, container_id: &str, options: &LogOptions) -> RuntimeResult<LogStream> {
        self.container_logs(container_id, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tcp_endpoint_is_refused() {
        let endpoint: Endpoint = "tcp://127.0.0.1:1234".parse().unwrap();
        let err = CriRuntime::connect(&endpoint, None).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(
            source,
            "endpoint tcp://127.0.0.1:1234 is a TCP address: CRI is reached only on a unix socket \
             (unix:///path)"
        );
    }
}

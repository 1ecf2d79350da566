//! The backends compiled into this binary, chosen at run time with `--runtime`. A backend
//! left out by Cargo features says so instead of failing obscurely.

use std::sync::Arc;

use clap::ValueEnum;
use staticpod_runtime::ContainerRuntime;
use staticpod_runtime::endpoint::Endpoint;

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// Docker Engine through its API (bollard).
    Docker,
    /// containerd (or CRI-O) through the Container Runtime Interface.
    Cri,
    /// Podman through its libpod REST API.
    Podman,
}

impl RuntimeKind {
    /// The `--runtime` value naming it.
    pub fn flag(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Cri => "cri",
            RuntimeKind::Podman => "podman",
        }
    }

    /// The endpoint used when `--container-runtime-endpoint` is not given.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "unix:///var/run/docker.sock",
            RuntimeKind::Cri => "unix:///run/containerd/containerd.sock",
            RuntimeKind::Podman => "unix:///run/podman/podman.sock",
        }
    }

    /// The prefix of container ids in status (`docker://...`).
    pub fn id_scheme(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Cri => "containerd",
            RuntimeKind::Podman => "podman",
        }
    }

    /// How often the runtime is read even without events: Docker sends events, so a slow
    /// safety net suffices; containerd 1.6 has none, so it is relisted every second, as the
    /// kubelet's PLEG does.
    pub fn default_resync(self) -> std::time::Duration {
        match self {
            RuntimeKind::Docker | RuntimeKind::Podman => std::time::Duration::from_secs(10),
            RuntimeKind::Cri => std::time::Duration::from_secs(1),
        }
    }
}

/// Connects to the chosen runtime at `endpoint` (`--container-runtime-endpoint`).
#[cfg_attr(not(feature = "docker"), allow(unused_variables))]
pub async fn connect(
    kind: RuntimeKind,
    endpoint: &str,
    pause_image: &str,
) -> anyhow::Result<Arc<dyn ContainerRuntime>> {
    let endpoint: Endpoint = endpoint.parse()?;
    match kind {
        #[cfg(feature = "docker")]
        RuntimeKind::Docker => Ok(Arc::new(
            staticpod_backend_docker::DockerRuntime::connect(&endpoint, pause_image.to_string())
                .await?,
        )),
        #[cfg(feature = "cri")]
        RuntimeKind::Cri => Ok(Arc::new(
            staticpod_backend_cri::CriRuntime::connect(&endpoint).await?,
        )),
        #[cfg(feature = "podman")]
        RuntimeKind::Podman => Ok(Arc::new(
            staticpod_backend_podman::PodmanRuntime::connect(&endpoint, pause_image.to_string())
                .await?,
        )),
        #[allow(unreachable_patterns)]
        other => anyhow::bail!(
            "this staticpod was built without the {0} backend: rebuild with `--features {0}`",
            other.flag()
        ),
    }
}

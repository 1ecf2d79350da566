//! The backends compiled into this binary, chosen at run time with `--runtime`. A backend
//! left out by Cargo features says so instead of failing obscurely.

use std::sync::Arc;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use staticpod_runtime::ContainerRuntime;
use staticpod_runtime::backend::Backend;
use staticpod_runtime::endpoint::Endpoint;
use staticpod_runtime::logs::LogRotation;

/// The sandbox (pause) image when `--pod-infra-container-image` is not given.
pub const DEFAULT_PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.9";

/// Reads `--runtime`: one of the backends' names, each listed with what it drives in
/// `--help` and in the error for any other value.
pub fn runtime_flag() -> impl TypedValueParser<Value = Backend> {
    let names = Backend::ALL.map(|backend| PossibleValue::new(backend.name()).help(about(backend)));
    PossibleValuesParser::new(names).map(|name| {
        name.parse()
            .expect("the parser only lets a backend's name through")
    })
}

/// What `backend` drives, for `--help`.
fn about(backend: Backend) -> &'static str {
    match backend {
        Backend::Docker => "Docker Engine through its API (bollard)",
        Backend::Cri => "containerd (or CRI-O) through the Container Runtime Interface",
        Backend::Podman => "Podman through its libpod REST API",
    }
}

/// Connects to `backend` at `endpoint`; `pause_image` is the sandbox image of the backends
/// that emulate a sandbox with a container (Docker, Podman); `log_rotation`, how the agent
/// rotates the logs of the backends whose logs are files it manages (CRI, Podman), and the
/// limits of Docker's own rotation.
// `pause_image` is unused without Docker and Podman (and, with no backend at all,
// `endpoint` and `log_rotation`).
#[cfg_attr(
    not(all(any(feature = "docker", feature = "podman"), feature = "cri")),
    allow(unused_variables)
)]
pub async fn connect(
    backend: Backend,
    endpoint: &str,
    pause_image: &str,
    log_rotation: Option<LogRotation>,
) -> anyhow::Result<Arc<dyn ContainerRuntime>> {
    let endpoint: Endpoint = endpoint.parse()?;
    let endpoint = &endpoint;
    match backend {
        #[cfg(feature = "docker")]
        Backend::Docker => {
            let runtime =
                staticpod_backend_docker::DockerRuntime::connect(endpoint, pause_image.to_string())
                    .await?;
            Ok(Arc::new(match log_rotation {
                Some(limits) => runtime.with_log_limits(limits.max_size, limits.max_files),
                None => runtime,
            }))
        }
        #[cfg(feature = "cri")]
        Backend::Cri => Ok(Arc::new(
            staticpod_backend_cri::CriRuntime::connect(endpoint, log_rotation).await?,
        )),
        #[cfg(feature = "podman")]
        Backend::Podman => Ok(Arc::new(
            staticpod_backend_podman::PodmanRuntime::connect(
                endpoint,
                pause_image.to_string(),
                log_rotation,
            )
            .await?,
        )),
        #[cfg(not(all(feature = "docker", feature = "cri", feature = "podman")))]
        other => anyhow::bail!(
            "this staticpod was built without the {0} backend: rebuild with `--features {0}`",
            other.name()
        ),
    }
}

//! Object names as the kubelet's Docker integration wrote them, for runtimes that name
//! objects (Docker, Podman): `k8s_POD_<pod>_<namespace>_<uid>_<attempt>` for the sandbox and
//! `k8s_<container>_<pod>_<namespace>_<uid>_<restart count>` for each container.

use crate::{ContainerConfig, SandboxConfig};

/// Name of a pod's sandbox (pause or infra) object.
pub fn sandbox_name(sandbox: &SandboxConfig) -> String {
    format!(
        "k8s_POD_{}_{}_{}_{}",
        sandbox.name, sandbox.namespace, sandbox.uid, sandbox.attempt
    )
}

/// Name of one container of a pod.
pub fn container_name(container: &ContainerConfig, sandbox: &SandboxConfig) -> String {
    format!(
        "k8s_{}_{}_{}_{}_{}",
        container.name, sandbox.name, sandbox.namespace, sandbox.uid, container.attempt
    )
}

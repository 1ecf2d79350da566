//! Which backend: the one list of the runtimes staticpod drives, with the facts about each
//! that the binary, the tests, the benchmarks and xtask all need (its `--runtime` name, its
//! usual socket, how container ids are prefixed, how often it must be relisted).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A runtime staticpod drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    /// Docker Engine through its API (bollard).
    Docker,
    /// containerd (or CRI-O) through the Container Runtime Interface.
    Cri,
    /// Podman through its libpod REST API.
    Podman,
}

impl Backend {
    /// Every backend, in the order tests and benchmarks visit them.
    pub const ALL: [Backend; 3] = [Backend::Docker, Backend::Cri, Backend::Podman];

    /// The `--runtime` value naming it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Cri => "cri",
            Backend::Podman => "podman",
        }
    }

    /// The endpoint used when `--container-runtime-endpoint` is not given.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Backend::Docker => "unix:///var/run/docker.sock",
            Backend::Cri => "unix:///run/containerd/containerd.sock",
            Backend::Podman => "unix:///run/podman/podman.sock",
        }
    }

    /// The prefix of container ids in status (`docker://...`), as the kubelet writes them.
    pub fn id_scheme(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Cri => "containerd",
            Backend::Podman => "podman",
        }
    }

    /// How often the runtime is read even without events: a slow safety net, since every
    /// backend's `watch` reports changes (on CRI from CRI's events, or containerd 1.6's own
    /// event service, or, for a runtime with neither, every second as the kubelet's PLEG).
    pub fn default_resync(self) -> Duration {
        Duration::from_secs(10)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--runtime` value that names no backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown runtime `{0}` (docker, cri, podman)")]
pub struct UnknownBackend(pub String);

impl FromStr for Backend {
    type Err = UnknownBackend;

    /// A backend by its `--runtime` name; `containerd` is accepted for `cri`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "docker" => Ok(Backend::Docker),
            "cri" | "containerd" => Ok(Backend::Cri),
            "podman" => Ok(Backend::Podman),
            _ => Err(UnknownBackend(name.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_parses_back_from_its_name() {
        for backend in Backend::ALL {
            assert_eq!(backend.name().parse(), Ok(backend));
        }
        assert_eq!("containerd".parse(), Ok(Backend::Cri));
        assert_eq!(
            "crio".parse::<Backend>().unwrap_err().to_string(),
            "unknown runtime `crio` (docker, cri, podman)"
        );
    }
}

//! What the agent hands a backend to create a sandbox or a container: plain data, already
//! resolved from the pod (env expanded, mounts created, security merged).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{RuntimeError, RuntimeResult};

/// When to pull an image, as `imagePullPolicy` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time a container is created.
    Always,
    /// Pull only when the image is not present.
    IfNotPresent,
    /// Never pull; a missing image is an error.
    Never,
}

impl PullPolicy {
    /// Whether ensuring `image`, which is (or is not) `present`, takes a pull under this
    /// policy. An absent image under `Never` is this pod's [`RuntimeError::ImagePull`], with
    /// [`NeverPull`] as its source.
    pub fn must_pull(self, image: &str, present: bool) -> RuntimeResult<bool> {
        match (present, self) {
            (true, PullPolicy::IfNotPresent | PullPolicy::Never) => Ok(false),
            (false, PullPolicy::Never) => Err(RuntimeError::ImagePull {
                image: image.to_owned(),
                source: Box::new(NeverPull {
                    image: image.to_owned(),
                }),
            }),
            _ => Ok(true),
        }
    }
}

/// What [`crate::ContainerRuntime::ensure_image`] did: the kubelet's `Pulled` event says
/// which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageEnsured {
    /// The image was there and the policy asked for no pull.
    Present,
    /// The image was pulled.
    Pulled,
}

/// `imagePullPolicy: Never` and the image is not in the runtime's store.
#[derive(Debug, thiserror::Error)]
#[error("image {image} is not present and the pull policy Never forbids pulling it")]
pub struct NeverPull {
    /// The image reference.
    pub image: String,
}

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Lower-case name as Docker writes it ("tcp").
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A container port published on the host (a `hostPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// Protocol.
    pub protocol: Protocol,
    /// Port inside the pod.
    pub container_port: u16,
    /// Port on the host.
    pub host_port: u16,
    /// Host address to bind; empty means all addresses.
    pub host_ip: String,
}

/// Everything a backend needs to create a pod's sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// Pod full name (`static-web-node0`).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Pod UID.
    pub uid: String,
    /// How many sandboxes this pod had before (0 for the first).
    pub attempt: u32,
    /// Hostname inside the pod; empty for host-network pods (the node's own name is used).
    pub hostname: String,
    /// Share the node's network namespace.
    pub host_network: bool,
    /// Share the node's PID namespace.
    pub host_pid: bool,
    /// Share the node's IPC namespace.
    pub host_ipc: bool,
    /// Some container of the pod runs privileged (CRI refuses privileged containers in a
    /// sandbox not created privileged).
    pub privileged: bool,
    /// hostPort mappings (ignored for host-network pods).
    pub port_mappings: Vec<PortMapping>,
    /// Labels to set on the sandbox (see [`crate::labels`]).
    pub labels: BTreeMap<String, String>,
    /// Annotations to set on the sandbox; runtimes without annotations store them as labels.
    pub annotations: BTreeMap<String, String>,
    /// Directory for the pod's container logs (CRI log format), already created.
    pub log_directory: PathBuf,
    /// The pod-level seccomp profile, for the sandbox's own (pause) process.
    pub seccomp: Seccomp,
    /// `oom_score_adj` of the sandbox's own (pause) process, where the runtime takes one.
    pub oom_score_adj: Option<i64>,
    /// `shareProcessNamespace`: the containers share the sandbox's PID namespace (unless
    /// `host_pid`, which wins).
    pub share_process_namespace: bool,
    /// The pod's `sysctls`, set in the sandbox's namespaces.
    pub sysctls: BTreeMap<String, String>,
    /// `hostUsers: false`: the pod's own user namespace of 65536 IDs. A backend whose
    /// runtime cannot give one refuses the sandbox, as the kubelet refuses such a pod on
    /// such a runtime: it never runs in the node's user namespace instead.
    pub user_namespace: bool,
}

/// A bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Path on the host (already resolved and created where the volume type says so).
    pub host_path: PathBuf,
    /// Path inside the container.
    pub container_path: String,
    /// Mount read-only.
    pub read_only: bool,
    /// How mounts propagate between the node and the container.
    pub propagation: Propagation,
}

/// Mount propagation of a bind mount, as `mountPropagation` asks for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// `rprivate`: the kubelet's default (`None`).
    #[default]
    Private,
    /// `rslave`: the node's later mounts under the path reach the container.
    HostToContainer,
    /// `rshared`: and the container's reach the node (privileged containers only).
    Bidirectional,
}

/// The AppArmor profile of a container, as `appArmorProfile` asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AppArmor {
    /// None asked for: the runtime's default where the host has AppArmor.
    #[default]
    Unset,
    /// The runtime's default profile, asked for.
    RuntimeDefault,
    /// No profile.
    Unconfined,
    /// A profile loaded on the node, by name.
    Localhost(String),
}

/// The seccomp profile a process runs under, resolved as the kubelet resolves
/// `seccompProfile` (container over pod, then `--seccomp-default`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// No filter. The kubelet's default without `--seccomp-default`; Docker and Podman apply
    /// their own default profile unless told this.
    #[default]
    Unconfined,
    /// The runtime's default profile.
    RuntimeDefault,
    /// A profile file on the node (absolute: under `<root-dir>/seccomp`).
    Localhost(PathBuf),
}

/// The user an image runs as when the manifest does not say (its `USER`), as CRI's
/// `ImageStatus` reports it: a numeric uid, or a name that cannot be checked without the
/// image's `/etc/passwd`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUser {
    /// The uid, when the image names its user by number.
    pub uid: Option<i64>,
    /// The user's name, when the image names it by name; empty otherwise.
    pub username: String,
}

impl ImageUser {
    /// The user of an image's `Config.User` (`1000`, `1000:1000`, `nobody`, `nobody:nogroup`
    /// or empty), read as containerd's `getUserFromImage`: the group is dropped, a number is
    /// a uid, anything else a name. An empty one is neither.
    pub fn parse(user: &str) -> Self {
        let user = user.split(':').next().unwrap_or_default();
        match user.parse::<i64>() {
            Ok(uid) => ImageUser {
                uid: Some(uid),
                username: String::new(),
            },
            Err(_) => ImageUser {
                uid: None,
                username: user.to_owned(),
            },
        }
    }
}

/// Linux security settings of a container, already merged from pod and container level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Run privileged.
    pub privileged: bool,
    /// UID to run as.
    pub run_as_user: Option<i64>,
    /// GID to run as.
    pub run_as_group: Option<i64>,
    /// Capabilities to add, without the `CAP_` prefix.
    pub capabilities_add: Vec<String>,
    /// Capabilities to drop, without the `CAP_` prefix.
    pub capabilities_drop: Vec<String>,
    /// Mount the root filesystem read-only.
    pub read_only_root_filesystem: bool,
    /// `no_new_privs` is set when this is false.
    pub allow_privilege_escalation: bool,
    /// The seccomp profile.
    pub seccomp: Seccomp,
    /// Groups the process is in besides its own (`supplementalGroups`, then `fsGroup`).
    pub supplemental_groups: Vec<i64>,
    /// The AppArmor profile.
    pub apparmor: AppArmor,
}

impl SecurityConfig {
    /// The user as Docker and libpod take it: `uid` or `uid:gid`; `None` keeps the image's.
    /// A group without a user cannot be expressed without also choosing a user, so the
    /// image's user is kept and the group ignored, with a warning naming `runtime`.
    pub fn user(&self, runtime: &str) -> Option<String> {
        match (self.run_as_user, self.run_as_group) {
            (Some(uid), Some(gid)) => Some(format!("{uid}:{gid}")),
            (Some(uid), None) => Some(uid.to_string()),
            (None, Some(gid)) => {
                tracing::warn!(gid, "runAsGroup without runAsUser is ignored on {runtime}");
                None
            }
            (None, None) => None,
        }
    }
}

/// Resource limits of a container, in runtime units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceConfig {
    /// CPU limit in millicores.
    pub cpu_limit_millis: Option<u64>,
    /// CPU request in millicores (becomes cpu shares).
    pub cpu_request_millis: Option<u64>,
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// `oom_score_adj` of the container's processes; `None` leaves the runtime's.
    pub oom_score_adj: Option<i64>,
}

/// Everything a backend needs to create one container in a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerConfig {
    /// Container name from the manifest.
    pub name: String,
    /// Restart count: 0 for the first start, then one more per restart.
    pub attempt: u32,
    /// Image reference.
    pub image: String,
    /// Overrides the image's entrypoint when not empty (Kubernetes `command`).
    pub command: Vec<String>,
    /// Overrides the image's cmd when not empty (Kubernetes `args`).
    pub args: Vec<String>,
    /// Working directory, when set.
    pub working_dir: Option<String>,
    /// Environment, in order, with `$(VAR)` references already expanded.
    pub env: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Security settings.
    pub security: SecurityConfig,
    /// Resource limits.
    pub resources: ResourceConfig,
    /// Labels to set (see [`crate::labels`]).
    pub labels: BTreeMap<String, String>,
    /// Annotations to set; runtimes without annotations store them as labels.
    pub annotations: BTreeMap<String, String>,
    /// Log file path relative to the sandbox's log directory (`<name>/<attempt>.log`).
    pub log_path: PathBuf,
    /// The signal that stops it (`lifecycle.stopSignal`, a name [`crate::signal::number`]
    /// knows), instead of the image's `STOPSIGNAL` or `SIGTERM`.
    pub stop_signal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_user_is_a_uid_or_a_name_without_its_group() {
        let user = |uid, name: &str| ImageUser {
            uid,
            username: name.to_owned(),
        };
        assert_eq!(ImageUser::parse(""), user(None, ""));
        assert_eq!(ImageUser::parse("0"), user(Some(0), ""));
        assert_eq!(ImageUser::parse("1000:1000"), user(Some(1000), ""));
        assert_eq!(ImageUser::parse("root"), user(None, "root"));
        assert_eq!(ImageUser::parse("nobody:nogroup"), user(None, "nobody"));
    }

    #[test]
    fn only_an_absent_image_under_never_is_refused() {
        use PullPolicy::{Always, IfNotPresent, Never};
        let pull = |policy: PullPolicy, present| policy.must_pull("nginx:1.25", present).ok();
        assert_eq!(pull(Always, true), Some(true));
        assert_eq!(pull(Always, false), Some(true));
        assert_eq!(pull(IfNotPresent, true), Some(false));
        assert_eq!(pull(IfNotPresent, false), Some(true));
        assert_eq!(pull(Never, true), Some(false));
        let err = Never.must_pull("nginx:1.25", false).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::ImagePull { image, .. } if image == "nginx:1.25"),
            "{err:?}"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(
            source,
            "image nginx:1.25 is not present and the pull policy Never forbids pulling it"
        );
    }
}

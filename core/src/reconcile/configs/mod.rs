//! What the runtime is asked for: the sandbox and container configs of a pod, derived from
//! the defaulted manifest. Pure: paths and addresses come in as arguments.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::downward;
use super::env_file::{EnvFileError, EnvFiles};
use super::expand::{self, expand};
use super::hooks::Hook;
use super::hostname::{self, FqdnTooLong};
use super::observe::ContainerKind;
use super::ownership::Ownership;
use super::plan::Instance;
use super::security::{self, NodePolicy, SANDBOX_OOM_SCORE_ADJ};
use super::volumes::VolumeError;
use crate::manifest::defaults::StaticPod;
use crate::model::{Container, ImagePullPolicy, MountPropagation, PortProtocol};
use staticpod_runtime::labels;
use staticpod_runtime::{
    ContainerConfig, Mount, PortMapping, Propagation, Protocol, PullPolicy, ResourceConfig,
    SandboxConfig, SecurityConfig,
};

/// Where the agent keeps pods' files on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// `--root-dir`: each pod's `pods/<uid>` (its emptyDir volumes).
    pub root: PathBuf,
    /// `--pod-logs-dir` (the kubelet's `podLogsDir`, `/var/log/pods`): each pod's
    /// `<namespace>_<name>_<uid>` log directory, where CRI runtimes write its containers'
    /// logs.
    pub pod_logs: PathBuf,
}

/// Where a pod's files live on the node: `<root-dir>/pods/<uid>`.
pub fn pod_dir(root_dir: &Path, uid: &str) -> PathBuf {
    root_dir.join("pods").join(uid)
}

/// The log file of instance `attempt` of container `name`, in its pod's [`log_dir`]:
/// `<name>/<attempt>.log`, as the kubelet names it (`BuildContainerLogsDirectory`).
pub fn log_file(name: &str, attempt: u32) -> PathBuf {
    PathBuf::from(name).join(format!("{attempt}.log"))
}

/// The pod's log directory, laid out as the kubelet's:
/// `<pod-logs-dir>/<namespace>_<name>_<uid>`, holding `<container>/<attempt>.log`.
pub fn log_dir(pod_logs_dir: &Path, pod: &StaticPod) -> PathBuf {
    pod_logs_dir.join(format!(
        "{}_{}_{}",
        pod.namespace(),
        pod.full_name(),
        pod.uid()
    ))
}

/// The pod's kubelet-managed hosts file: `pods/<uid>/etc-hosts`.
pub fn hosts_file(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("etc-hosts")
}

/// The pod's resolver file, mounted at `/etc/resolv.conf`: `pods/<uid>/etc-resolv.conf`.
pub fn resolv_conf_file(root_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(root_dir, uid).join("etc-resolv.conf")
}

/// The file on the node that instance `attempt` of container `name` writes its termination
/// message to (mounted at its `terminationMessagePath`): `pods/<uid>/containers/<name>/<n>`.
pub fn termination_log(root_dir: &Path, uid: &str, name: &str, attempt: u32) -> PathBuf {
    pod_dir(root_dir, uid)
        .join("containers")
        .join(name)
        .join(attempt.to_string())
}

/// The most of a termination message that is read: its last 4 KiB, as the kubelet's
/// `MaxContainerTerminationMessageLength`.
pub const MAX_TERMINATION_MESSAGE: u64 = 4096;

/// Directory of an emptyDir volume.
pub fn empty_dir(root_dir: &Path, uid: &str, volume: &str) -> PathBuf {
    volume_dir(root_dir, uid, EMPTY_DIR_PLUGIN, volume)
}

/// The kubelet's name of the emptyDir plugin, the directory of a pod's emptyDir volumes.
pub const EMPTY_DIR_PLUGIN: &str = "kubernetes.io~empty-dir";

/// Directory of volume `volume` of plugin `plugin` (`kubernetes.io~empty-dir`, ...), as the
/// kubelet lays them out: `pods/<uid>/volumes/<plugin>/<volume>`.
pub fn volume_dir(root_dir: &Path, uid: &str, plugin: &str, volume: &str) -> PathBuf {
    pod_dir(root_dir, uid)
        .join("volumes")
        .join(plugin)
        .join(volume)
}

fn pod_labels(pod: &StaticPod) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY.to_string(),
            labels::MANAGED_BY_VALUE.to_string(),
        ),
        (labels::POD_NAME.to_string(), pod.full_name().to_string()),
        (
            labels::POD_NAMESPACE.to_string(),
            pod.namespace().to_string(),
        ),
        (labels::POD_UID.to_string(), pod.uid().to_string()),
        (labels::CONFIG_HASH.to_string(), pod.config_hash.clone()),
        (labels::SOURCE.to_string(), pod.kind.to_string()),
        (
            labels::NODE.to_string(),
            pod.pod.spec.node_name.clone().unwrap_or_default(),
        ),
    ])
}

/// The sandbox config of attempt `attempt` of a pod: its hostname is the kernel's name of
/// [`hostname::of`] (refused when an FQDN is too long), its seccomp profile is the pod's,
/// and its pause process gets dockershim's `oom_score_adj` (bounded by the node's floor).
pub fn sandbox_config(
    pod: &StaticPod,
    attempt: u32,
    dirs: &Dirs,
    policy: &NodePolicy,
) -> Result<SandboxConfig, FqdnTooLong> {
    let spec = &pod.pod.spec;
    let mut labels = pod.pod.metadata.labels.clone();
    labels.extend(pod_labels(pod));
    labels.insert(labels::SANDBOX_ATTEMPT.to_string(), attempt.to_string());
    let mut annotations = pod.pod.metadata.annotations.clone();
    annotations.insert(
        labels::POD_GRACE_PERIOD.to_string(),
        pod.grace_period().as_secs().to_string(),
    );
    let port_mappings = spec
        .containers
        .iter()
        .chain(&spec.init_containers)
        .flat_map(|c| &c.ports)
        .filter_map(|port| {
            let host_port = u16::try_from(port.host_port?).ok().filter(|p| *p > 0)?;
            Some(PortMapping {
                protocol: match port.protocol.unwrap_or(PortProtocol::Tcp) {
                    PortProtocol::Tcp => Protocol::Tcp,
                    PortProtocol::Udp => Protocol::Udp,
                    PortProtocol::Sctp => Protocol::Sctp,
                },
                container_port: u16::try_from(port.container_port).ok()?,
                host_port,
                host_ip: port.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect();
    let base_name = pod.pod.metadata.name.clone();
    let hostname = if spec.host_network {
        String::new()
    } else {
        hostname::of(pod, &policy.cluster_domain)
            .for_kernel(spec.set_hostname_as_fqdn.unwrap_or(false))?
    };
    Ok(SandboxConfig {
        name: base_name.clone(),
        namespace: pod.namespace().to_string(),
        uid: pod.uid().to_string(),
        attempt,
        hostname,
        host_network: spec.host_network,
        host_pid: spec.host_pid,
        host_ipc: spec.host_ipc,
        privileged: spec
            .containers
            .iter()
            .chain(&spec.init_containers)
            .any(|c| {
                c.security_context
                    .as_ref()
                    .and_then(|s| s.privileged)
                    .unwrap_or(false)
            }),
        port_mappings,
        labels,
        annotations,
        log_directory: log_dir(&dirs.pod_logs, pod),
        seccomp: policy.seccomp(pod, None, &dirs.root),
        oom_score_adj: Some(policy.bounded(SANDBOX_OOM_SCORE_ADJ)),
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        user_namespace: spec.host_users == Some(false),
        sysctls: spec
            .security_context
            .iter()
            .flat_map(|context| &context.sysctls)
            .map(|sysctl| (dotted(&sysctl.name), sysctl.value.clone()))
            .collect(),
    })
}

/// A sysctl's name with dots between its parts: one written with slashes
/// (`net/ipv4/conf/eno2.100/rp_filter`) has its dots and slashes swapped, as the kubelet's
/// `ConvertSysctlVariableToDotsSeparator` does.
pub fn dotted(name: &str) -> String {
    let first = name.find(['.', '/']);
    match first.map(|at| &name[at..=at]) {
        Some("/") => name
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}

/// Pull policy in runtime terms.
pub fn pull_policy(container: &Container) -> PullPolicy {
    match container.image_pull_policy {
        Some(ImagePullPolicy::Always) => PullPolicy::Always,
        Some(ImagePullPolicy::Never) => PullPolicy::Never,
        Some(ImagePullPolicy::IfNotPresent) | None => PullPolicy::IfNotPresent,
    }
}

/// Addresses and paths a container config needs from the node.
#[derive(Debug, Clone)]
pub struct NodeFacts<'a> {
    /// `--root-dir`.
    pub root_dir: &'a Path,
    /// The node's IP (`status.hostIP`).
    pub host_ip: &'a str,
    /// The pod's IP (`status.podIP`); the host IP for host-network pods.
    pub pod_ip: &'a str,
    /// The node's seccomp default, OOM floor and memory.
    pub policy: &'a NodePolicy,
}

/// Hash of a container's spec (the `io.kubernetes.container.hash` annotation).
pub fn container_hash(container: &Container) -> String {
    let digest = Sha256::digest(serde_json::to_vec(container).unwrap_or_default());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The config of one container instance. `mounts` are the resolved volume mounts (see
/// [`mount_requests`]), `env` its environment ([`resolve_env`]).
pub fn container_config(
    pod: &StaticPod,
    instance: &Instance,
    container: &Container,
    mounts: Vec<Mount>,
    env: Vec<(String, String)>,
    node: &NodeFacts<'_>,
) -> ContainerConfig {
    let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expand_all = |list: &[String]| list.iter().map(|s| expand(s, &vars)).collect::<Vec<_>>();
    let mut labels = pod_labels(pod);
    labels.insert(labels::CONTAINER_NAME.to_string(), container.name.clone());
    let mut annotations = BTreeMap::from([
        (
            labels::CONTAINER_HASH.to_string(),
            container_hash(container),
        ),
        (
            labels::CONTAINER_RESTART_COUNT.to_string(),
            instance.attempt.to_string(),
        ),
        (
            labels::BACKOFF_SINCE.to_string(),
            instance.backoff_since.to_string(),
        ),
        (
            labels::CONTAINER_KIND.to_string(),
            instance.kind.as_str().to_string(),
        ),
        (
            labels::POD_GRACE_PERIOD.to_string(),
            pod.grace_period().as_secs().to_string(),
        ),
    ]);
    let pre_stop = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|handler| Hook::of(container, handler).ok());
    if let Some(hook) = pre_stop {
        let json = serde_json::to_string(&hook).expect("a hook is plain data");
        annotations.insert(labels::PRE_STOP_HANDLER.to_string(), json);
    }
    if instance.kind == ContainerKind::Init && container.is_sidecar() {
        annotations.insert(
            labels::SIDECAR_INDEX.to_string(),
            instance.index.to_string(),
        );
    }
    ContainerConfig {
        name: container.name.clone(),
        attempt: instance.attempt,
        image: container.image.clone(),
        command: expand_all(&container.command),
        args: expand_all(&container.args),
        working_dir: container.working_dir.clone().filter(|d| !d.is_empty()),
        mounts,
        security: security(pod, container, node),
        resources: ResourceConfig {
            oom_score_adj: Some(node.policy.oom_score_adj(pod, container)),
            ..resources(container)
        },
        labels,
        annotations,
        log_path: log_file(&container.name, instance.attempt),
        stop_signal: container
            .lifecycle
            .as_ref()
            .and_then(|l| l.stop_signal.clone()),
        env,
    }
}

/// The container's environment, in order: `value` with `$(VAR)` references expanded from
/// the variables before it, or `valueFrom`'s pod field, resource or key of an env file
/// (`files`, read by [`EnvFiles::read`]). An optional key that is missing sets no variable.
pub fn resolve_env(
    pod: &StaticPod,
    container: &Container,
    node: &NodeFacts<'_>,
    files: &EnvFiles,
) -> Result<Vec<(String, String)>, EnvFileError> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(container.env.len());
    let addresses = downward::Addresses {
        pod_ip: node.pod_ip,
        host_ip: node.host_ip,
    };
    for var in &container.env {
        let source = var.value_from.as_ref();
        let value = if let Some(field) = source.and_then(|f| f.field_ref.as_ref()) {
            downward::field_value(pod, &field.field_path, addresses).unwrap_or_default()
        } else if let Some(selector) = source.and_then(|f| f.resource_field_ref.as_ref()) {
            downward::resource_value(pod, container, selector, node.policy).unwrap_or_default()
        } else if let Some(selector) = source.and_then(|f| f.file_key_ref.as_ref()) {
            match files.value(selector)? {
                Some(value) => value,
                None => continue,
            }
        } else {
            let vars: HashMap<&str, &str> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            expand(var.value.as_deref().unwrap_or_default(), &vars)
        };
        match env.iter_mut().find(|(name, _)| *name == var.name) {
            Some(existing) => existing.1 = value,
            None => env.push((var.name.clone(), value)),
        }
    }
    Ok(env)
}

fn security(pod: &StaticPod, container: &Container, node: &NodeFacts<'_>) -> SecurityConfig {
    let pod_context = pod.pod.spec.security_context.clone().unwrap_or_default();
    let context = container.security_context.clone().unwrap_or_default();
    let capabilities = context.capabilities.unwrap_or_default();
    SecurityConfig {
        privileged: context.privileged.unwrap_or(false),
        run_as_user: context.run_as_user.or(pod_context.run_as_user),
        run_as_group: context.run_as_group.or(pod_context.run_as_group),
        capabilities_add: capabilities.add,
        capabilities_drop: capabilities.drop,
        read_only_root_filesystem: context.read_only_root_filesystem.unwrap_or(false),
        allow_privilege_escalation: context.allow_privilege_escalation.unwrap_or(true),
        seccomp: node.policy.seccomp(pod, Some(container), node.root_dir),
        supplemental_groups: pod_context
            .supplemental_groups
            .iter()
            .copied()
            .chain(pod_context.fs_group)
            .collect(),
        apparmor: security::apparmor(pod, container),
    }
}

fn resources(container: &Container) -> ResourceConfig {
    let Some(resources) = &container.resources else {
        return ResourceConfig::default();
    };
    let millis = |map: &BTreeMap<String, crate::quantity::Quantity>, name: &str| {
        map.get(name).and_then(|q| u64::try_from(q.millis()).ok())
    };
    ResourceConfig {
        cpu_limit_millis: millis(&resources.limits, "cpu"),
        cpu_request_millis: millis(&resources.requests, "cpu").or(millis(&resources.limits, "cpu")),
        memory_limit_bytes: resources
            .limits
            .get("memory")
            .and_then(|q| u64::try_from(q.value()).ok()),
        oom_score_adj: None,
    }
}

/// One volume mount to prepare on the node before the container is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    /// The volume's directory or file on the node.
    pub volume_path: PathBuf,
    /// What the volume is made of.
    pub source: VolumeSource,
    /// `subPath` within the volume (or `subPathExpr`, expanded).
    pub sub_path: Option<String>,
    /// Path in the container.
    pub container_path: String,
    /// Read-only.
    pub read_only: bool,
    /// Its `mountPropagation`.
    pub propagation: Propagation,
    /// The pod's `fsGroup`, for a volume the agent makes (not a hostPath).
    pub ownership: Option<Ownership>,
}

/// How a volume's directory on the node is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A path of the node, checked or created as `hostPath.type` says.
    HostPath(Option<crate::model::HostPathType>),
    /// An emptyDir on disk: a directory under `--root-dir`.
    EmptyDir,
    /// An emptyDir of medium `Memory`: a tmpfs mounted on its directory, of at most `size`
    /// bytes.
    Tmpfs {
        /// The tmpfs's `size=`.
        size: Option<u64>,
    },
    /// A downward API volume or projection: files the agent writes, as the kubelet's
    /// atomic writer does.
    Files(Vec<downward::File>),
}

/// The mounts a container asks for, with their volumes resolved and each `subPathExpr`
/// expanded from the container's `env` (refused as the kubelet refuses it: a reference
/// without a value, an absolute path, or `..`).
pub fn mount_requests(
    pod: &StaticPod,
    container: &Container,
    env: &[(String, String)],
    root_dir: &Path,
    policy: &NodePolicy,
) -> Result<Vec<MountRequest>, VolumeError> {
    let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut requests = Vec::with_capacity(container.volume_mounts.len());
    for mount in &container.volume_mounts {
        let sub_path = match mount.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            Some(expr) => Some(sub_path_of(expr, &vars)?),
            None => mount.sub_path.clone().filter(|s| !s.is_empty()),
        };
        requests.extend(mount_request(pod, mount, sub_path, root_dir, policy));
    }
    Ok(requests)
}

/// The subPath a `subPathExpr` names, as the kubelet's `makeMounts` checks it.
fn sub_path_of(expr: &str, vars: &HashMap<&str, &str>) -> Result<String, VolumeError> {
    let refused = |why: String| VolumeError::SubPath {
        sub_path: expr.to_string(),
        why,
    };
    let sub_path = expand::expand_strict(expr, vars)
        .map_err(|missing| refused(format!("missing value for {}", missing.join(", "))))?;
    if sub_path.starts_with('/') {
        return Err(refused(format!(
            "error SubPath `{sub_path}` must not be an absolute path"
        )));
    }
    if sub_path.split('/').any(|part| part == "..") {
        return Err(refused(format!(
            "unable to provision SubPath `{sub_path}`: must not contain '..'"
        )));
    }
    Ok(sub_path)
}

fn mount_request(
    pod: &StaticPod,
    mount: &crate::model::VolumeMount,
    sub_path: Option<String>,
    root_dir: &Path,
    policy: &NodePolicy,
) -> Option<MountRequest> {
    let volume = pod.pod.spec.volumes.iter().find(|v| v.name == mount.name)?;
    let dir = |plugin| volume_dir(root_dir, pod.uid(), plugin, &volume.name);
    let mut read_only = mount.read_only;
    let (volume_path, source) = if let Some(host_path) = &volume.host_path {
        (
            PathBuf::from(&host_path.path),
            VolumeSource::HostPath(host_path.type_),
        )
    } else if let Some(empty_dir) = &volume.empty_dir {
        let source = if empty_dir.medium.as_deref() == Some("Memory") {
            VolumeSource::Tmpfs {
                size: memory_volume_size(pod, empty_dir, policy),
            }
        } else {
            VolumeSource::EmptyDir
        };
        (dir(EMPTY_DIR_PLUGIN), source)
    } else if let Some(downward_api) = &volume.downward_api {
        // The kubelet mounts downward API volumes read-only.
        read_only = true;
        let files =
            downward::volume_files(pod, &downward_api.items, downward_api.default_mode, policy);
        (
            dir("kubernetes.io~downward-api"),
            VolumeSource::Files(files),
        )
    } else if let Some(projected) = &volume.projected {
        read_only = true;
        let items: Vec<_> = projected
            .sources
            .iter()
            .filter_map(|s| s.downward_api.as_ref())
            .flat_map(|d| d.items.iter().cloned())
            .collect();
        let files = downward::volume_files(pod, &items, projected.default_mode, policy);
        (dir("kubernetes.io~projected"), VolumeSource::Files(files))
    } else {
        return None;
    };
    Some(MountRequest {
        ownership: fs_group(pod, &source, read_only),
        volume_path,
        source,
        sub_path,
        container_path: mount.mount_path.clone(),
        read_only,
        propagation: match mount.mount_propagation.unwrap_or_default() {
            MountPropagation::None => Propagation::Private,
            MountPropagation::HostToContainer => Propagation::HostToContainer,
            MountPropagation::Bidirectional => Propagation::Bidirectional,
        },
    })
}

/// The `fsGroup` a volume of `source` is given: every kind but a hostPath.
fn fs_group(pod: &StaticPod, source: &VolumeSource, read_only: bool) -> Option<Ownership> {
    if matches!(source, VolumeSource::HostPath(_)) {
        return None;
    }
    let context = pod.pod.spec.security_context.as_ref()?;
    Some(Ownership {
        gid: u32::try_from(context.fs_group?).ok()?,
        on_root_mismatch: context.fs_group_change_policy
            == Some(crate::model::FsGroupChangePolicy::OnRootMismatch),
        read_only,
    })
}

/// The size of a Memory emptyDir, as the kubelet's `calculateEmptyDirMemorySize`: the pod's
/// memory limit (the sum of its app containers' when each has one, else the node's
/// memory), bounded by `sizeLimit`.
fn memory_volume_size(
    pod: &StaticPod,
    empty_dir: &crate::model::EmptyDirVolumeSource,
    policy: &NodePolicy,
) -> Option<u64> {
    let limits: Option<u64> = pod
        .pod
        .spec
        .containers
        .iter()
        .map(|c| {
            c.resources
                .as_ref()
                .and_then(|r| r.limits.get("memory"))
                .and_then(|q| u64::try_from(q.value()).ok())
        })
        .sum();
    let pod_limit = limits
        .or(Some(policy.memory_capacity))
        .filter(|bytes| *bytes > 0);
    let size_limit = empty_dir
        .size_limit
        .as_ref()
        .and_then(|q| u64::try_from(q.value()).ok())
        .filter(|bytes| *bytes > 0);
    match (pod_limit, size_limit) {
        (Some(pod), Some(size)) => Some(pod.min(size)),
        (pod, size) => size.or(pod),
    }
}

#[cfg(test)]
mod tests;

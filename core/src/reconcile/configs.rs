//! What the runtime is asked for: the sandbox and container configs of a pod, derived from
//! the defaulted manifest. Pure: paths and addresses come in as arguments.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::expand::expand;
use super::hooks::Hook;
use super::plan::Instance;
use super::security::{NodePolicy, SANDBOX_OOM_SCORE_ADJ};
use crate::manifest::defaults::StaticPod;
use crate::model::{Container, ImagePullPolicy, PortProtocol};
use staticpod_runtime::labels;
use staticpod_runtime::{
    ContainerConfig, Mount, PortMapping, Protocol, PullPolicy, ResourceConfig, SandboxConfig,
    SecurityConfig,
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
    pod_dir(root_dir, uid)
        .join("volumes/kubernetes.io~empty-dir")
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

/// The sandbox config of attempt `attempt` of a pod: its seccomp profile is the pod's, and
/// its pause process gets dockershim's `oom_score_adj` (bounded by the node's floor).
pub fn sandbox_config(
    pod: &StaticPod,
    attempt: u32,
    dirs: &Dirs,
    policy: &NodePolicy,
) -> SandboxConfig {
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
    SandboxConfig {
        name: base_name.clone(),
        namespace: pod.namespace().to_string(),
        uid: pod.uid().to_string(),
        attempt,
        hostname: if spec.host_network {
            String::new()
        } else {
            spec.hostname.clone().unwrap_or(hostname_of(pod))
        },
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
    }
}

/// The kubelet uses the pod's name as its hostname, cut to 63 characters.
fn hostname_of(pod: &StaticPod) -> String {
    let name = pod.full_name();
    name[..name.len().min(63)]
        .trim_end_matches(['-', '.'])
        .to_string()
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
/// [`mount_requests`]).
pub fn container_config(
    pod: &StaticPod,
    instance: &Instance,
    container: &Container,
    mounts: Vec<Mount>,
    node: &NodeFacts<'_>,
) -> ContainerConfig {
    let env = resolve_env(pod, container, node);
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
        log_path: PathBuf::from(&container.name).join(format!("{}.log", instance.attempt)),
        stop_signal: container
            .lifecycle
            .as_ref()
            .and_then(|l| l.stop_signal.clone()),
        env,
    }
}

fn resolve_env(
    pod: &StaticPod,
    container: &Container,
    node: &NodeFacts<'_>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(container.env.len());
    for var in &container.env {
        let value = if let Some(field) = var.value_from.as_ref().and_then(|f| f.field_ref.as_ref())
        {
            match field.field_path.as_str() {
                "metadata.name" => pod.full_name().to_string(),
                "metadata.namespace" => pod.namespace().to_string(),
                "metadata.uid" => pod.uid().to_string(),
                "spec.nodeName" => pod.pod.spec.node_name.clone().unwrap_or_default(),
                "status.podIP" => node.pod_ip.to_string(),
                "status.hostIP" => node.host_ip.to_string(),
                _ => String::new(),
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
    env
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
    /// `hostPath.type`, for hostPath volumes.
    pub host_path_type: Option<crate::model::HostPathType>,
    /// True for emptyDir volumes (the directory is created).
    pub empty_dir: bool,
    /// `subPath` within the volume.
    pub sub_path: Option<String>,
    /// Path in the container.
    pub container_path: String,
    /// Read-only.
    pub read_only: bool,
}

/// The mounts a container asks for, with their volumes resolved.
pub fn mount_requests(
    pod: &StaticPod,
    container: &Container,
    root_dir: &Path,
) -> Vec<MountRequest> {
    container
        .volume_mounts
        .iter()
        .filter_map(|mount| {
            let volume = pod.pod.spec.volumes.iter().find(|v| v.name == mount.name)?;
            let (volume_path, host_path_type, empty_dir) =
                match (&volume.host_path, &volume.empty_dir) {
                    (Some(host_path), _) => {
                        (PathBuf::from(&host_path.path), host_path.type_, false)
                    }
                    (None, Some(_)) => (
                        self::empty_dir(root_dir, pod.uid(), &volume.name),
                        None,
                        true,
                    ),
                    (None, None) => return None,
                };
            Some(MountRequest {
                volume_path,
                host_path_type,
                empty_dir,
                sub_path: mount.sub_path.clone().filter(|s| !s.is_empty()),
                container_path: mount.mount_path.clone(),
                read_only: mount.read_only,
            })
        })
        .collect()
}

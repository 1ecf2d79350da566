//! The node as the Kubernetes API shows it: one v1 `Node`, from facts read on the host once
//! at start (kernel, OS image, CPUs, memory, machine and boot ids), the runtime's version,
//! and the node's health, so `kubectl get nodes` and `kubectl describe node` answer without
//! an API server.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::quantity::binary_si;
use crate::status::timestamp;

/// The most pods the kubelet admits by default (`maxPods`).
pub const MAX_PODS: u32 = 110;

/// What the host says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os_image: String,
    /// Go's name of the CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// CPUs the agent may use.
    pub cpus: u64,
    /// Memory in bytes (`MemTotal`).
    pub memory_bytes: u64,
    /// The bytes of huge pages the kernel holds, by resource name (`hugepages-2Mi`): the
    /// pages of each size in `/sys/kernel/mm/hugepages` times the size, as cAdvisor counts
    /// the kubelet's capacity.
    #[serde(default)]
    pub hugepages: BTreeMap<String, u64>,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// The lowest `oom_score_adj` a process started from here may be given, when there is
    /// one: without `CAP_SYS_RESOURCE` a process cannot go below its own (the kernel's rule),
    /// and a runtime started beside the agent is in the same place.
    pub oom_score_adj_floor: Option<i64>,
}

impl HostFacts {
    /// Reads the facts of this host; what cannot be read is left empty.
    pub fn read() -> Self {
        let file = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let os_image = file("/etc/os-release")
            .lines()
            .find_map(|line| line.strip_prefix("PRETTY_NAME="))
            .map(|value| value.trim_matches('"').to_string())
            .unwrap_or_else(|| "Linux".to_string());
        let memory_kib = file("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        HostFacts {
            kernel_version: file("/proc/sys/kernel/osrelease").trim().to_string(),
            os_image,
            architecture: go_architecture(std::env::consts::ARCH).to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            memory_bytes: memory_kib * 1024,
            hugepages: hugepages(Path::new("/sys/kernel/mm/hugepages")),
            machine_id: file("/etc/machine-id").trim().to_string(),
            boot_id: file("/proc/sys/kernel/random/boot_id").trim().to_string(),
            oom_score_adj_floor: oom_score_adj_floor(
                &file("/proc/self/status"),
                &file("/proc/self/uid_map"),
                &file("/proc/self/oom_score_adj"),
            ),
        }
    }
}

/// The huge pages under `dir` (`hugepages-2048kB/nr_hugepages`, ...), in bytes by resource
/// name; none when it cannot be read.
fn hugepages(dir: &Path) -> BTreeMap<String, u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let kib: u64 = name
                .to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let pages: u64 = std::fs::read_to_string(entry.path().join("nr_hugepages"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            let size = kib * 1024;
            Some((format!("hugepages-{}", binary_si(size)), pages * size))
        })
        .collect()
}

/// The size in bytes of the filesystem that holds `path` (the kubelet's ephemeral-storage
/// capacity is its root directory's), or of its nearest ancestor while it does not exist
/// yet; 0 when none can be read.
pub fn filesystem_bytes(path: &Path) -> u64 {
    path.ancestors()
        .find_map(|at| rustix::fs::statvfs(at).ok())
        .map_or(0, |fs| fs.f_blocks.saturating_mul(fs.f_frsize))
}

/// `CAP_SYS_RESOURCE`'s bit in a capability set.
const CAP_SYS_RESOURCE: u32 = 24;

/// The floor [`HostFacts::oom_score_adj_floor`] from this process's `/proc/self/status`
/// (its `CapEff`), `/proc/self/uid_map` and `/proc/self/oom_score_adj`: none with
/// `CAP_SYS_RESOURCE` in the initial user namespace, else its own score. Inside another user
/// namespace (`unshare --user`), `CapEff` lists every capability whatever the host's bounding
/// set holds, and none of them lowers a score: the kernel asks for `CAP_SYS_RESOURCE` in the
/// initial namespace.
fn oom_score_adj_floor(status: &str, uid_map: &str, own: &str) -> Option<i64> {
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())?;
    if effective & (1 << CAP_SYS_RESOURCE) != 0 && initial_user_namespace(uid_map) {
        return None;
    }
    own.trim().parse().ok()
}

/// Whether a `uid_map` is the initial user namespace's: every ID mapped onto itself.
fn initial_user_namespace(uid_map: &str) -> bool {
    uid_map.split_whitespace().eq(["0", "0", "4294967295"])
}

/// Rust's name of an architecture as Go (and so Kubernetes) spells it.
fn go_architecture(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The facts the `Node` object is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// The node's name.
    pub name: String,
    /// Its address as other hosts see it.
    pub address: String,
    /// The host.
    pub host: HostFacts,
    /// `<runtime>://<version>`, as the kubelet reports `containerRuntimeVersion`.
    pub runtime_version: String,
    /// When the agent started: the node's creation as the API shows it.
    pub started_at: Option<SystemTime>,
}

/// A v1 `Node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// `v1`.
    pub api_version: String,
    /// `Node`.
    pub kind: String,
    /// Name, labels, creation time.
    pub metadata: NodeMeta,
    /// Conditions, addresses, capacity, node info.
    pub status: NodeStatusView,
}

/// A `Node`'s metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMeta {
    /// The node's name.
    pub name: String,
    /// The node's name too, as the kubelet's nodes have no other UID here.
    pub uid: String,
    /// The kubelet's well-known labels.
    pub labels: BTreeMap<String, String>,
    /// When the agent started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

/// A `Node`'s status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatusView {
    /// `Ready` only: the other conditions need the kubelet's eviction manager.
    pub conditions: Vec<NodeCondition>,
    /// `InternalIP` and `Hostname`.
    pub addresses: Vec<NodeAddress>,
    /// CPU, memory and pods.
    pub capacity: BTreeMap<String, String>,
    /// The same as capacity: nothing is reserved.
    pub allocatable: BTreeMap<String, String>,
    /// What the node runs.
    pub node_info: NodeInfo,
}

/// A `Node`'s condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// `KubeletReady` or `KubeletNotReady`.
    pub reason: String,
    /// In words.
    pub message: String,
    /// When it was last computed.
    pub last_heartbeat_time: String,
}

/// A `Node`'s address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    /// `InternalIP` or `Hostname`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub address: String,
}

/// `nodeInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// `/etc/machine-id`.
    #[serde(rename = "machineID")]
    pub machine_id: String,
    /// The boot id.
    #[serde(rename = "bootID")]
    pub boot_id: String,
    /// The kernel.
    pub kernel_version: String,
    /// The distribution.
    pub os_image: String,
    /// `docker://20.10.24`, `containerd://1.6.20`, `podman://4.3.1`.
    pub container_runtime_version: String,
    /// `staticpod/<version>`, where kubectl shows the kubelet's version.
    pub kubelet_version: String,
    /// The same: there is no kube-proxy.
    pub kube_proxy_version: String,
    /// `linux`.
    pub operating_system: String,
    /// `amd64`, `arm64`.
    pub architecture: String,
}

impl NodeFacts {
    /// The `Node` with its `Ready` condition from `health` (the node's `/healthz`), at `now`.
    pub fn view(&self, health: Result<(), String>, now: SystemTime) -> NodeView {
        let host = &self.host;
        let version = format!("staticpod/v{}", env!("CARGO_PKG_VERSION"));
        let resources: BTreeMap<String, String> = BTreeMap::from([
            ("cpu".to_string(), host.cpus.to_string()),
            (
                "memory".to_string(),
                format!("{}Ki", host.memory_bytes / 1024),
            ),
            ("pods".to_string(), MAX_PODS.to_string()),
        ])
        .into_iter()
        .chain(
            host.hugepages
                .iter()
                .map(|(name, bytes)| (name.clone(), binary_si(*bytes))),
        )
        .collect();
        let (status, reason, message) = match health {
            Ok(()) => (
                "True",
                "KubeletReady",
                "staticpod is posting ready status".to_string(),
            ),
            Err(why) => ("False", "KubeletNotReady", why),
        };
        NodeView {
            api_version: "v1".to_string(),
            kind: "Node".to_string(),
            metadata: NodeMeta {
                name: self.name.clone(),
                uid: self.name.clone(),
                labels: BTreeMap::from([
                    ("kubernetes.io/arch".to_string(), host.architecture.clone()),
                    ("kubernetes.io/hostname".to_string(), self.name.clone()),
                    ("kubernetes.io/os".to_string(), "linux".to_string()),
                ]),
                creation_timestamp: self.started_at.map(timestamp),
            },
            status: NodeStatusView {
                conditions: vec![NodeCondition {
                    type_: "Ready".to_string(),
                    status: status.to_string(),
                    reason: reason.to_string(),
                    message,
                    last_heartbeat_time: timestamp(now),
                }],
                addresses: vec![
                    NodeAddress {
                        type_: "InternalIP".to_string(),
                        address: self.address.clone(),
                    },
                    NodeAddress {
                        type_: "Hostname".to_string(),
                        address: self.name.clone(),
                    },
                ],
                capacity: resources.clone(),
                allocatable: resources,
                node_info: NodeInfo {
                    machine_id: host.machine_id.clone(),
                    boot_id: host.boot_id.clone(),
                    kernel_version: host.kernel_version.clone(),
                    os_image: host.os_image.clone(),
                    container_runtime_version: self.runtime_version.clone(),
                    kubelet_version: version.clone(),
                    kube_proxy_version: version,
                    operating_system: "linux".to_string(),
                    architecture: host.architecture.clone(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn without_cap_sys_resource_the_floor_is_the_agents_own_score() {
        let status = |cap_eff: &str| format!("Name:\tstaticpod\nCapEff:\t{cap_eff}\n");
        let host = "         0          0 4294967295\n";
        assert_eq!(
            oom_score_adj_floor(&status("000001ffffffffff"), host, "-999\n"),
            None
        );
        assert_eq!(
            oom_score_adj_floor(&status("000001fffeffffff"), host, "0\n"),
            Some(0)
        );
        assert_eq!(
            oom_score_adj_floor(&status("000001fffeffffff"), host, "-500\n"),
            Some(-500)
        );
    }

    #[test]
    fn in_a_user_namespace_of_its_own_every_capability_still_leaves_a_floor() {
        let status = "Name:\tstaticpod\nCapEff:\t000001ffffffffff\n";
        // `unshare --user --map-root-user`: root inside is the invoking user outside.
        let mapped = "         0          0          1\n";
        assert_eq!(oom_score_adj_floor(status, mapped, "0\n"), Some(0));
    }

    #[test]
    fn the_node_says_what_it_runs_and_whether_it_is_ready() {
        let facts = NodeFacts {
            name: "node0".into(),
            address: "192.0.2.10".into(),
            host: HostFacts {
                kernel_version: "6.1.0".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                architecture: "amd64".into(),
                cpus: 2,
                memory_bytes: 4 * 1024 * 1024 * 1024,
                ..HostFacts::default()
            },
            runtime_version: "docker://20.10.24".into(),
            started_at: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_060);
        let node = facts.view(Ok(()), now);
        assert_eq!(node.status.capacity["memory"], "4194304Ki");
        assert_eq!(node.status.capacity["pods"], "110");
        assert_eq!(node.status.conditions[0].status, "True");
        assert_eq!(
            node.status.node_info.container_runtime_version,
            "docker://20.10.24"
        );
        let down = facts.view(Err("container runtime: down".into()), now);
        assert_eq!(down.status.conditions[0].reason, "KubeletNotReady");
        assert_eq!(down.status.conditions[0].message, "container runtime: down");
    }

    #[test]
    fn hugepages_are_counted_by_page_size_as_cadvisor_does() {
        let dir = tempfile::tempdir().unwrap();
        for (size, pages) in [("2048kB", "3\n"), ("1048576kB", "0\n")] {
            let at = dir.path().join(format!("hugepages-{size}"));
            std::fs::create_dir(&at).unwrap();
            std::fs::write(at.join("nr_hugepages"), pages).unwrap();
        }
        std::fs::create_dir(dir.path().join("not-a-size")).unwrap();
        let found = hugepages(dir.path());
        assert_eq!(
            found,
            BTreeMap::from([
                ("hugepages-1Gi".to_string(), 0),
                ("hugepages-2Mi".to_string(), 6 << 20),
            ])
        );
        let facts = NodeFacts {
            host: HostFacts {
                hugepages: found,
                ..HostFacts::default()
            },
            ..NodeFacts::default()
        };
        let capacity = facts.view(Ok(()), UNIX_EPOCH).status.capacity;
        assert_eq!(capacity["hugepages-2Mi"], "6Mi");
        assert_eq!(capacity["hugepages-1Gi"], "0");
    }

    #[test]
    fn this_hosts_facts_are_read() {
        let host = HostFacts::read();
        assert!(host.cpus >= 1);
        assert!(host.memory_bytes > 0, "{host:?}");
        assert!(!host.kernel_version.is_empty(), "{host:?}");
    }
}

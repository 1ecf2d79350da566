//! The CRI `PodSandboxConfig` for a pod, built from the core's [`SandboxConfig`] the way the
//! kubelet builds it (`kuberuntime_sandbox.go`).

use std::collections::{BTreeMap, HashMap};

use staticpod_runtime::{PortMapping, Protocol, SandboxConfig};

use crate::api::v1;
use crate::container::seccomp;

/// The namespaces a pod shares with the node, as the kubelet sets them on the sandbox and on
/// every container in it: the node's when `host*` is set, else the pod's own network and IPC,
/// and a PID namespace per container unless `shareProcessNamespace` makes it the pod's.
pub(crate) fn namespace_options(config: &SandboxConfig) -> v1::NamespaceOption {
    let mode = |host: bool, own: v1::NamespaceMode| {
        if host {
            v1::NamespaceMode::Node as i32
        } else {
            own as i32
        }
    };
    v1::NamespaceOption {
        network: mode(config.host_network, v1::NamespaceMode::Pod),
        pid: mode(
            config.host_pid,
            if config.share_process_namespace {
                v1::NamespaceMode::Pod
            } else {
                v1::NamespaceMode::Container
            },
        ),
        ipc: mode(config.host_ipc, v1::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The sandbox config sent with `RunPodSandbox` (and again with `CreateContainer`).
pub(crate) fn pod_sandbox_config(config: &SandboxConfig) -> v1::PodSandboxConfig {
    v1::PodSandboxConfig {
        metadata: Some(v1::PodSandboxMetadata {
            name: config.name.clone(),
            uid: config.uid.clone(),
            namespace: config.namespace.clone(),
            attempt: config.attempt,
        }),
        // runc refuses to set a hostname without a private UTS namespace, which a host-network
        // pod does not get; the node's own name shows through instead.
        hostname: if config.host_network {
            String::new()
        } else {
            config.hostname.clone()
        },
        log_directory: config.log_directory.to_string_lossy().into_owned(),
        // None: containerd then copies the node's resolv.conf, as for a `Default` DNS policy.
        dns_config: None,
        // A host-network pod listens on the node directly; mappings would only fail.
        port_mappings: if config.host_network {
            Vec::new()
        } else {
            config.port_mappings.iter().map(port_mapping).collect()
        },
        labels: hash_map(&config.labels),
        annotations: hash_map(&config.annotations),
        linux: Some(v1::LinuxPodSandboxConfig {
            security_context: Some(v1::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(config)),
                privileged: config.privileged,
                // The pause process's own; containerd gives it its `oom_score_adj` itself.
                seccomp: Some(seccomp(&config.seccomp)),
                ..Default::default()
            }),
            sysctls: hash_map(&config.sysctls),
            ..Default::default()
        }),
        windows: None,
    }
}

fn port_mapping(port: &PortMapping) -> v1::PortMapping {
    let protocol = match port.protocol {
        Protocol::Tcp => v1::Protocol::Tcp,
        Protocol::Udp => v1::Protocol::Udp,
        Protocol::Sctp => v1::Protocol::Sctp,
    };
    v1::PortMapping {
        protocol: protocol as i32,
        container_port: i32::from(port.container_port),
        host_port: i32::from(port.host_port),
        host_ip: port.host_ip.clone(),
    }
}

/// CRI maps are hash maps; ours are ordered.
pub(crate) fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;

    pub(crate) fn sandbox() -> SandboxConfig {
        SandboxConfig {
            attempt: 2,
            port_mappings: vec![
                PortMapping {
                    protocol: Protocol::Tcp,
                    container_port: 80,
                    host_port: 19080,
                    host_ip: String::new(),
                },
                PortMapping {
                    protocol: Protocol::Udp,
                    container_port: 53,
                    host_port: 19053,
                    host_ip: "127.0.0.1".into(),
                },
            ],
            labels: BTreeMap::from([
                ("io.kubernetes.pod.name".into(), "static-web-node0".into()),
                ("io.staticpod.managed-by".into(), "staticpod".into()),
            ]),
            annotations: BTreeMap::from([("io.staticpod.config-hash".into(), "abc123".into())]),
            log_directory: PathBuf::from("/var/lib/staticpod/pods/d9890f08"),
            seccomp: staticpod_runtime::Seccomp::default(),
            oom_score_adj: None,
            ..staticpod_testkit::sandbox_config(
                "static-web",
                "node0",
                "d9890f08374e33f99c31a2a034276178",
            )
        }
    }

    #[test]
    fn own_network_pod_gets_hostname_ports_and_private_namespaces() {
        let cri = pod_sandbox_config(&sandbox());
        let meta = cri.metadata.as_ref().unwrap();
        assert_eq!(
            (
                meta.name.as_str(),
                meta.namespace.as_str(),
                meta.uid.as_str(),
                meta.attempt
            ),
            (
                "static-web-node0",
                "default",
                "d9890f08374e33f99c31a2a034276178",
                2
            )
        );
        assert_eq!(cri.hostname, "static-web");
        assert_eq!(cri.log_directory, "/var/lib/staticpod/pods/d9890f08");
        assert_eq!(
            cri.port_mappings,
            vec![
                v1::PortMapping {
                    protocol: v1::Protocol::Tcp as i32,
                    container_port: 80,
                    host_port: 19080,
                    host_ip: String::new(),
                },
                v1::PortMapping {
                    protocol: v1::Protocol::Udp as i32,
                    container_port: 53,
                    host_port: 19053,
                    host_ip: "127.0.0.1".into(),
                },
            ]
        );
        let ns = cri
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(ns.network, v1::NamespaceMode::Pod as i32);
        assert_eq!(ns.pid, v1::NamespaceMode::Container as i32);
        assert_eq!(ns.ipc, v1::NamespaceMode::Pod as i32);
    }

    #[test]
    fn a_shared_process_namespace_and_the_sysctls_are_the_sandboxs() {
        let mut config = sandbox();
        config.share_process_namespace = true;
        config.sysctls = BTreeMap::from([("kernel.shm_rmid_forced".into(), "1".into())]);
        let linux = pod_sandbox_config(&config).linux.unwrap();
        assert_eq!(
            linux.sysctls,
            HashMap::from([("kernel.shm_rmid_forced".into(), "1".into())])
        );
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.pid, v1::NamespaceMode::Pod as i32);
        config.host_pid = true;
        assert_eq!(
            namespace_options(&config).pid,
            v1::NamespaceMode::Node as i32,
            "hostPID wins"
        );
    }

    #[test]
    fn labels_and_annotations_are_stored_verbatim() {
        let cri = pod_sandbox_config(&sandbox());
        assert_eq!(cri.labels.len(), 2);
        assert_eq!(cri.labels["io.staticpod.managed-by"], "staticpod");
        assert_eq!(cri.labels["io.kubernetes.pod.name"], "static-web-node0");
        assert_eq!(
            cri.annotations,
            HashMap::from([("io.staticpod.config-hash".into(), "abc123".into())])
        );
    }

    #[test]
    fn host_network_pod_has_no_hostname_and_no_port_mappings() {
        let mut config = sandbox();
        config.host_network = true;
        config.hostname = "static-web".into();
        let cri = pod_sandbox_config(&config);
        assert_eq!(cri.hostname, "");
        assert!(cri.port_mappings.is_empty());
        let ns = namespace_options(&config);
        assert_eq!(ns.network, v1::NamespaceMode::Node as i32);
        assert_eq!(ns.pid, v1::NamespaceMode::Container as i32);
        assert_eq!(ns.ipc, v1::NamespaceMode::Pod as i32);
    }

    #[test]
    fn host_pid_and_ipc_share_the_node_namespaces() {
        let mut config = sandbox();
        config.host_pid = true;
        config.host_ipc = true;
        let ns = namespace_options(&config);
        assert_eq!(ns.network, v1::NamespaceMode::Pod as i32);
        assert_eq!(ns.pid, v1::NamespaceMode::Node as i32);
        assert_eq!(ns.ipc, v1::NamespaceMode::Node as i32);
    }
}

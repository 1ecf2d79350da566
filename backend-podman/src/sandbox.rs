//! A pod's sandbox as a native Podman pod: its infra container, run from the
//! `--pod-infra-container-image`, holds the network, IPC and UTS namespaces its containers
//! join; the pod's hostPorts are published on it and `hostNetwork` is set on it, as
//! `podman pod create` would.

use std::collections::HashMap;

use podman_api::models::{Namespace, PortMapping};
use podman_api::opts::{PodCreateOpts, PodCreateOptsBuilder};
use staticpod_runtime::{SandboxConfig, Seccomp};
use staticpod_runtime::{labels, naming};

/// The create options of a pod's sandbox, with `pause_image` as its infra image.
///
/// `config.log_directory` is not used for the pod itself: each container's log goes under it
/// (see [`crate::container`]). Nor is `config.privileged`: unlike CRI, Podman runs a
/// privileged container in an ordinary pod.
pub(crate) fn pod_create_opts(config: &SandboxConfig, pause_image: &str) -> PodCreateOpts {
    let builder = PodCreateOpts::builder()
        .name(naming::sandbox_name(config))
        // Podman pods have no annotations: they are stored as labels.
        .labels(labels::merge::<HashMap<_, _>>(
            &config.labels,
            &config.annotations,
        ))
        // Our pause image instead of Podman's own (built around catatonit on first use), so
        // every backend runs the same sandbox image and no registry is needed.
        .infra_image(pause_image)
        // The sandbox outlives its containers, as a kubelet sandbox does: the agent decides
        // when it goes. "stop" (what `kube play` uses) would take the pod's network down
        // when its last container exits.
        .exit_policy("continue")
        .shared_namespaces(shared_namespaces(config));
    let builder = match infra_seccomp(&config.seccomp) {
        Some(option) => builder.security_opt([option]),
        None => builder,
    };
    with_network(builder, config).build()
}

/// The pod-level seccomp profile as the infra container's `security_opt`, as the kubelet
/// gives it to a sandbox's own process; none keeps Podman's default profile.
fn infra_seccomp(seccomp: &Seccomp) -> Option<String> {
    match seccomp {
        Seccomp::Unconfined => Some("seccomp=unconfined".to_owned()),
        Seccomp::RuntimeDefault => None,
        Seccomp::Localhost(path) => Some(format!("seccomp={}", path.display())),
    }
}

/// The namespaces the pod's containers join. The PID namespace is each container's own,
/// Kubernetes' default, unless `shareProcessNamespace` (and no `hostPID`) makes it the pod's;
/// a `hostIPC` pod's containers use the node's IPC namespace instead of the pod's.
fn shared_namespaces(config: &SandboxConfig) -> Vec<&'static str> {
    let mut shared = Vec::with_capacity(4);
    if !config.host_ipc {
        shared.push("ipc");
    }
    shared.extend(["net", "uts"]);
    if config.share_process_namespace && !config.host_pid {
        shared.push("pid");
    }
    shared
}

fn with_network(builder: PodCreateOptsBuilder, config: &SandboxConfig) -> PodCreateOptsBuilder {
    if config.host_network {
        // The node's network and its hostname: Podman would otherwise give the pod a UTS
        // namespace of its own named after the pod, which a host-network pod on a kubelet
        // node does not have. hostPorts mean nothing here.
        let host = || Namespace {
            nsmode: Some("host".to_owned()),
            value: None,
        };
        return builder.netns(host()).utsns(host());
    }
    let builder = if config.hostname.is_empty() {
        builder
    } else {
        builder.hostname(&config.hostname)
    };
    if config.port_mappings.is_empty() {
        return builder;
    }
    builder.portmappings(config.port_mappings.iter().map(|mapping| PortMapping {
        container_port: Some(mapping.container_port),
        host_port: Some(mapping.host_port),
        host_ip: (!mapping.host_ip.is_empty()).then(|| mapping.host_ip.clone()),
        protocol: Some(mapping.protocol.as_str().to_owned()),
        range: None,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use staticpod_runtime::labels::{
        MANAGED_BY, MANAGED_BY_VALUE, NODE, POD_NAME, POD_NAMESPACE, POD_UID,
    };
    use staticpod_runtime::{PortMapping, Protocol};

    use super::*;

    fn pod() -> SandboxConfig {
        SandboxConfig {
            port_mappings: vec![
                PortMapping {
                    protocol: Protocol::Tcp,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new(),
                },
                PortMapping {
                    protocol: Protocol::Udp,
                    container_port: 53,
                    host_port: 5353,
                    host_ip: "127.0.0.1".into(),
                },
            ],
            ..staticpod_testkit::sandbox_config("static-web", "node0", "d9890f08")
        }
    }

    /// The JSON body libpod receives.
    fn body(config: &SandboxConfig) -> serde_json::Value {
        let opts = pod_create_opts(config, "registry.k8s.io/pause:3.9");
        serde_json::from_str(&opts.serialize().unwrap()).unwrap()
    }

    #[test]
    fn pod_network_sandbox_publishes_host_ports() {
        let body = body(&pod());
        assert_eq!(
            body,
            json!({
                "name": "k8s_POD_static-web-node0_default_d9890f08_0",
                "labels": {
                    MANAGED_BY: MANAGED_BY_VALUE,
                    POD_NAME: "static-web-node0",
                    POD_NAMESPACE: "default",
                    POD_UID: "d9890f08",
                    NODE: "node0",
                    "kubernetes.io/config.source": "file",
                },
                "infra_image": "registry.k8s.io/pause:3.9",
                "exit_policy": "continue",
                "shared_namespaces": ["ipc", "net", "uts"],
                // The kubelet's default for the sandbox; Podman would apply its own profile.
                "security_opt": ["seccomp=unconfined"],
                "hostname": "static-web",
                "portmappings": [
                    {"container_port": 80, "host_port": 8080, "protocol": "tcp"},
                    {"container_port": 53, "host_port": 5353, "host_ip": "127.0.0.1",
                     "protocol": "udp"},
                ],
            })
        );
    }

    #[test]
    fn the_infra_container_runs_under_the_pods_seccomp_profile() {
        let mut config = pod();
        config.seccomp = Seccomp::RuntimeDefault;
        assert_eq!(body(&config).get("security_opt"), None, "Podman's default");
        config.seccomp = Seccomp::Localhost("/var/lib/staticpod/seccomp/audit.json".into());
        assert_eq!(
            body(&config)["security_opt"],
            json!(["seccomp=/var/lib/staticpod/seccomp/audit.json"])
        );
    }

    #[test]
    fn a_shared_process_namespace_is_the_pods_unless_the_hosts() {
        let mut config = pod();
        config.share_process_namespace = true;
        assert_eq!(
            body(&config)["shared_namespaces"],
            json!(["ipc", "net", "uts", "pid"])
        );
        config.host_pid = true;
        config.host_ipc = true;
        assert_eq!(body(&config)["shared_namespaces"], json!(["net", "uts"]));
    }

    #[test]
    fn host_network_pod_takes_the_nodes_network_and_hostname() {
        let mut config = pod();
        config.host_network = true;
        config.hostname = String::new();
        let body = body(&config);
        assert_eq!(body["netns"], json!({"nsmode": "host"}));
        assert_eq!(body["utsns"], json!({"nsmode": "host"}));
        assert_eq!(body.get("hostname"), None);
        assert_eq!(
            body.get("portmappings"),
            None,
            "hostPorts mean nothing here"
        );
    }

    #[test]
    fn host_ipc_pod_does_not_share_its_own_ipc_namespace() {
        let mut config = pod();
        config.host_ipc = true;
        config.port_mappings.clear();
        let body = body(&config);
        assert_eq!(body["shared_namespaces"], json!(["net", "uts"]));
        assert_eq!(body.get("portmappings"), None);
        assert_eq!(body.get("netns"), None);
    }
}

//! The pause container that stands for a pod's sandbox on Docker: it owns the pod's network
//! and IPC namespaces (and its PID namespace unless `hostPID`), and the pod's hostPorts are
//! published on it, as dockershim did.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use staticpod_runtime::SandboxConfig;
use staticpod_runtime::labels::CONTAINER_NAME;

use crate::container::{SeccompOption, log_config, seccomp_option};
use crate::labels::{DOCKER_TYPE, DOCKER_TYPE_SANDBOX, docker_labels};
use staticpod_runtime::logs::{DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE};

/// The `io.kubernetes.container.name` of every sandbox, as dockershim wrote it.
pub const SANDBOX_CONTAINER_NAME: &str = "POD";

/// The create body of a pod's pause container.
///
/// `config.log_directory` is not used: Docker keeps each container's log itself (json-file
/// driver) and the agent reads it back through Docker.
pub(crate) fn sandbox_body(
    config: &SandboxConfig,
    pause_image: &str,
    seccomp: &SeccompOption,
) -> ContainerCreateBody {
    let labels = docker_labels(
        &config.labels,
        &config.annotations,
        &[
            (DOCKER_TYPE, DOCKER_TYPE_SANDBOX),
            (CONTAINER_NAME, SANDBOX_CONTAINER_NAME),
        ],
    );

    let mut host_config = HostConfig {
        // Containers join this IPC namespace with `container:<id>`, which Docker allows only
        // for a shareable one; its default is private.
        ipc_mode: Some(if config.host_ipc { "host" } else { "shareable" }.to_owned()),
        pid_mode: config.host_pid.then(|| "host".to_owned()),
        // The pause container writes nothing: the defaults.
        log_config: Some(log_config(DEFAULT_MAX_SIZE, DEFAULT_MAX_FILES)),
        // dockershim's: the pod's seccomp profile and `PodInfraOOMAdj`.
        security_opt: seccomp_option(seccomp).map(|option| vec![option]),
        oom_score_adj: config.oom_score_adj,
        // The pause container owns the namespaces the pod's sysctls are of, as dockershim
        // set them.
        sysctls: (!config.sysctls.is_empty()).then(|| config.sysctls.clone().into_iter().collect()),
        ..Default::default()
    };
    let mut body = ContainerCreateBody {
        image: Some(pause_image.to_owned()),
        labels: Some(labels),
        ..Default::default()
    };

    if config.host_network {
        // The node's own network and hostname: runc refuses a hostname without a private
        // UTS namespace, and hostPorts mean nothing on the host network.
        host_config.network_mode = Some("host".to_owned());
    } else {
        if !config.hostname.is_empty() {
            body.hostname = Some(config.hostname.clone());
        }
        let (exposed, bindings) = published_ports(config);
        if !bindings.is_empty() {
            body.exposed_ports = Some(exposed);
            host_config.port_bindings = Some(bindings);
        }
    }
    body.host_config = Some(host_config);
    body
}

/// `ExposedPorts` and `PortBindings` for the pod's hostPorts; several host ports may map to
/// one container port.
fn published_ports(
    config: &SandboxConfig,
) -> (Vec<String>, HashMap<String, Option<Vec<PortBinding>>>) {
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for mapping in &config.port_mappings {
        let key = format!("{}/{}", mapping.container_port, mapping.protocol.as_str());
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(mapping.host_ip.clone()),
                host_port: Some(mapping.host_port.to_string()),
            });
    }
    (exposed, bindings)
}

#[cfg(test)]
mod tests {
    use staticpod_runtime::labels::{MANAGED_BY, MANAGED_BY_VALUE};
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
                    protocol: Protocol::Tcp,
                    container_port: 80,
                    host_port: 8081,
                    host_ip: "127.0.0.1".into(),
                },
                PortMapping {
                    protocol: Protocol::Udp,
                    container_port: 53,
                    host_port: 5353,
                    host_ip: String::new(),
                },
            ],
            ..staticpod_testkit::sandbox_config("static-web", "node0", "d9890f08")
        }
    }

    #[test]
    fn pod_network_sandbox_publishes_host_ports_and_shares_ipc() {
        let body = sandbox_body(
            &pod(),
            "registry.k8s.io/pause:3.9",
            &SeccompOption::RuntimeDefault,
        );
        assert_eq!(body.image.as_deref(), Some("registry.k8s.io/pause:3.9"));
        assert_eq!(body.hostname.as_deref(), Some("static-web"));
        assert_eq!(
            body.exposed_ports,
            Some(vec!["80/tcp".to_owned(), "53/udp".to_owned()])
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode, None);
        assert_eq!(host.ipc_mode.as_deref(), Some("shareable"));
        assert_eq!(host.pid_mode, None);
        let bindings = host.port_bindings.unwrap();
        assert_eq!(
            bindings["80/tcp"],
            Some(vec![
                PortBinding {
                    host_ip: Some(String::new()),
                    host_port: Some("8080".into())
                },
                PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some("8081".into())
                },
            ])
        );
        assert_eq!(
            bindings["53/udp"],
            Some(vec![PortBinding {
                host_ip: Some(String::new()),
                host_port: Some("5353".into())
            }])
        );
        let labels = body.labels.unwrap();
        assert_eq!(labels[DOCKER_TYPE], "podsandbox");
        assert_eq!(labels[CONTAINER_NAME], "POD");
        assert_eq!(labels[MANAGED_BY], MANAGED_BY_VALUE);
        assert_eq!(labels["kubernetes.io/config.source"], "file");
    }

    #[test]
    fn host_namespaces() {
        let mut config = pod();
        config.host_network = true;
        config.host_pid = true;
        config.host_ipc = true;
        let body = sandbox_body(&config, "pause", &SeccompOption::RuntimeDefault);
        assert_eq!(body.hostname, None);
        assert_eq!(body.exposed_ports, None);
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.ipc_mode.as_deref(), Some("host"));
        assert_eq!(host.pid_mode.as_deref(), Some("host"));
        assert_eq!(host.port_bindings, None);
    }

    #[test]
    fn the_pods_sysctls_are_the_pause_containers() {
        let mut config = pod();
        let body = sandbox_body(&config, "pause", &SeccompOption::RuntimeDefault);
        assert_eq!(body.host_config.unwrap().sysctls, None);
        config.sysctls = [(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string(),
        )]
        .into();
        let body = sandbox_body(&config, "pause", &SeccompOption::RuntimeDefault);
        assert_eq!(
            body.host_config.unwrap().sysctls,
            Some(HashMap::from([(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "0".to_string()
            )]))
        );
    }

    #[test]
    fn body_serializes_as_docker_expects() {
        let body = sandbox_body(&pod(), "pause", &SeccompOption::RuntimeDefault);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["ExposedPorts"]["80/tcp"], serde_json::json!({}));
        assert_eq!(
            json["HostConfig"]["PortBindings"]["80/tcp"][0],
            serde_json::json!({"HostIp": "", "HostPort": "8080"})
        );
    }
}

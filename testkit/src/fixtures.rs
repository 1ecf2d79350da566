//! The configs the agent would hand a backend for a test pod, on a node no agent runs as.

use std::collections::BTreeMap;
use std::path::PathBuf;

use staticpod_runtime::labels::{
    CONTAINER_NAME, MANAGED_BY, MANAGED_BY_VALUE, NODE, POD_NAME, POD_NAMESPACE, POD_UID,
};
use staticpod_runtime::{ContainerConfig, ResourceConfig, SandboxConfig, SecurityConfig};

/// The node a suite's test objects claim, `<suite>-<pid>`: one no agent runs as, so an agent
/// sharing the runtime (a demo, the cli's tests) leaves them alone.
pub fn test_node(suite: &str) -> String {
    format!("{suite}-{}", std::process::id())
}

/// The sandbox config the agent would hand over for pod `name` on `node` with `uid`: full
/// name `<name>-<node>`, namespace `default`, hostname `name`, the pod's own namespaces, no
/// hostPorts, the agent's pod labels (managed-by, pod name, namespace and UID, node), a
/// `kubernetes.io/config.source` annotation, and the kubelet's log directory.
pub fn sandbox_config(name: &str, node: &str, uid: &str) -> SandboxConfig {
    let full_name = format!("{name}-{node}");
    SandboxConfig {
        name: full_name.clone(),
        namespace: "default".into(),
        uid: uid.into(),
        attempt: 0,
        hostname: name.into(),
        host_network: false,
        host_pid: false,
        host_ipc: false,
        privileged: false,
        port_mappings: vec![],
        labels: BTreeMap::from([
            (MANAGED_BY.into(), MANAGED_BY_VALUE.into()),
            (POD_NAME.into(), full_name),
            (POD_NAMESPACE.into(), "default".into()),
            (POD_UID.into(), uid.into()),
            (NODE.into(), node.into()),
        ]),
        annotations: BTreeMap::from([("kubernetes.io/config.source".into(), "file".into())]),
        log_directory: PathBuf::from(format!("/var/log/pods/default_{name}_{uid}")),
        seccomp: staticpod_runtime::Seccomp::default(),
        oom_score_adj: None,
        share_process_namespace: false,
        user_namespace: false,
        sysctls: BTreeMap::new(),
    }
}

/// The config the agent would hand over for container `name` from `image` in `pod`: the
/// image's own command, no env or mounts, privilege escalation allowed (the Kubernetes
/// default), the pod's labels with the container's name, and its first attempt's log at
/// `<name>/0.log`.
pub fn container_config(name: &str, image: &str, pod: &SandboxConfig) -> ContainerConfig {
    let mut labels = pod.labels.clone();
    labels.insert(CONTAINER_NAME.into(), name.into());
    ContainerConfig {
        name: name.into(),
        attempt: 0,
        image: image.into(),
        command: vec![],
        args: vec![],
        working_dir: None,
        env: vec![],
        mounts: vec![],
        security: SecurityConfig {
            allow_privilege_escalation: true,
            ..Default::default()
        },
        resources: ResourceConfig::default(),
        labels,
        annotations: BTreeMap::new(),
        log_path: PathBuf::from(format!("{name}/0.log")),
        stop_signal: None,
    }
}

//! The create spec of a pod's container, as libpod's `SpecGenerator` JSON: Kubernetes'
//! command/args, env, mounts, security and resources in Podman's terms, in the pod whose
//! namespaces it joins. Only the fields we set are written; libpod defaults the rest.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use staticpod_runtime::cpu::{CPU_PERIOD_MICROS, cpu_quota, cpu_shares};
use staticpod_runtime::{
    AppArmor, ContainerConfig, Mount, Propagation, ResourceConfig, SandboxConfig, Seccomp,
};
use staticpod_runtime::{labels, naming, signal};

/// Largest log file before Podman truncates it, the kubelet's default `containerLogMaxSize`,
/// for a log the agent does not rotate.
const LOG_MAX_BYTES: i64 = 10 * 1024 * 1024;
/// The log size at which Podman never truncates (conmon gets no `--log-size-max`).
pub(crate) const NO_TRUNCATION: i64 = -1;

/// libpod's `SpecGenerator`, reduced to what a pod's container needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ContainerSpec {
    pub name: String,
    /// The pod (sandbox) id: the container joins its shared namespaces.
    pub pod: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_working_dir: bool,
    pub labels: HashMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<SpecMount>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_filesystem: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_new_privileges: bool,
    /// `unconfined`, or a profile file; unset for Podman's default profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp_profile_path: Option<String>,
    /// The supplemental groups, as numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `unconfined` or a loaded profile's name; unset for Podman's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// The pod's sysctls, set by every container in the namespaces it shares with the pod.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<Resources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pidns: Option<SpecNamespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipcns: Option<SpecNamespace>,
    pub healthconfig: HealthConfig,
    /// `"false"`: Kubernetes never runs a container in systemd mode, whatever its command.
    pub systemd: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// `lifecycle.stopSignal`, as libpod takes it: a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<i64>,
}

/// An OCI mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SpecMount {
    pub destination: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub options: Vec<&'static str>,
}

/// A namespace setting (`{"nsmode": "host"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SpecNamespace {
    pub nsmode: &'static str,
}

/// The healthcheck: always disabled. Probes are run by the agent; Podman would run an
/// image's HEALTHCHECK (with `curl` inside the image, from systemd timers we do not have).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HealthConfig {
    #[serde(rename = "Test")]
    pub test: [&'static str; 1],
}

/// Where the container's log goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LogConfiguration {
    pub driver: &'static str,
    pub path: String,
    pub size: i64,
}

/// OCI `LinuxResources`, reduced to CPU and memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// CFS quota and shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Cpu {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<i64>,
}

/// Memory limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Memory {
    pub limit: i64,
}

/// The create spec of `config` in pod `sandbox_id`.
///
/// The log goes, in the CRI format of Podman's `k8s-file` driver, to
/// `sandbox.log_directory/config.log_path`, where the kubelet would put it; the caller creates
/// the directory.
pub(crate) fn container_spec(
    config: &ContainerConfig,
    sandbox: &SandboxConfig,
    sandbox_id: &str,
) -> ContainerSpec {
    let host = || SpecNamespace { nsmode: "host" };
    let working_dir = config.working_dir.clone().filter(|dir| !dir.is_empty());
    let security = &config.security;
    ContainerSpec {
        name: naming::container_name(config, sandbox),
        pod: sandbox_id.to_owned(),
        image: config.image.clone(),
        // Kubernetes' `command` replaces the entrypoint and `args` the cmd. libpod uses the
        // image's cmd only when no entrypoint is given, which is also Kubernetes' rule: with
        // `command` set and `args` empty, the image's cmd is dropped.
        entrypoint: non_empty(&config.command),
        command: non_empty(&config.args),
        env: config.env.iter().cloned().collect(),
        // Docker and containerd create a missing working directory; so does libpod, if asked.
        create_working_dir: working_dir.is_some(),
        work_dir: working_dir,
        // Annotations would go to the OCI runtime, where `podman ps` and the list filters do
        // not see them: they are stored as labels, as on Docker.
        labels: labels::merge(&config.labels, &config.annotations),
        mounts: config
            .mounts
            .iter()
            .map(|mount| SpecMount {
                destination: mount.container_path.clone(),
                source: mount.host_path.display().to_string(),
                kind: "bind",
                options: mount_options(mount),
            })
            .collect(),
        privileged: security.privileged,
        user: security.user("Podman"),
        cap_add: security.capabilities_add.clone(),
        cap_drop: security.capabilities_drop.clone(),
        read_only_filesystem: security.read_only_root_filesystem,
        no_new_privileges: !security.allow_privilege_escalation,
        seccomp_profile_path: match &security.seccomp {
            Seccomp::Unconfined => Some("unconfined".to_owned()),
            Seccomp::RuntimeDefault => None,
            Seccomp::Localhost(path) => Some(path.display().to_string()),
        },
        groups: security
            .supplemental_groups
            .iter()
            .map(i64::to_string)
            .collect(),
        apparmor_profile: match &security.apparmor {
            AppArmor::Unset | AppArmor::RuntimeDefault => None,
            AppArmor::Unconfined => Some("unconfined".to_owned()),
            AppArmor::Localhost(name) => Some(name.clone()),
        },
        sysctl: sandbox.sysctls.clone(),
        oom_score_adj: config.resources.oom_score_adj,
        resource_limits: resources(&config.resources),
        pidns: sandbox.host_pid.then(host),
        ipcns: sandbox.host_ipc.then(host),
        healthconfig: HealthConfig { test: ["NONE"] },
        systemd: "false",
        log_configuration: Some(LogConfiguration {
            driver: "k8s-file",
            path: log_file(sandbox, config).display().to_string(),
            size: LOG_MAX_BYTES,
        }),
        // Validation let only names with a number through.
        stop_signal: config.stop_signal.as_deref().and_then(signal::number),
    }
}

/// A bind mount's options: recursive, read-only or not, and its propagation (`rslave` or
/// `rshared`; Podman's own default is the kubelet's `rprivate`).
fn mount_options(mount: &Mount) -> Vec<&'static str> {
    let mut options = vec!["rbind", if mount.read_only { "ro" } else { "rw" }];
    match mount.propagation {
        Propagation::Private => {}
        Propagation::HostToContainer => options.push("rslave"),
        Propagation::Bidirectional => options.push("rshared"),
    }
    options
}

/// The container's log file: `log_directory/<name>/<attempt>.log`.
pub(crate) fn log_file(sandbox: &SandboxConfig, config: &ContainerConfig) -> std::path::PathBuf {
    Path::new(&sandbox.log_directory).join(&config.log_path)
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

fn resources(resources: &ResourceConfig) -> Option<Resources> {
    let mut cpu = Cpu::default();
    if let Some(millis) = resources.cpu_limit_millis {
        cpu.period = Some(CPU_PERIOD_MICROS);
        cpu.quota = Some(cpu_quota(millis));
    }
    // Shares only when the pod asks for CPU, as on Docker: the kubelet's minimum of 2 for a
    // best-effort container would starve it against every other container on the node.
    if let Some(millis) = resources.cpu_request_millis.or(resources.cpu_limit_millis) {
        cpu.shares = Some(cpu_shares(millis));
    }
    let limits = Resources {
        cpu: (cpu != Cpu::default()).then_some(cpu),
        memory: resources.memory_limit_bytes.map(|bytes| Memory {
            limit: i64::try_from(bytes).unwrap_or(i64::MAX),
        }),
    };
    (limits != Resources::default()).then_some(limits)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;
    use staticpod_runtime::SecurityConfig;
    use staticpod_runtime::labels::{CONTAINER_NAME, MANAGED_BY, MANAGED_BY_VALUE};

    use super::*;

    fn sandbox() -> SandboxConfig {
        staticpod_testkit::sandbox_config("static-web", "node0", "d9890f08")
    }

    fn web() -> ContainerConfig {
        ContainerConfig {
            attempt: 2,
            annotations: BTreeMap::from([("note".into(), "kept".into())]),
            log_path: PathBuf::from("web/2.log"),
            stop_signal: None,
            ..staticpod_testkit::container_config("web", "nginx:1.25", &sandbox())
        }
    }

    fn body(config: &ContainerConfig, sandbox: &SandboxConfig) -> serde_json::Value {
        serde_json::to_value(container_spec(config, sandbox, "pod123")).unwrap()
    }

    #[test]
    fn joins_the_pod_and_keeps_the_image_defaults() {
        // The container's labels, with its annotation stored as one more.
        let mut labels = web().labels;
        labels.insert("note".into(), "kept".into());
        assert_eq!(labels[CONTAINER_NAME], "web");
        assert_eq!(labels[MANAGED_BY], MANAGED_BY_VALUE);
        assert_eq!(
            body(&web(), &sandbox()),
            json!({
                "name": "k8s_web_static-web-node0_default_d9890f08_2",
                "pod": "pod123",
                "image": "nginx:1.25",
                "labels": labels,
                "healthconfig": {"Test": ["NONE"]},
                // The kubelet's default; Podman would apply its own profile without it.
                "seccomp_profile_path": "unconfined",
                "systemd": "false",
                "log_configuration": {
                    "driver": "k8s-file",
                    "path": "/var/log/pods/default_static-web_d9890f08/web/2.log",
                    "size": 10485760,
                },
            })
        );
    }

    #[test]
    fn seccomp_and_oom_score_reach_the_spec() {
        let mut config = web();
        config.resources.oom_score_adj = Some(-997);
        config.security.seccomp = Seccomp::RuntimeDefault;
        let spec = container_spec(&config, &sandbox(), "p");
        assert_eq!(spec.oom_score_adj, Some(-997));
        assert_eq!(spec.seccomp_profile_path, None, "Podman's default profile");
        config.security.seccomp = Seccomp::Localhost(PathBuf::from("/var/lib/s/seccomp/a.json"));
        let spec = container_spec(&config, &sandbox(), "p");
        assert_eq!(
            spec.seccomp_profile_path.as_deref(),
            Some("/var/lib/s/seccomp/a.json")
        );
    }

    #[test]
    fn command_replaces_entrypoint_and_args_replace_cmd() {
        let mut config = web();
        config.command = vec!["sh".into(), "-c".into()];
        config.args = vec!["exit 3".into()];
        let spec = container_spec(&config, &sandbox(), "p");
        assert_eq!(spec.entrypoint, Some(vec!["sh".into(), "-c".into()]));
        assert_eq!(spec.command, Some(vec!["exit 3".into()]));

        // Only args: the image's entrypoint stays, its cmd is replaced.
        config.command.clear();
        let spec = container_spec(&config, &sandbox(), "p");
        assert_eq!(spec.entrypoint, None);
        assert_eq!(spec.command, Some(vec!["exit 3".into()]));

        // Only command: no cmd is sent, and libpod drops the image's cmd along with its
        // entrypoint (checked against Podman in tests/podman.rs).
        config.command = vec!["httpd".into(), "-f".into()];
        config.args.clear();
        let spec = container_spec(&config, &sandbox(), "p");
        assert_eq!(spec.entrypoint, Some(vec!["httpd".into(), "-f".into()]));
        assert_eq!(spec.command, None);
    }

    #[test]
    fn env_workdir_and_bind_mounts() {
        let mut config = web();
        config.env = vec![("A".into(), "1".into()), ("B".into(), "x=y".into())];
        config.working_dir = Some("/srv".into());
        config.mounts = vec![
            Mount {
                host_path: PathBuf::from("/var/lib/staticpod/pods/u/volumes/data"),
                container_path: "/data".into(),
                read_only: false,
                propagation: Default::default(),
            },
            Mount {
                host_path: PathBuf::from("/etc/config"),
                container_path: "/config".into(),
                read_only: true,
                propagation: Default::default(),
            },
        ];
        let body = body(&config, &sandbox());
        assert_eq!(body["env"], json!({"A": "1", "B": "x=y"}));
        assert_eq!(body["work_dir"], "/srv");
        assert_eq!(body["create_working_dir"], true);
        assert_eq!(
            body["mounts"],
            json!([
                {"destination": "/data", "source": "/var/lib/staticpod/pods/u/volumes/data",
                 "type": "bind", "options": ["rbind", "rw"]},
                {"destination": "/config", "source": "/etc/config",
                 "type": "bind", "options": ["rbind", "ro"]},
            ])
        );
    }

    #[test]
    fn propagation_groups_apparmor_and_sysctls_reach_the_spec() {
        let mut config = web();
        config.mounts = vec![Mount {
            host_path: PathBuf::from("/mnt/disks"),
            container_path: "/disks".into(),
            read_only: false,
            propagation: Propagation::Bidirectional,
        }];
        config.security.supplemental_groups = vec![1000, 2000];
        config.security.apparmor = AppArmor::Unconfined;
        let mut pod = sandbox();
        pod.sysctls = [("net.ipv4.tcp_syncookies".to_string(), "1".to_string())].into();
        let body = body(&config, &pod);
        assert_eq!(
            body["mounts"][0]["options"],
            json!(["rbind", "rw", "rshared"])
        );
        assert_eq!(body["groups"], json!(["1000", "2000"]));
        assert_eq!(body["apparmor_profile"], "unconfined");
        assert_eq!(body["sysctl"], json!({"net.ipv4.tcp_syncookies": "1"}));
    }

    #[test]
    fn host_pid_and_ipc_are_set_per_container() {
        let mut pod = sandbox();
        pod.host_pid = true;
        pod.host_ipc = true;
        let body = body(&web(), &pod);
        assert_eq!(body["pidns"], json!({"nsmode": "host"}));
        assert_eq!(body["ipcns"], json!({"nsmode": "host"}));
        let body = super::tests::body(&web(), &sandbox());
        assert_eq!(body.get("pidns"), None);
        assert_eq!(body.get("ipcns"), None);
    }

    #[test]
    fn security_settings() {
        let mut config = web();
        config.security = SecurityConfig {
            privileged: false,
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            capabilities_add: vec!["NET_ADMIN".into()],
            capabilities_drop: vec!["ALL".into()],
            read_only_root_filesystem: true,
            allow_privilege_escalation: false,
            ..Default::default()
        };
        let body = body(&config, &sandbox());
        assert_eq!(body["user"], "1000:3000");
        assert_eq!(body.get("privileged"), None);
        assert_eq!(body["cap_add"], json!(["NET_ADMIN"]));
        assert_eq!(body["cap_drop"], json!(["ALL"]));
        assert_eq!(body["read_only_filesystem"], true);
        // Spelled as libpod reads it (podman-api 0.11's builder writes `no_new_privilages`).
        assert_eq!(body["no_new_privileges"], true);

        config.security = SecurityConfig {
            privileged: true,
            run_as_user: Some(0),
            allow_privilege_escalation: true,
            ..Default::default()
        };
        let spec = container_spec(&config, &sandbox(), "p");
        assert_eq!(spec.user.as_deref(), Some("0"));
        assert!(spec.privileged);
        assert!(!spec.no_new_privileges);

        config.security.run_as_user = None;
        config.security.run_as_group = Some(5);
        assert_eq!(container_spec(&config, &sandbox(), "p").user, None);
    }

    #[test]
    fn resources_as_the_kubelet_computes_them() {
        let mut config = web();
        config.resources = ResourceConfig {
            cpu_limit_millis: Some(500),
            cpu_request_millis: Some(250),
            memory_limit_bytes: Some(128 * 1024 * 1024),
            ..Default::default()
        };
        assert_eq!(
            body(&config, &sandbox())["resource_limits"],
            json!({
                "cpu": {"shares": 256, "quota": 50000, "period": 100000},
                "memory": {"limit": 134217728},
            })
        );

        // Tiny values are raised to the kernel's minimums; a limit alone sets the shares.
        config.resources = ResourceConfig {
            cpu_limit_millis: Some(1),
            cpu_request_millis: None,
            memory_limit_bytes: None,
            ..Default::default()
        };
        assert_eq!(
            body(&config, &sandbox())["resource_limits"],
            json!({"cpu": {"shares": 2, "quota": 1000, "period": 100000}})
        );

        config.resources = ResourceConfig::default();
        assert_eq!(body(&config, &sandbox()).get("resource_limits"), None);
    }
}

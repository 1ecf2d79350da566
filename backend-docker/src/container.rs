//! The create body of a pod's container: Kubernetes' command/args, env, mounts, security and
//! resources in Docker's terms, joined to the namespaces of the pod's pause container.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use staticpod_runtime::cpu::{CPU_PERIOD_MICROS, cpu_quota, cpu_shares};
use staticpod_runtime::{
    AppArmor, ContainerConfig, Mount, Propagation, ResourceConfig, SandboxConfig, SecurityConfig,
};

use crate::labels::{DOCKER_TYPE, DOCKER_TYPE_CONTAINER, SANDBOX_ID, docker_labels};

/// Docker's json-file driver rotating at `max_size` bytes into at most `max_files` files
/// (`containerLogMaxSize`, `containerLogMaxFiles`; the kubelet's defaults are 10 MiB and 5),
/// so the logs are read back through Docker and never fill the disk.
pub(crate) fn log_config(max_size: u64, max_files: u32) -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".to_owned()),
        config: Some(HashMap::from([
            ("max-size".to_owned(), max_size.to_string()),
            ("max-file".to_owned(), max_files.to_string()),
        ])),
    }
}

/// The create body of `config`, joined to the network and IPC namespaces of the pause
/// container `sandbox_id`; the PID namespace is the host's for a `hostPID` pod, the pause
/// container's with `shareProcessNamespace`, and the container's own otherwise.
///
/// `config.log_path` is not honoured: Docker's json-file driver keeps the log (`log`), which
/// the agent reads back through Docker.
pub(crate) fn container_body(
    config: &ContainerConfig,
    sandbox: &SandboxConfig,
    sandbox_id: &str,
    seccomp: &SeccompOption,
    log: HostConfigLogConfig,
) -> ContainerCreateBody {
    let labels = docker_labels(
        &config.labels,
        &config.annotations,
        &[
            (DOCKER_TYPE, DOCKER_TYPE_CONTAINER),
            (SANDBOX_ID, sandbox_id),
        ],
    );
    let join = format!("container:{sandbox_id}");
    let mut host_config = HostConfig {
        network_mode: Some(join.clone()),
        ipc_mode: Some(join),
        pid_mode: pid_mode(sandbox, sandbox_id),
        binds: non_empty(config.mounts.iter().map(bind).collect()),
        log_config: Some(log),
        ..Default::default()
    };
    apply_security(&mut host_config, &config.security, seccomp);
    apply_resources(&mut host_config, &config.resources);

    ContainerCreateBody {
        image: Some(config.image.clone()),
        // Kubernetes' `command` replaces the entrypoint and `args` the cmd. Docker drops the
        // image's cmd when the entrypoint is replaced, which is also Kubernetes' rule when
        // `args` is empty.
        entrypoint: non_empty(config.command.clone()),
        cmd: non_empty(config.args.clone()),
        working_dir: config.working_dir.clone().filter(|dir| !dir.is_empty()),
        env: non_empty(config.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: config.security.user("Docker"),
        labels: Some(labels),
        host_config: Some(host_config),
        stop_signal: config.stop_signal.clone(),
        ..Default::default()
    }
}

/// The node's PID namespace for a `hostPID` pod, the pause container's with
/// `shareProcessNamespace` (as dockershim did), else the container's own.
fn pid_mode(sandbox: &SandboxConfig, sandbox_id: &str) -> Option<String> {
    if sandbox.host_pid {
        Some("host".to_owned())
    } else if sandbox.share_process_namespace {
        Some(format!("container:{sandbox_id}"))
    } else {
        None
    }
}

/// A bind as Docker takes it: `src:dst[:ro][,rslave|,rshared]` (Docker's default is the
/// kubelet's `rprivate`).
fn bind(mount: &Mount) -> String {
    let mut options = Vec::new();
    if mount.read_only {
        options.push("ro");
    }
    match mount.propagation {
        Propagation::Private => {}
        Propagation::HostToContainer => options.push("rslave"),
        Propagation::Bidirectional => options.push("rshared"),
    }
    let bind = format!("{}:{}", mount.host_path.display(), mount.container_path);
    match options.is_empty() {
        true => bind,
        false => format!("{bind}:{}", options.join(",")),
    }
}

fn non_empty(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

fn apply_security(host: &mut HostConfig, security: &SecurityConfig, seccomp: &SeccompOption) {
    if security.privileged {
        host.privileged = Some(true);
    }
    host.cap_add = non_empty(security.capabilities_add.clone());
    host.cap_drop = non_empty(security.capabilities_drop.clone());
    if security.read_only_root_filesystem {
        host.readonly_rootfs = Some(true);
    }
    host.group_add = non_empty(
        security
            .supplemental_groups
            .iter()
            .map(i64::to_string)
            .collect(),
    );
    let mut options = Vec::new();
    if !security.allow_privilege_escalation {
        options.push("no-new-privileges".to_owned());
    }
    options.extend(seccomp_option(seccomp));
    options.extend(apparmor_option(&security.apparmor));
    host.security_opt = non_empty(options);
}

/// The `SecurityOpt` of a seccomp profile, as cri-dockerd writes it: Docker applies its
/// default profile unless told otherwise, so `Unconfined` is asked for, and a `Localhost`
/// profile is its file's JSON text (`seccomp_json`, read by the caller), which is what
/// Docker's API takes.
pub(crate) fn seccomp_option(seccomp: &SeccompOption) -> Option<String> {
    match seccomp {
        SeccompOption::Unconfined => Some("seccomp=unconfined".to_owned()),
        SeccompOption::RuntimeDefault => None,
        SeccompOption::Profile(json) => Some(format!("seccomp={json}")),
    }
}

/// The `SecurityOpt` of an AppArmor profile, as dockershim wrote it; none keeps Docker's
/// `docker-default` where the host has AppArmor.
fn apparmor_option(apparmor: &AppArmor) -> Option<String> {
    match apparmor {
        AppArmor::Unset | AppArmor::RuntimeDefault => None,
        AppArmor::Unconfined => Some("apparmor=unconfined".to_owned()),
        AppArmor::Localhost(name) => Some(format!("apparmor={name}")),
    }
}

/// A seccomp profile as Docker takes it: a `Localhost` file already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeccompOption {
    /// No filter.
    Unconfined,
    /// Docker's default profile.
    RuntimeDefault,
    /// The profile's JSON text.
    Profile(String),
}

fn apply_resources(host: &mut HostConfig, resources: &ResourceConfig) {
    if let Some(millis) = resources.cpu_limit_millis {
        host.cpu_period = Some(CPU_PERIOD_MICROS);
        host.cpu_quota = Some(cpu_quota(millis));
    }
    // Shares only when the pod asks for CPU: the kubelet's minimum of 2 for a best-effort
    // container is relative to its siblings in a pod cgroup, which Docker does not have, so
    // here it would starve the container against every other container on the node.
    if let Some(millis) = resources.cpu_request_millis.or(resources.cpu_limit_millis) {
        host.cpu_shares = Some(cpu_shares(millis));
    }
    if let Some(bytes) = resources.memory_limit_bytes {
        host.memory = Some(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    host.oom_score_adj = resources.oom_score_adj;
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use staticpod_runtime::labels::{CONTAINER_NAME, MANAGED_BY, MANAGED_BY_VALUE};

    use super::*;

    fn sandbox() -> SandboxConfig {
        staticpod_testkit::sandbox_config("static-web", "node0", "d9890f08")
    }

    fn web() -> ContainerConfig {
        staticpod_testkit::container_config("web", "nginx:1.25", &sandbox())
    }

    fn log() -> HostConfigLogConfig {
        log_config(40 * 1024, 3)
    }

    /// The body of `config` in the usual sandbox `p`, under Docker's default seccomp.
    fn body_of(config: &ContainerConfig) -> ContainerCreateBody {
        container_body(
            config,
            &sandbox(),
            "p",
            &SeccompOption::RuntimeDefault,
            log(),
        )
    }

    #[test]
    fn joins_the_sandbox_and_keeps_the_image_defaults() {
        let body = container_body(
            &web(),
            &sandbox(),
            "pause123",
            &SeccompOption::RuntimeDefault,
            log(),
        );
        assert_eq!(body.image.as_deref(), Some("nginx:1.25"));
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.cmd, None);
        assert_eq!(body.env, None);
        assert_eq!(body.user, None);
        assert_eq!(body.working_dir, None);
        assert_eq!(body.hostname, None, "the hostname comes from the sandbox");
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("container:pause123"));
        assert_eq!(host.ipc_mode.as_deref(), Some("container:pause123"));
        assert_eq!(host.pid_mode, None);
        assert_eq!(host.binds, None);
        assert_eq!(host.security_opt, None);
        assert_eq!(host.cpu_shares, None);
        assert_eq!(host.port_bindings, None);
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        let limits = log.config.unwrap();
        assert_eq!((&*limits["max-size"], &*limits["max-file"]), ("40960", "3"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[DOCKER_TYPE], "container");
        assert_eq!(labels[SANDBOX_ID], "pause123");
        assert_eq!(labels[CONTAINER_NAME], "web");
        assert_eq!(labels[MANAGED_BY], MANAGED_BY_VALUE);
    }

    #[test]
    fn command_replaces_entrypoint_and_args_replace_cmd() {
        let mut config = web();
        config.command = vec!["sh".into(), "-c".into()];
        config.args = vec!["exit 3".into()];
        let body = body_of(&config);
        assert_eq!(body.entrypoint, Some(vec!["sh".into(), "-c".into()]));
        assert_eq!(body.cmd, Some(vec!["exit 3".into()]));

        // Only args: the image's entrypoint stays, its cmd is replaced.
        config.command.clear();
        let body = body_of(&config);
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.cmd, Some(vec!["exit 3".into()]));

        // Only command: Docker drops the image's cmd along with its entrypoint.
        config.command = vec!["httpd".into(), "-f".into()];
        config.args.clear();
        let body = body_of(&config);
        assert_eq!(body.entrypoint, Some(vec!["httpd".into(), "-f".into()]));
        assert_eq!(body.cmd, None);
    }

    #[test]
    fn env_workdir_and_binds() {
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
            Mount {
                host_path: PathBuf::from("/mnt/disks"),
                container_path: "/disks".into(),
                read_only: true,
                propagation: Propagation::HostToContainer,
            },
            Mount {
                host_path: PathBuf::from("/var/lib/csi"),
                container_path: "/csi".into(),
                read_only: false,
                propagation: Propagation::Bidirectional,
            },
        ];
        let body = body_of(&config);
        assert_eq!(body.env, Some(vec!["A=1".into(), "B=x=y".into()]));
        assert_eq!(body.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            body.host_config.unwrap().binds,
            Some(vec![
                "/var/lib/staticpod/pods/u/volumes/data:/data".into(),
                "/etc/config:/config:ro".into(),
                "/mnt/disks:/disks:ro,rslave".into(),
                "/var/lib/csi:/csi:rshared".into(),
            ])
        );
    }

    #[test]
    fn a_shared_process_namespace_is_the_pause_containers_unless_the_hosts() {
        let mut pod = sandbox();
        pod.share_process_namespace = true;
        let pid_mode = |pod: &SandboxConfig| {
            container_body(
                &web(),
                pod,
                "pause123",
                &SeccompOption::RuntimeDefault,
                log(),
            )
            .host_config
            .unwrap()
            .pid_mode
        };
        assert_eq!(pid_mode(&pod).as_deref(), Some("container:pause123"));
        pod.host_pid = true;
        assert_eq!(pid_mode(&pod).as_deref(), Some("host"));
    }

    #[test]
    fn groups_and_apparmor_reach_the_host_config() {
        let mut config = web();
        config.security.supplemental_groups = vec![1000, 2000];
        config.security.apparmor = AppArmor::Localhost("k8s-nginx".into());
        let host = body_of(&config).host_config.unwrap();
        assert_eq!(host.group_add, Some(vec!["1000".into(), "2000".into()]));
        assert_eq!(host.security_opt, Some(vec!["apparmor=k8s-nginx".into()]));
        config.security.apparmor = AppArmor::RuntimeDefault;
        let host = body_of(&config).host_config.unwrap();
        assert_eq!(host.security_opt, None, "Docker's docker-default");
    }

    #[test]
    fn host_pid_pod() {
        let mut pod = sandbox();
        pod.host_pid = true;
        pod.host_network = true;
        let host = container_body(&web(), &pod, "p", &SeccompOption::RuntimeDefault, log())
            .host_config
            .unwrap();
        assert_eq!(host.pid_mode.as_deref(), Some("host"));
        // The sandbox already holds the host network; joining it is enough.
        assert_eq!(host.network_mode.as_deref(), Some("container:p"));
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
        let body = body_of(&config);
        assert_eq!(body.user.as_deref(), Some("1000:3000"));
        let host = body.host_config.unwrap();
        assert_eq!(host.privileged, None);
        assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".into()]));
        assert_eq!(host.cap_drop, Some(vec!["ALL".into()]));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.security_opt, Some(vec!["no-new-privileges".into()]));

        config.security = SecurityConfig {
            privileged: true,
            run_as_user: Some(0),
            allow_privilege_escalation: true,
            ..Default::default()
        };
        let body = body_of(&config);
        assert_eq!(body.user.as_deref(), Some("0"));
        assert_eq!(body.host_config.unwrap().privileged, Some(true));

        config.security.run_as_user = None;
        config.security.run_as_group = Some(5);
        assert_eq!(body_of(&config).user, None);
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
        let host = body_of(&config).host_config.unwrap();
        assert_eq!(host.cpu_period, Some(100_000));
        assert_eq!(host.cpu_quota, Some(50_000));
        assert_eq!(host.cpu_shares, Some(256));
        assert_eq!(host.memory, Some(134_217_728));

        // Tiny values are raised to the kernel's minimums; a limit alone sets the shares.
        config.resources = ResourceConfig {
            cpu_limit_millis: Some(1),
            cpu_request_millis: None,
            memory_limit_bytes: None,
            ..Default::default()
        };
        let host = body_of(&config).host_config.unwrap();
        assert_eq!(host.cpu_quota, Some(1_000));
        assert_eq!(host.cpu_shares, Some(2));
        assert_eq!(host.memory, None);
    }

    #[test]
    fn seccomp_and_oom_score_reach_the_host_config() {
        let mut config = web();
        config.resources.oom_score_adj = Some(-997);
        config.security.allow_privilege_escalation = false;
        let unconfined =
            container_body(&config, &sandbox(), "p", &SeccompOption::Unconfined, log());
        let host = unconfined.host_config.unwrap();
        assert_eq!(host.oom_score_adj, Some(-997));
        assert_eq!(
            host.security_opt,
            Some(vec![
                "no-new-privileges".into(),
                "seccomp=unconfined".into()
            ])
        );
        let json = r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#;
        let profile = SeccompOption::Profile(json.into());
        let host = container_body(&config, &sandbox(), "p", &profile, log())
            .host_config
            .unwrap();
        assert_eq!(host.security_opt.unwrap()[1], format!("seccomp={json}"));
    }
}

//! The CRI `ContainerConfig` for a container, built from the core's [`ContainerConfig`] the
//! way the kubelet builds it (`kuberuntime_container_linux.go`).

use staticpod_runtime::cpu::{self, CPU_PERIOD_MICROS};
use staticpod_runtime::{
    AppArmor, ContainerConfig, Propagation, ResourceConfig, SandboxConfig, Seccomp, SecurityConfig,
};

use crate::api::v1;
use crate::sandbox::{hash_map, namespace_options};

/// The kernel's largest `cpu.shares`.
const MAX_CPU_SHARES: i64 = 262_144;

/// The container config sent with `CreateContainer`.
pub(crate) fn container_config(
    config: &ContainerConfig,
    sandbox: &SandboxConfig,
) -> v1::ContainerConfig {
    v1::ContainerConfig {
        metadata: Some(v1::ContainerMetadata {
            name: config.name.clone(),
            attempt: config.attempt,
        }),
        image: Some(v1::ImageSpec {
            image: config.image.clone(),
            ..Default::default()
        }),
        // CRI's command/args are Kubernetes' own: command replaces the entrypoint, args the cmd.
        command: config.command.clone(),
        args: config.args.clone(),
        working_dir: config.working_dir.clone().unwrap_or_default(),
        envs: config
            .env
            .iter()
            .map(|(key, value)| v1::KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        mounts: config
            .mounts
            .iter()
            .map(|mount| v1::Mount {
                container_path: mount.container_path.clone(),
                host_path: mount.host_path.to_string_lossy().into_owned(),
                readonly: mount.read_only,
                propagation: propagation(mount.propagation) as i32,
                ..Default::default()
            })
            .collect(),
        labels: hash_map(&config.labels),
        annotations: hash_map(&config.annotations),
        log_path: config.log_path.to_string_lossy().into_owned(),
        linux: Some(v1::LinuxContainerConfig {
            resources: Some(resources(&config.resources)),
            security_context: Some(security_context(&config.security, sandbox)),
        }),
        ..Default::default()
    }
}

/// CFS quota for a CPU limit, as the kubelet computes it (`milliCPUToQuota`); 0 = no limit.
pub(crate) fn cpu_quota(limit_millis: u64) -> i64 {
    if limit_millis == 0 {
        return 0;
    }
    cpu::cpu_quota(limit_millis)
}

/// `cpu.shares` for a CPU request, as the kubelet computes it (`MilliCPUToShares`).
pub(crate) fn cpu_shares(request_millis: u64) -> i64 {
    cpu::cpu_shares(request_millis).min(MAX_CPU_SHARES)
}

/// Resources in CRI units. Zero leaves a value to the runtime's default; a missing request
/// falls back to the limit, as the API server's defaulting would have set it.
pub(crate) fn resources(res: &ResourceConfig) -> v1::LinuxContainerResources {
    let quota = res.cpu_limit_millis.map_or(0, cpu_quota);
    v1::LinuxContainerResources {
        cpu_period: if quota > 0 { CPU_PERIOD_MICROS } else { 0 },
        cpu_quota: quota,
        cpu_shares: res
            .cpu_request_millis
            .or(res.cpu_limit_millis)
            .map_or(0, cpu_shares),
        memory_limit_in_bytes: res
            .memory_limit_bytes
            .map_or(0, |bytes| i64::try_from(bytes).unwrap_or(i64::MAX)),
        oom_score_adj: res.oom_score_adj.unwrap_or_default(),
        ..Default::default()
    }
}

/// The Linux security context; the namespaces match the sandbox's, as CRI requires.
// The kubelet still sends the deprecated `apparmor_profile`: containerd 1.6 reads no other.
#[allow(deprecated)]
pub(crate) fn security_context(
    sec: &SecurityConfig,
    sandbox: &SandboxConfig,
) -> v1::LinuxContainerSecurityContext {
    let capabilities = (!sec.capabilities_add.is_empty() || !sec.capabilities_drop.is_empty())
        .then(|| v1::Capability {
            add_capabilities: sec.capabilities_add.clone(),
            drop_capabilities: sec.capabilities_drop.clone(),
            ..Default::default()
        });
    v1::LinuxContainerSecurityContext {
        capabilities,
        privileged: sec.privileged,
        namespace_options: Some(namespace_options(sandbox)),
        run_as_user: sec.run_as_user.map(|value| v1::Int64Value { value }),
        run_as_group: sec.run_as_group.map(|value| v1::Int64Value { value }),
        readonly_rootfs: sec.read_only_root_filesystem,
        no_new_privs: !sec.allow_privilege_escalation,
        seccomp: Some(seccomp(&sec.seccomp)),
        supplemental_groups: sec.supplemental_groups.clone(),
        apparmor: apparmor(&sec.apparmor).map(|(profile, _)| profile),
        apparmor_profile: apparmor(&sec.apparmor)
            .map(|(_, name)| name)
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// A mount's propagation in CRI's terms.
fn propagation(propagation: Propagation) -> v1::MountPropagation {
    match propagation {
        Propagation::Private => v1::MountPropagation::PropagationPrivate,
        Propagation::HostToContainer => v1::MountPropagation::PropagationHostToContainer,
        Propagation::Bidirectional => v1::MountPropagation::PropagationBidirectional,
    }
}

/// An AppArmor profile as the kubelet sends it: the `apparmor` field and, for runtimes that
/// read only that one (containerd 1.6), the older `apparmor_profile` name (`runtime/default`,
/// `unconfined`, `localhost/<name>`). Nothing when the pod names none.
fn apparmor(apparmor: &AppArmor) -> Option<(v1::SecurityProfile, String)> {
    use v1::security_profile::ProfileType;
    let (profile_type, localhost_ref, name) = match apparmor {
        AppArmor::Unset => return None,
        AppArmor::RuntimeDefault => (ProfileType::RuntimeDefault, "", "runtime/default".into()),
        AppArmor::Unconfined => (ProfileType::Unconfined, "", "unconfined".into()),
        AppArmor::Localhost(profile) => (
            ProfileType::Localhost,
            profile.as_str(),
            format!("localhost/{profile}"),
        ),
    };
    let profile = v1::SecurityProfile {
        profile_type: profile_type as i32,
        localhost_ref: localhost_ref.to_string(),
    };
    Some((profile, name))
}

/// A seccomp profile in CRI's terms, as the kubelet sends it (`Localhost` by its absolute
/// path).
pub(crate) fn seccomp(seccomp: &Seccomp) -> v1::SecurityProfile {
    use v1::security_profile::ProfileType;
    let (profile_type, localhost_ref) = match seccomp {
        Seccomp::Unconfined => (ProfileType::Unconfined, String::new()),
        Seccomp::RuntimeDefault => (ProfileType::RuntimeDefault, String::new()),
        Seccomp::Localhost(path) => (ProfileType::Localhost, path.display().to_string()),
    };
    v1::SecurityProfile {
        profile_type: profile_type as i32,
        localhost_ref,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use staticpod_runtime::Mount;

    use super::*;
    use crate::sandbox::tests::sandbox;

    fn web() -> ContainerConfig {
        ContainerConfig {
            attempt: 3,
            command: vec!["httpd".into()],
            args: vec!["-f".into(), "-p".into(), "80".into()],
            working_dir: Some("/www".into()),
            env: vec![("B".into(), "2".into()), ("A".into(), "1".into())],
            mounts: vec![Mount {
                host_path: PathBuf::from("/srv/www"),
                container_path: "/www".into(),
                read_only: true,
                propagation: Default::default(),
            }],
            annotations: BTreeMap::from([("io.kubernetes.container.hash".into(), "ff".into())]),
            log_path: PathBuf::from("web/3.log"),
            stop_signal: None,
            ..staticpod_testkit::container_config("web", "nginx:1.25", &sandbox())
        }
    }

    #[test]
    fn container_fields_map_one_to_one() {
        let cri = container_config(&web(), &sandbox());
        let meta = cri.metadata.unwrap();
        assert_eq!((meta.name.as_str(), meta.attempt), ("web", 3));
        assert_eq!(cri.image.unwrap().image, "nginx:1.25");
        assert_eq!(cri.command, ["httpd"]);
        assert_eq!(cri.args, ["-f", "-p", "80"]);
        assert_eq!(cri.working_dir, "/www");
        let env: Vec<_> = cri
            .envs
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.as_str()))
            .collect();
        assert_eq!(env, [("B", "2"), ("A", "1")], "order kept");
        assert_eq!(cri.mounts.len(), 1);
        assert_eq!(cri.mounts[0].host_path, "/srv/www");
        assert_eq!(cri.mounts[0].container_path, "/www");
        assert!(cri.mounts[0].readonly);
        assert_eq!(
            cri.mounts[0].propagation,
            v1::MountPropagation::PropagationPrivate as i32
        );
        assert_eq!(cri.log_path, "web/3.log");
        assert_eq!(cri.labels["io.kubernetes.container.name"], "web");
        assert_eq!(cri.annotations["io.kubernetes.container.hash"], "ff");
        assert!(!cri.tty && !cri.stdin);
    }

    #[test]
    fn unset_working_dir_is_left_to_the_image() {
        let mut config = web();
        config.working_dir = None;
        assert_eq!(container_config(&config, &sandbox()).working_dir, "");
    }

    #[test]
    fn cpu_and_memory_follow_the_kubelet_math() {
        let res = resources(&ResourceConfig {
            cpu_limit_millis: Some(500),
            cpu_request_millis: Some(250),
            memory_limit_bytes: Some(64 * 1024 * 1024),
            ..Default::default()
        });
        assert_eq!(res.cpu_period, 100_000);
        assert_eq!(res.cpu_quota, 50_000);
        assert_eq!(res.cpu_shares, 256);
        assert_eq!(res.memory_limit_in_bytes, 67_108_864);

        assert_eq!(cpu_quota(2000), 200_000);
        assert_eq!(cpu_quota(1), 1_000, "kernel minimum");
        assert_eq!(cpu_quota(0), 0);
        assert_eq!(cpu_shares(1000), 1024);
        assert_eq!(cpu_shares(1), 2, "kernel minimum");
        assert_eq!(cpu_shares(1_000_000), 262_144, "kernel maximum");
    }

    #[test]
    fn request_defaults_to_limit_and_nothing_set_means_runtime_defaults() {
        let res = resources(&ResourceConfig {
            cpu_limit_millis: Some(100),
            ..Default::default()
        });
        assert_eq!((res.cpu_quota, res.cpu_shares), (10_000, 102));

        let none = resources(&ResourceConfig::default());
        assert_eq!(
            (
                none.cpu_period,
                none.cpu_quota,
                none.cpu_shares,
                none.memory_limit_in_bytes
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn security_settings_and_namespaces_match_the_pod() {
        let mut sb = sandbox();
        sb.host_network = true;
        let sec = security_context(
            &SecurityConfig {
                privileged: true,
                run_as_user: Some(1000),
                run_as_group: Some(2000),
                capabilities_add: vec!["NET_ADMIN".into()],
                capabilities_drop: vec!["ALL".into()],
                read_only_root_filesystem: true,
                allow_privilege_escalation: false,
                ..Default::default()
            },
            &sb,
        );
        assert!(sec.privileged);
        assert_eq!(sec.run_as_user, Some(v1::Int64Value { value: 1000 }));
        assert_eq!(sec.run_as_group, Some(v1::Int64Value { value: 2000 }));
        let caps = sec.capabilities.unwrap();
        assert_eq!(caps.add_capabilities, ["NET_ADMIN"]);
        assert_eq!(caps.drop_capabilities, ["ALL"]);
        assert!(sec.readonly_rootfs);
        assert!(sec.no_new_privs);
        let ns = sec.namespace_options.unwrap();
        assert_eq!(ns.network, v1::NamespaceMode::Node as i32);
        assert_eq!(ns.pid, v1::NamespaceMode::Container as i32);

        let default = security_context(&web().security, &sandbox());
        assert!(!default.no_new_privs, "escalation allowed");
        assert!(default.capabilities.is_none());
        assert!(default.run_as_user.is_none());
        assert_eq!(
            default.namespace_options.unwrap().network,
            v1::NamespaceMode::Pod as i32
        );
    }

    // The deprecated `apparmor_profile` is read to check what containerd 1.6 gets.
    #[allow(deprecated)]
    #[test]
    fn groups_apparmor_and_propagation_are_sent_as_the_kubelet_sends_them() {
        let mut config = web();
        config.security.supplemental_groups = vec![1000, 2000];
        config.security.apparmor = AppArmor::Localhost("k8s-nginx".into());
        config.mounts[0].propagation = Propagation::HostToContainer;
        let cri = container_config(&config, &sandbox());
        assert_eq!(
            cri.mounts[0].propagation,
            v1::MountPropagation::PropagationHostToContainer as i32
        );
        let sec = cri.linux.unwrap().security_context.unwrap();
        assert_eq!(sec.supplemental_groups, [1000, 2000]);
        assert_eq!(sec.apparmor_profile, "localhost/k8s-nginx");
        let profile = sec.apparmor.unwrap();
        assert_eq!(
            (profile.profile_type, profile.localhost_ref.as_str()),
            (
                v1::security_profile::ProfileType::Localhost as i32,
                "k8s-nginx"
            )
        );
        let unset = security_context(&web().security, &sandbox());
        assert_eq!(
            (unset.apparmor, unset.apparmor_profile.as_str()),
            (None, "")
        );
        assert_eq!(
            propagation(Propagation::Bidirectional),
            v1::MountPropagation::PropagationBidirectional
        );
    }
}

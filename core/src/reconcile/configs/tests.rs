//! The configs a pod's fields make: names, namespaces, sysctls, groups, profiles, and mounts
//! with their `subPathExpr`, propagation and `fsGroup`.

use std::path::Path;

use super::*;
use crate::manifest::test_pod;
use crate::reconcile::observe::ContainerKind;
use staticpod_runtime::AppArmor;

const ROOT: &str = "/var/lib/staticpod";

fn pod(spec: &str) -> StaticPod {
    test_pod(&format!(
        "kind: Pod\nmetadata: {{name: web, namespace: shop}}\nspec:\n{spec}"
    ))
}

fn dirs() -> Dirs {
    Dirs {
        root: ROOT.into(),
        pod_logs: "/var/log/pods".into(),
    }
}

fn policy() -> NodePolicy {
    NodePolicy {
        cluster_domain: "cluster.local".into(),
        ..NodePolicy::default()
    }
}

fn container(pod: &StaticPod) -> ContainerConfig {
    let node = NodeFacts {
        root_dir: Path::new(ROOT),
        host_ip: "192.0.2.10",
        pod_ip: "10.88.0.7",
        policy: &policy(),
    };
    let instance = Instance::first(ContainerKind::App, 0);
    let spec = &pod.pod.spec.containers[0];
    let env = resolve_env(pod, spec, &node, &EnvFiles::default()).expect("no env file");
    container_config(pod, &instance, spec, vec![], env, &node)
}

const WEB: &str = "  containers: [{name: web, image: nginx:1.25}]\n";

#[test]
fn the_sandbox_is_named_by_its_fqdn_only_when_asked() {
    let sandbox = |spec: &str| sandbox_config(&pod(spec), 0, &dirs(), &policy());
    let short = sandbox(&format!("  hostname: db-0\n  subdomain: db\n{WEB}")).unwrap();
    assert_eq!(short.hostname, "db-0");
    let fqdn = format!("  hostname: db-0\n  subdomain: db\n  setHostnameAsFQDN: true\n{WEB}");
    assert_eq!(
        sandbox(&fqdn).unwrap().hostname,
        "db-0.db.shop.svc.cluster.local"
    );
    let long = format!(
        "  hostname: a-hostname-long-enough-to-make-the-fqdn-too-long\n  subdomain: db\n  setHostnameAsFQDN: true\n{WEB}"
    );
    assert!(sandbox(&long).is_err());
    let host_network = format!("  hostNetwork: true\n  subdomain: db\n{WEB}");
    assert_eq!(sandbox(&host_network).unwrap().hostname, "");
}

#[test]
fn the_sandbox_shares_the_process_namespace_and_carries_the_sysctls() {
    let spec = format!(
        "  shareProcessNamespace: true\n  securityContext:\n    sysctls:\n    - {{name: net/ipv4/tcp_syncookies, value: '1'}}\n    - {{name: kernel.shm_rmid_forced, value: '1'}}\n{WEB}"
    );
    let sandbox = sandbox_config(&pod(&spec), 0, &dirs(), &policy()).unwrap();
    assert!(sandbox.share_process_namespace);
    assert_eq!(
        sandbox.sysctls,
        BTreeMap::from([
            ("kernel.shm_rmid_forced".into(), "1".into()),
            ("net.ipv4.tcp_syncookies".into(), "1".into()),
        ])
    );
    let plain = sandbox_config(&pod(WEB), 0, &dirs(), &policy()).unwrap();
    assert!(!plain.share_process_namespace && plain.sysctls.is_empty());
}

#[test]
fn only_host_users_false_asks_for_a_user_namespace() {
    let user_namespace = |spec: &str| {
        let pod = pod(&format!("{spec}{WEB}"));
        sandbox_config(&pod, 0, &dirs(), &policy())
            .unwrap()
            .user_namespace
    };
    assert!(user_namespace("  hostUsers: false\n"));
    assert!(!user_namespace("  hostUsers: true\n"));
    assert!(!user_namespace(""));
}

#[test]
fn a_slashed_sysctl_swaps_its_dots_and_slashes() {
    assert_eq!(
        dotted("net/ipv4/conf/eno2.100/rp_filter"),
        "net.ipv4.conf.eno2/100.rp_filter"
    );
    assert_eq!(
        dotted("net.ipv4.conf.eno2/100.rp_filter"),
        "net.ipv4.conf.eno2/100.rp_filter"
    );
}

#[test]
fn groups_are_the_supplemental_ones_then_the_fs_group_and_apparmor_is_the_containers() {
    let spec = "  securityContext:\n    supplementalGroups: [3000, 3001]\n    fsGroup: 2000\n    appArmorProfile: {type: RuntimeDefault}\n  containers:\n  - name: web\n    image: nginx:1.25\n    securityContext:\n      appArmorProfile: {type: Localhost, localhostProfile: k8s-nginx}\n";
    let security = container(&pod(spec)).security;
    assert_eq!(security.supplemental_groups, [3000, 3001, 2000]);
    assert_eq!(security.apparmor, AppArmor::Localhost("k8s-nginx".into()));
    let pods_own = "  securityContext:\n    appArmorProfile: {type: Unconfined}\n  containers: [{name: web, image: nginx:1.25}]\n";
    assert_eq!(
        container(&pod(pods_own)).security.apparmor,
        AppArmor::Unconfined
    );
    assert_eq!(container(&pod(WEB)).security.apparmor, AppArmor::Unset);
}

#[test]
fn the_pods_addresses_and_service_account_reach_the_env() {
    let spec = "  containers:\n  - name: web\n    image: nginx:1.25\n    env:\n    - {name: IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}\n    - {name: HOSTS, valueFrom: {fieldRef: {fieldPath: status.hostIPs}}}\n    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}\n";
    let env = container(&pod(spec)).env;
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        env,
        pairs(&[("IPS", "10.88.0.7"), ("HOSTS", "192.0.2.10"), ("SA", "")])
    );
}

fn requests(spec: &str, env: &[(&str, &str)]) -> Result<Vec<MountRequest>, VolumeError> {
    let pod = pod(spec);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    mount_requests(
        &pod,
        &pod.pod.spec.containers[0],
        &env,
        Path::new(ROOT),
        &policy(),
    )
}

const MOUNTS: &str = "  securityContext: {fsGroup: 2000, fsGroupChangePolicy: OnRootMismatch}
  containers:
  - name: web
    image: nginx:1.25
    volumeMounts:
    - {name: logs, mountPath: /logs, subPathExpr: $(POD_NAME)/app}
    - {name: disks, mountPath: /disks, mountPropagation: HostToContainer}
  volumes:
  - {name: logs, emptyDir: {}}
  - {name: disks, hostPath: {path: /mnt/disks}}
";

#[test]
fn a_sub_path_expr_is_expanded_from_the_env_and_the_fs_group_owns_the_agents_volumes() {
    let requests = requests(MOUNTS, &[("POD_NAME", "web-node0")]).unwrap();
    assert_eq!(requests[0].sub_path.as_deref(), Some("web-node0/app"));
    assert_eq!(
        requests[0].ownership,
        Some(Ownership {
            gid: 2000,
            on_root_mismatch: true,
            read_only: false
        })
    );
    assert_eq!(requests[0].propagation, Propagation::Private);
    assert_eq!(requests[1].ownership, None, "a hostPath keeps its owner");
    assert_eq!(requests[1].propagation, Propagation::HostToContainer);
}

#[test]
fn a_sub_path_expr_without_a_value_or_leaving_the_volume_is_refused_in_the_kubelets_words() {
    let missing = requests(MOUNTS, &[("POD_NAME", "")]).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "subPathExpr \"$(POD_NAME)/app\": missing value for POD_NAME"
    );
    let up = requests(MOUNTS, &[("POD_NAME", "..")]).unwrap_err();
    assert_eq!(
        up.to_string(),
        "subPathExpr \"$(POD_NAME)/app\": unable to provision SubPath `../app`: must not contain '..'"
    );
    let absolute = requests(MOUNTS, &[("POD_NAME", "/etc")]).unwrap_err();
    assert_eq!(
        absolute.to_string(),
        "subPathExpr \"$(POD_NAME)/app\": error SubPath `/etc/app` must not be an absolute path"
    );
}

//! The kubelet's admission of a pod on this node, before anything of it is started: a pod it
//! refuses is never run, and its status says why (`Failed`, with the refusal's reason and
//! `Pod was rejected: ...`, as the kubelet's `rejectPod` writes it). The checks are the
//! kubelet's sysctl allowlist (`pkg/kubelet/sysctl/allowlist.go`): a sysctl the API accepts
//! but the node does not allow (neither safe nor in `--allowed-unsafe-sysctls`) fails the
//! pod with the reason `SysctlForbidden`; and, since
//! v1.33, a `Strict` `supplementalGroupsPolicy` on a node that cannot apply it
//! (`SupplementalGroupsPolicyNotSupported`), which is every node staticpod runs: it gives
//! the runtimes no policy, and Docker 20.10, Podman 4.3 and containerd 1.6 have none.

use crate::manifest::defaults::StaticPod;
use crate::model::SupplementalGroupsPolicy;
use crate::reconcile::configs::dotted;

/// The sysctls the kubelet allows without `--allowed-unsafe-sysctls`
/// (`pkg/kubelet/sysctl/safe_sysctls.go`, v1.32, on a kernel newer than 4.15).
pub const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// The sysctls the node allows beyond the safe ones (`--allowed-unsafe-sysctls`,
/// `allowedUnsafeSysctls`): names, and prefixes written with a trailing `*` (`net.*`,
/// `kernel.msg*`), each of a namespace a pod owns, as the kubelet's `NewAllowlist` accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsafeSysctls {
    names: Vec<String>,
    prefixes: Vec<String>,
}

impl UnsafeSysctls {
    /// Reads `patterns`; an error names the first one the kubelet would refuse.
    pub fn parse<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut allowed = UnsafeSysctls::default();
        for pattern in patterns {
            let dotted = dotted(pattern);
            let (stem, prefixed) = match dotted.strip_suffix('*') {
                Some(prefix) => (prefix.to_string(), true),
                None => (dotted, false),
            };
            let valid = !stem.contains('*')
                && stem
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
                && (prefixed || !stem.is_empty());
            if !valid {
                return Err(format!(
                    "{pattern:?} is not a sysctl or a sysctl prefix ending in '*'"
                ));
            }
            if !namespaced(&stem, prefixed) {
                return Err(format!(
                    "the sysctls {pattern:?} are not known to be namespaced"
                ));
            }
            match prefixed {
                true => allowed.prefixes.push(stem),
                false => allowed.names.push(stem),
            }
        }
        Ok(allowed)
    }

    fn allows(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name) || self.prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// Whether the sysctl `name` (or those starting with it, when `prefix`) is of a namespace a
/// pod has of its own, as the kubelet's `GetNamespace`: IPC (`kernel.shm*`, `kernel.msg*`,
/// `kernel.sem`, `fs.mqueue.*`) or network (`net.*`).
fn namespaced(name: &str, prefix: bool) -> bool {
    let by_prefix = ["kernel.shm", "kernel.msg", "fs.mqueue.", "net."]
        .iter()
        .any(|p| name.starts_with(p));
    by_prefix || (!prefix && name == "kernel.sem")
}

/// Why the node refuses a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The kubelet's reason (`SysctlForbidden`): the pod's `status.reason` and its event's.
    pub reason: &'static str,
    /// In words (`forbidden sysctl: "kernel.msgmax" not allowlisted`).
    pub message: String,
}

/// Whether this node, allowing `unsafe_sysctls` too, runs `pod`, as the kubelet's admission
/// decides it.
pub fn admit(pod: &StaticPod, unsafe_sysctls: &UnsafeSysctls) -> Result<(), Rejection> {
    let Some(context) = &pod.pod.spec.security_context else {
        return Ok(());
    };
    if context.supplemental_groups_policy == Some(SupplementalGroupsPolicy::Strict) {
        return Err(Rejection {
            reason: "SupplementalGroupsPolicyNotSupported",
            message: "SupplementalGroupsPolicy=Strict is not supported in this node".to_string(),
        });
    }
    match context
        .sysctls
        .iter()
        .map(|sysctl| dotted(&sysctl.name))
        .find(|name| !SAFE_SYSCTLS.contains(&name.as_str()) && !unsafe_sysctls.allows(name))
    {
        Some(name) => Err(Rejection {
            reason: "SysctlForbidden",
            message: format!("forbidden sysctl: {name:?} not allowlisted"),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_pod as pod;

    fn admit_safe(pod: &StaticPod) -> Result<(), Rejection> {
        admit(pod, &UnsafeSysctls::default())
    }

    fn with_sysctls(sysctls: &str) -> StaticPod {
        pod(&format!(
            "kind: Pod\nmetadata: {{name: web}}\nspec:\n  securityContext:\n    sysctls: [{sysctls}]\n  containers: [{{name: web, image: busybox}}]\n"
        ))
    }

    #[test]
    fn only_the_safe_sysctls_are_admitted() {
        assert_eq!(admit_safe(&with_sysctls("")), Ok(()));
        assert_eq!(
            admit_safe(&with_sysctls(
                "{name: kernel.shm_rmid_forced, value: '1'}, {name: net/ipv4/tcp_syncookies, value: '1'}"
            )),
            Ok(())
        );
        assert_eq!(
            admit_safe(&with_sysctls(
                "{name: kernel.shm_rmid_forced, value: '1'}, {name: kernel.msgmax, value: '10000000000'}"
            )),
            Err(Rejection {
                reason: "SysctlForbidden",
                message: "forbidden sysctl: \"kernel.msgmax\" not allowlisted".to_string(),
            })
        );
    }

    #[test]
    fn unsafe_sysctls_are_admitted_by_name_or_prefix_when_the_node_allows_them() {
        let allowed = UnsafeSysctls::parse(["kernel.msgmax", "net.ipv4.conf.*"]).unwrap();
        let admitted = |sysctl: &str| {
            admit(
                &with_sysctls(&format!("{{name: {sysctl}, value: '1'}}")),
                &allowed,
            )
            .is_ok()
        };
        assert!(admitted("kernel.msgmax"));
        assert!(admitted("net.ipv4.conf.all.forwarding"));
        assert!(admitted("net/ipv4/conf/eno2.100/rp_filter"));
        assert!(admitted("kernel.shm_rmid_forced"), "the safe ones still");
        assert!(!admitted("kernel.msgmnb"));
        assert!(!admitted("net.ipv4.ip_forward"));
    }

    #[test]
    fn the_node_refuses_to_allow_what_a_pod_cannot_own() {
        let refused = |pattern: &str| UnsafeSysctls::parse([pattern]).unwrap_err();
        assert_eq!(
            refused("kernel.*"),
            "the sysctls \"kernel.*\" are not known to be namespaced"
        );
        assert_eq!(
            refused("vm.swappiness"),
            "the sysctls \"vm.swappiness\" are not known to be namespaced"
        );
        assert_eq!(
            refused("net.*.x"),
            "\"net.*.x\" is not a sysctl or a sysctl prefix ending in '*'"
        );
        assert!(
            UnsafeSysctls::parse(["kernel.sem", "fs.mqueue.*", "kernel.shm*", "net.*"]).is_ok()
        );
    }

    #[test]
    fn a_strict_supplemental_groups_policy_is_not_supported_here() {
        let with_policy = |policy: &str| {
            pod(&format!(
                "kind: Pod\nmetadata: {{name: web}}\nspec:\n  securityContext: {{supplementalGroups: [60000], supplementalGroupsPolicy: {policy}}}\n  containers: [{{name: web, image: busybox}}]\n"
            ))
        };
        assert_eq!(admit_safe(&with_policy("Merge")), Ok(()));
        assert_eq!(
            admit_safe(&with_policy("Strict")),
            Err(Rejection {
                reason: "SupplementalGroupsPolicyNotSupported",
                message: "SupplementalGroupsPolicy=Strict is not supported in this node"
                    .to_string(),
            })
        );
    }
}

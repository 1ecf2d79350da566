//! The kubelet's admission of a pod on this node, before anything of it is started: a pod it
//! refuses is never run, and its status says why (`Failed`, with the refusal's reason and
//! `Pod was rejected: ...`, as the kubelet's `rejectPod` writes it). The checks are the
//! kubelet's sysctl allowlist (`pkg/kubelet/sysctl/allowlist.go`): a sysctl the API accepts
//! but the node does not allow fails the pod with the reason `SysctlForbidden`; and, since
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

/// Why the node refuses a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The kubelet's reason (`SysctlForbidden`): the pod's `status.reason` and its event's.
    pub reason: &'static str,
    /// In words (`forbidden sysctl: "kernel.msgmax" not allowlisted`).
    pub message: String,
}

/// Whether this node runs `pod`, as the kubelet's admission decides it.
pub fn admit(pod: &StaticPod) -> Result<(), Rejection> {
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
        .find(|name| !SAFE_SYSCTLS.contains(&name.as_str()))
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

    fn with_sysctls(sysctls: &str) -> StaticPod {
        pod(&format!(
            "kind: Pod\nmetadata: {{name: web}}\nspec:\n  securityContext:\n    sysctls: [{sysctls}]\n  containers: [{{name: web, image: busybox}}]\n"
        ))
    }

    #[test]
    fn only_the_safe_sysctls_are_admitted() {
        assert_eq!(admit(&with_sysctls("")), Ok(()));
        assert_eq!(
            admit(&with_sysctls(
                "{name: kernel.shm_rmid_forced, value: '1'}, {name: net/ipv4/tcp_syncookies, value: '1'}"
            )),
            Ok(())
        );
        assert_eq!(
            admit(&with_sysctls(
                "{name: kernel.shm_rmid_forced, value: '1'}, {name: kernel.msgmax, value: '10000000000'}"
            )),
            Err(Rejection {
                reason: "SysctlForbidden",
                message: "forbidden sysctl: \"kernel.msgmax\" not allowlisted".to_string(),
            })
        );
    }

    #[test]
    fn a_strict_supplemental_groups_policy_is_not_supported_here() {
        let with_policy = |policy: &str| {
            pod(&format!(
                "kind: Pod\nmetadata: {{name: web}}\nspec:\n  securityContext: {{supplementalGroups: [60000], supplementalGroupsPolicy: {policy}}}\n  containers: [{{name: web, image: busybox}}]\n"
            ))
        };
        assert_eq!(admit(&with_policy("Merge")), Ok(()));
        assert_eq!(
            admit(&with_policy("Strict")),
            Err(Rejection {
                reason: "SupplementalGroupsPolicyNotSupported",
                message: "SupplementalGroupsPolicy=Strict is not supported in this node"
                    .to_string(),
            })
        );
    }
}

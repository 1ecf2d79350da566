//! A pod's hostname and domain as the kubelet makes them (`GeneratePodHostNameAndDomain`
//! and `GetNodenameForKernel` of `pkg/kubelet`): the short name is `spec.hostname` or the
//! pod's name cut to 63 characters; `spec.subdomain` gives the domain
//! `<subdomain>.<namespace>.svc.<clusterDomain>`; the kernel's hostname is the FQDN only
//! with `setHostnameAsFQDN`. Pure.

use crate::manifest::defaults::StaticPod;

/// The longest FQDN the kernel takes as a hostname, as the kubelet checks it.
pub const MAX_FQDN: usize = 64;

/// A pod's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodHostname {
    /// The short name (its hosts file's alias).
    pub hostname: String,
    /// `<subdomain>.<namespace>.svc.<clusterDomain>`, when the pod has a subdomain.
    pub domain: Option<String>,
}

/// The FQDN is longer than the kernel takes: the kubelet's sandbox error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({MAX_FQDN} characters is the max, {} characters requested)",
    fqdn.len()
)]
pub struct FqdnTooLong {
    /// The FQDN.
    pub fqdn: String,
}

/// The names of `pod` in `cluster_domain` (the kubelet's `clusterDomain`; an empty one
/// leaves the domain ending in `svc.`, as the kubelet's does).
pub fn of(pod: &StaticPod, cluster_domain: &str) -> PodHostname {
    let spec = &pod.pod.spec;
    let hostname = match spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        Some(hostname) => hostname.to_string(),
        None => truncated(pod.full_name()),
    };
    let domain = spec
        .subdomain
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|subdomain| format!("{subdomain}.{}.svc.{cluster_domain}", pod.namespace()));
    PodHostname { hostname, domain }
}

/// The kubelet cuts a hostname to 63 characters, then drops trailing `-` and `.`.
fn truncated(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_string();
    }
    name[..63].trim_end_matches(['-', '.']).to_string()
}

impl PodHostname {
    /// The FQDN `<hostname>.<domain>`, when there is a domain.
    pub fn fqdn(&self) -> Option<String> {
        self.domain
            .as_ref()
            .map(|domain| format!("{}.{domain}", self.hostname))
    }

    /// The name the kernel is given (`GetNodenameForKernel`): the FQDN when
    /// `set_as_fqdn` and there is a domain, refused beyond [`MAX_FQDN`]; else the short name.
    pub fn for_kernel(&self, set_as_fqdn: bool) -> Result<String, FqdnTooLong> {
        match self.fqdn().filter(|_| set_as_fqdn) {
            Some(fqdn) if fqdn.len() > MAX_FQDN => Err(FqdnTooLong { fqdn }),
            Some(fqdn) => Ok(fqdn),
            None => Ok(self.hostname.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_pod;

    fn names(spec: &str, cluster_domain: &str) -> PodHostname {
        let pod = test_pod(&format!(
            "kind: Pod\nmetadata: {{name: web, namespace: shop}}\nspec:\n{spec}  containers: [{{name: web, image: nginx:1.25}}]\n"
        ));
        of(&pod, cluster_domain)
    }

    #[test]
    fn the_domain_is_the_subdomain_under_the_namespaces_service_domain() {
        let plain = names("", "cluster.local");
        assert_eq!(plain.hostname, "web-node0");
        assert_eq!(plain.domain, None);
        assert_eq!(plain.for_kernel(true).unwrap(), "web-node0");
        let sub = names("  hostname: db-0\n  subdomain: db\n", "cluster.local");
        assert_eq!(sub.hostname, "db-0");
        assert_eq!(sub.domain.as_deref(), Some("db.shop.svc.cluster.local"));
        assert_eq!(sub.for_kernel(false).unwrap(), "db-0");
        assert_eq!(
            sub.for_kernel(true).unwrap(),
            "db-0.db.shop.svc.cluster.local"
        );
        let no_cluster_domain = names("  subdomain: db\n", "");
        assert_eq!(
            no_cluster_domain.fqdn().as_deref(),
            Some("web-node0.db.shop.svc.")
        );
    }

    #[test]
    fn a_long_fqdn_is_refused_in_the_kubelets_words() {
        let long = names(
            "  hostname: a-rather-long-hostname-for-a-pod-of-ours\n  subdomain: sub\n",
            "cluster.local",
        );
        let err = long.for_kernel(true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to construct FQDN from pod hostname and cluster domain, FQDN a-rather-long-hostname-for-a-pod-of-ours.sub.shop.svc.cluster.local is too long (64 characters is the max, 67 characters requested)"
        );
        assert_eq!(
            long.for_kernel(false).unwrap(),
            "a-rather-long-hostname-for-a-pod-of-ours"
        );
    }

    #[test]
    fn a_long_pod_name_is_cut_as_the_kubelet_cuts_it() {
        assert_eq!(truncated(&format!("{}-b", "a".repeat(62))), "a".repeat(62));
        assert_eq!(truncated("short"), "short");
    }
}

//! The kubelet-managed `/etc/hosts` of a pod's containers (`pkg/kubelet/kubelet_pods.go`):
//! for a pod with its own network, the kubelet's header, the localhost lines, the pod's IP
//! with its hostname (its FQDN first when it has a `subdomain`), then the `hostAliases`; for a host-network pod, the node's own hosts
//! file with the aliases after it. One file per pod, bind-mounted into every container.

use std::path::Path;

use super::volumes::VolumeError;
use crate::model::HostAlias;

/// What a pod's hosts file is made of.
#[derive(Debug, Clone)]
pub enum Hosts {
    /// A pod with its own network.
    Pod {
        /// Its IP.
        ip: String,
        /// Its short hostname.
        hostname: String,
        /// Its FQDN, when it has a `subdomain`.
        fqdn: Option<String>,
        /// Its `hostAliases`.
        aliases: Vec<HostAlias>,
    },
    /// A host-network pod.
    HostNetwork {
        /// Its `hostAliases`.
        aliases: Vec<HostAlias>,
    },
}

impl Hosts {
    /// The file's text; a host-network pod's starts from the node's file at `node_hosts`
    /// (blocking: call it off the async threads).
    pub fn text(&self, node_hosts: &Path) -> Result<String, VolumeError> {
        match self {
            Hosts::Pod {
                ip,
                hostname,
                fqdn,
                aliases,
            } => Ok(pod_hosts(ip, hostname, fqdn.as_deref(), aliases)),
            Hosts::HostNetwork { aliases } => {
                let node =
                    std::fs::read_to_string(node_hosts).map_err(|source| VolumeError::Read {
                        path: node_hosts.to_path_buf(),
                        source,
                    })?;
                Ok(host_network_hosts(&node, aliases))
            }
        }
    }
}

/// The hosts file of a pod with its own network at `pod_ip`, named `hostname` (and `fqdn`).
fn pod_hosts(pod_ip: &str, hostname: &str, fqdn: Option<&str>, aliases: &[HostAlias]) -> String {
    let mut text = String::from("# Kubernetes-managed hosts file.\n");
    text.push_str("127.0.0.1\tlocalhost\n");
    text.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    text.push_str("fe00::0\tip6-localnet\n");
    text.push_str("fe00::0\tip6-mcastprefix\n");
    text.push_str("fe00::1\tip6-allnodes\n");
    text.push_str("fe00::2\tip6-allrouters\n");
    match fqdn {
        Some(fqdn) => text.push_str(&format!("{pod_ip}\t{fqdn}\t{hostname}\n")),
        None => text.push_str(&format!("{pod_ip}\t{hostname}\n")),
    }
    text.push_str(&alias_lines(aliases));
    text
}

/// The hosts file of a host-network pod: the node's `node_hosts`, then the aliases.
fn host_network_hosts(node_hosts: &str, aliases: &[HostAlias]) -> String {
    let mut text = String::from("# Kubernetes-managed hosts file (host network).\n");
    text.push_str(node_hosts);
    text.push_str(&alias_lines(aliases));
    text
}

fn alias_lines(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut text = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        text.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.join("\t")));
    }
    text
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn kubernetes() -> Vec<HostAlias> {
        vec![HostAlias {
            ip: "192.0.2.100".into(),
            hostnames: vec!["kubernetes".into(), "kube-vip".into()],
        }]
    }

    #[test]
    fn a_pods_hosts_file_is_the_kubelets() {
        expect![[r#"
            # Kubernetes-managed hosts file.
            127.0.0.1	localhost
            ::1	localhost ip6-localhost ip6-loopback
            fe00::0	ip6-localnet
            fe00::0	ip6-mcastprefix
            fe00::1	ip6-allnodes
            fe00::2	ip6-allrouters
            10.88.0.2	web

            # Entries added by HostAliases.
            192.0.2.100	kubernetes	kube-vip
        "#]]
        .assert_eq(&pod_hosts("10.88.0.2", "web", None, &kubernetes()));
    }

    #[test]
    fn a_pod_with_a_subdomain_is_named_by_its_fqdn_first() {
        let text = pod_hosts(
            "10.88.0.2",
            "db-0",
            Some("db-0.db.shop.svc.cluster.local"),
            &[],
        );
        let own: Vec<&str> = text.lines().filter(|l| l.starts_with("10.88")).collect();
        assert_eq!(own, ["10.88.0.2\tdb-0.db.shop.svc.cluster.local\tdb-0"]);
    }

    #[test]
    fn a_host_network_pod_gets_the_nodes_file_and_the_aliases() {
        expect![[r#"
            # Kubernetes-managed hosts file (host network).
            127.0.0.1 localhost

            # Entries added by HostAliases.
            192.0.2.100	kubernetes	kube-vip
        "#]]
        .assert_eq(&host_network_hosts("127.0.0.1 localhost\n", &kubernetes()));
    }
}

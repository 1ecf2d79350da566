//! The `/etc/resolv.conf` of a pod's containers, decided as the kubelet decides it
//! (`pkg/kubelet/network/dns/dns.go`): the pod's `dnsPolicy` picks the base (the cluster's
//! DNS from `clusterDNS` and `clusterDomain`, the node's resolver file `resolvConf`, or
//! nothing), `dnsConfig` is added to it, and the result is cut to the resolver's limits.
//! staticpod writes the file itself, one per pod, and bind-mounts it into every container
//! as it does `/etc/hosts`, so that Docker, containerd and Podman give the same file
//! (each runtime has its own rules for the one it would make).

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::manifest::defaults::StaticPod;
use crate::model::{DnsPolicy, PodDnsConfig};

/// The kubelet's default `resolvConf`.
pub const DEFAULT_RESOLV_CONF: &str = "/etc/resolv.conf";
/// The address of systemd-resolved's stub resolver, which answers only on the node's own
/// loopback.
pub const SYSTEMD_RESOLVED_STUB: &str = "127.0.0.53";
/// systemd-resolved's file of the upstream servers behind its stub: what kubeadm sets
/// `resolvConf` to on a host that runs systemd-resolved.
pub const SYSTEMD_RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// The most nameservers a resolver reads (`MaxDNSNameservers`).
const MAX_NAMESERVERS: usize = 3;
/// The most search domains (`MaxDNSSearchPathsExpanded`).
const MAX_SEARCHES: usize = 32;
/// The longest search line (`MaxDNSSearchListCharsExpanded`).
const MAX_SEARCH_LINE: usize = 2048;
/// The longest search domain: longer ones make some resolvers (glibc 2.28) abort.
const MAX_SEARCH_DOMAIN: usize = 253;
/// The most of the node's file that is read (`maxResolveConfLength`).
const MAX_FILE_BYTES: u64 = 10 << 20;
/// The options of a pod that uses the cluster's DNS.
const CLUSTER_OPTIONS: &[&str] = &["ndots:5"];

/// The node's DNS settings: the kubelet's `--resolv-conf`, `--cluster-dns` and
/// `--cluster-domain`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeDns {
    /// The node's resolver file; `None` for the kubelet's `--resolv-conf=""` (no file: the
    /// node's own loopback is the nameserver).
    pub resolv_conf: Option<PathBuf>,
    /// The cluster's DNS servers, for `ClusterFirst` pods.
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster's domain (`cluster.local`), searched by `ClusterFirst` pods.
    pub cluster_domain: Option<String>,
}

/// A resolver configuration: the lines of a `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order.
    pub servers: Vec<String>,
    /// The `search` line.
    pub searches: Vec<String>,
    /// The `options` line.
    pub options: Vec<String>,
}

/// Why the node's resolver file cannot be the base of a pod's.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The file cannot be read.
    #[error("cannot read the node's resolver file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A `nameserver` line names no server (the kubelet refuses such a file).
    #[error("{path}:{line}: nameserver list is empty")]
    EmptyNameserver {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
}

/// A warning event about a pod's DNS: its reason (`MissingClusterDNS`, `DNSConfigForming`)
/// and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsWarning {
    /// The kubelet's reason.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

/// What a pod's resolver file holds, and what was said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDns {
    /// The file's configuration.
    pub conf: ResolvConf,
    /// Warnings for the pod's events.
    pub warnings: Vec<DnsWarning>,
}

impl ResolvConf {
    /// Reads a `resolv.conf` as the kubelet does: `nameserver` lines add up, the last
    /// `search` and `options` lines win, a search domain's trailing dot is dropped, lines
    /// starting with `#` are comments.
    fn parse(path: &Path, text: &str) -> Result<ResolvConf, DnsError> {
        let mut conf = ResolvConf::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => match fields.next() {
                    Some(server) => conf.servers.push(server.to_string()),
                    None => {
                        return Err(DnsError::EmptyNameserver {
                            path: path.to_path_buf(),
                            line: number + 1,
                        });
                    }
                },
                Some("search") => {
                    conf.searches = fields
                        .map(|s| s.trim_end_matches('.').to_string())
                        .collect()
                }
                Some("options") => conf.options = fields.map(str::to_string).collect(),
                _ => {}
            }
        }
        Ok(conf)
    }

    /// The file's text, laid out as containerd writes a pod's: `search`, the `nameserver`
    /// lines, `options`, each only when it has something.
    pub fn text(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for server in &self.servers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }

    /// True when every nameserver is systemd-resolved's stub.
    fn is_systemd_stub(&self) -> bool {
        !self.servers.is_empty() && self.servers.iter().all(|s| s == SYSTEMD_RESOLVED_STUB)
    }
}

impl NodeDns {
    /// The node's resolver configuration, the base of a `Default` pod's (blocking: call it
    /// off the async threads). For a pod with its own network, a file whose only nameserver
    /// is systemd-resolved's stub, which does not answer inside the pod's network, is
    /// replaced by `upstream` (systemd-resolved's list of the servers behind the stub) when
    /// there is one: the file kubeadm gives the kubelet on such a host.
    pub fn host_config(&self, own_network: bool, upstream: &Path) -> Result<ResolvConf, DnsError> {
        let Some(path) = &self.resolv_conf else {
            return Ok(ResolvConf::default());
        };
        let conf = read(path)?;
        if !(own_network && conf.is_systemd_stub()) {
            return Ok(conf);
        }
        match read(upstream) {
            Ok(upstream_conf) => Ok(upstream_conf),
            Err(error) => {
                tracing::warn!(
                    file = %path.display(),
                    error = %crate::error_chain::describe(&error),
                    "the node's resolver is systemd-resolved's stub {SYSTEMD_RESOLVED_STUB}, which pods with their own network cannot reach, and its upstream file cannot be read: such pods get the stub"
                );
                Ok(conf)
            }
        }
    }
}

fn read(path: &Path) -> Result<ResolvConf, DnsError> {
    let failed = |source| DnsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(failed)?
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(failed)?;
    ResolvConf::parse(path, &text)
}

/// How a pod's resolver is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// The cluster's DNS.
    Cluster,
    /// The node's resolver.
    Host,
    /// Nothing: `dnsConfig` alone.
    None,
}

fn base_of(policy: DnsPolicy, host_network: bool) -> Base {
    match policy {
        DnsPolicy::None => Base::None,
        DnsPolicy::ClusterFirstWithHostNet => Base::Cluster,
        DnsPolicy::ClusterFirst if !host_network => Base::Cluster,
        DnsPolicy::ClusterFirst | DnsPolicy::Default => Base::Host,
    }
}

/// The resolver configuration of `pod`, from the node's settings `node` and its resolver
/// configuration `host` (see [`NodeDns::host_config`]); `node_ipv6` says whether the node's
/// address is IPv6 (its loopback is then the nameserver of a node without a resolver file).
pub fn pod_dns(pod: &StaticPod, node: &NodeDns, host: ResolvConf, node_ipv6: bool) -> PodDns {
    let spec = &pod.pod.spec;
    let mut warnings = Vec::new();
    let mut base = base_of(spec.dns_policy.unwrap_or_default(), spec.host_network);
    if base == Base::Cluster && node.cluster_dns.is_empty() {
        let message = format!(
            "pod: \"{}_{}({})\". The node has no clusterDNS configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.",
            pod.full_name(),
            pod.namespace(),
            pod.uid()
        );
        warnings.push(DnsWarning {
            reason: "MissingClusterDNS",
            message,
        });
        base = Base::Host;
    }
    let mut conf = match base {
        Base::None => ResolvConf::default(),
        Base::Cluster => ResolvConf {
            servers: node.cluster_dns.iter().map(IpAddr::to_string).collect(),
            searches: cluster_searches(node, pod.namespace(), host.searches),
            options: CLUSTER_OPTIONS.iter().map(|o| o.to_string()).collect(),
        },
        Base::Host if node.resolv_conf.is_none() => ResolvConf {
            servers: vec![if node_ipv6 { "::1" } else { "127.0.0.1" }.to_string()],
            searches: vec![".".to_string()],
            options: host.options,
        },
        Base::Host => host,
    };
    if let Some(config) = &spec.dns_config {
        add_pod_config(&mut conf, config);
    }
    fit_limits(&mut conf, &mut warnings);
    PodDns { conf, warnings }
}

/// A cluster pod's search domains: its namespace's services, the cluster's services, the
/// cluster, then the node's.
fn cluster_searches(node: &NodeDns, namespace: &str, host: Vec<String>) -> Vec<String> {
    let Some(domain) = &node.cluster_domain else {
        return host;
    };
    let cluster = [
        format!("{namespace}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.clone(),
    ];
    without_duplicates(cluster.into_iter().chain(host))
}

/// Adds the pod's `dnsConfig`: its servers and searches after the base's (each once), its
/// options replacing the base's of the same name in place, the others after them.
fn add_pod_config(conf: &mut ResolvConf, config: &PodDnsConfig) {
    let servers = std::mem::take(&mut conf.servers);
    conf.servers = without_duplicates(servers.into_iter().chain(config.nameservers.clone()));
    let searches = std::mem::take(&mut conf.searches);
    conf.searches = without_duplicates(searches.into_iter().chain(config.searches.clone()));
    for option in &config.options {
        let text = match &option.value {
            Some(value) if !value.is_empty() => format!("{}:{value}", option.name),
            _ => option.name.clone(),
        };
        let same_name = |existing: &String| existing.split(':').next() == Some(&option.name);
        match conf.options.iter_mut().find(|existing| same_name(existing)) {
            Some(existing) => *existing = text,
            None => conf.options.push(text),
        }
    }
}

fn without_duplicates(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

/// Cuts the configuration to what resolvers read, with the kubelet's `DNSConfigForming`
/// warnings: 3 nameservers; 32 search domains, none over 253 characters, a line of at most
/// 2048.
fn fit_limits(conf: &mut ResolvConf, warnings: &mut Vec<DnsWarning>) {
    if conf.servers.len() > MAX_NAMESERVERS {
        conf.servers.truncate(MAX_NAMESERVERS);
        warnings.push(DnsWarning {
            reason: "DNSConfigForming",
            message: format!(
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                conf.servers.join(" ")
            ),
        });
    }
    let searches = conf.searches.len();
    conf.searches.truncate(MAX_SEARCHES);
    conf.searches.retain(|s| s.len() <= MAX_SEARCH_DOMAIN);
    while conf.searches.join(" ").len() > MAX_SEARCH_LINE {
        conf.searches.pop();
    }
    if conf.searches.len() < searches {
        warnings.push(DnsWarning {
            reason: "DNSConfigForming",
            message: format!(
                "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                conf.searches.join(" ")
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::manifest;

    fn pod_of(text: &str) -> StaticPod {
        manifest::test_pod(text)
    }

    fn node(cluster: bool) -> NodeDns {
        NodeDns {
            resolv_conf: Some(DEFAULT_RESOLV_CONF.into()),
            cluster_dns: if cluster {
                vec!["10.96.0.10".parse().unwrap()]
            } else {
                vec![]
            },
            cluster_domain: cluster.then(|| "cluster.local".to_string()),
        }
    }

    fn host() -> ResolvConf {
        ResolvConf::parse(
            Path::new("/etc/resolv.conf"),
            "# from DHCP\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example. lab.example\noptions timeout:2 edns0\n",
        )
        .unwrap()
    }

    fn dns(spec: &str, node: &NodeDns) -> PodDns {
        let pod = pod_of(&format!(
            "kind: Pod\nmetadata: {{name: web}}\nspec:\n{spec}  containers: [{{name: c, image: busybox}}]\n"
        ));
        pod_dns(&pod, node, host(), false)
    }

    #[test]
    fn a_node_file_is_read_as_the_kubelet_reads_it() {
        let conf = host();
        assert_eq!(conf.servers, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(conf.searches, ["corp.example", "lab.example"]);
        assert_eq!(conf.options, ["timeout:2", "edns0"]);
        let empty = ResolvConf::parse(Path::new("/r"), "search a\nnameserver\n").unwrap_err();
        assert_eq!(empty.to_string(), "/r:2: nameserver list is empty");
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns_with_the_kubelets_searches() {
        let formed = dns("", &node(true));
        assert!(formed.warnings.is_empty(), "{formed:?}");
        expect![[r#"
            search default.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example
            nameserver 10.96.0.10
            options ndots:5
        "#]]
        .assert_eq(&formed.conf.text());
    }

    #[test]
    fn cluster_first_without_cluster_dns_falls_back_to_the_node_with_a_warning() {
        let formed = dns("", &node(false));
        assert_eq!(formed.conf, host());
        assert_eq!(formed.warnings.len(), 1);
        assert_eq!(formed.warnings[0].reason, "MissingClusterDNS");
        assert!(
            formed.warnings[0]
                .message
                .contains("Falling back to \"Default\" policy."),
            "{:?}",
            formed.warnings
        );
    }

    #[test]
    fn a_host_network_pod_uses_the_node_unless_it_asks_for_the_cluster() {
        let formed = dns("  hostNetwork: true\n", &node(true));
        assert_eq!(formed.conf, host());
        assert!(formed.warnings.is_empty());
        let with_host_net = dns(
            "  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n",
            &node(true),
        );
        assert_eq!(with_host_net.conf.servers, ["10.96.0.10"]);
    }

    #[test]
    fn none_is_the_pods_config_alone_and_options_merge_by_name() {
        let formed = dns(
            "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [192.0.2.53]\n    searches: [ns1.svc.example]\n    options: [{name: ndots, value: '2'}, {name: edns0}]\n",
            &node(true),
        );
        expect![[r#"
            search ns1.svc.example
            nameserver 192.0.2.53
            options ndots:2 edns0
        "#]]
        .assert_eq(&formed.conf.text());
        let merged = dns(
            "  dnsPolicy: Default\n  dnsConfig:\n    nameservers: [192.0.2.1, 192.0.2.9]\n    searches: [extra.example]\n    options: [{name: timeout, value: '5'}, {name: rotate}]\n",
            &node(true),
        );
        expect![[r#"
            search corp.example lab.example extra.example
            nameserver 192.0.2.1
            nameserver 192.0.2.2
            nameserver 192.0.2.9
            options timeout:5 edns0 rotate
        "#]]
        .assert_eq(&merged.conf.text());
    }

    #[test]
    fn without_a_resolver_file_the_nodes_loopback_answers() {
        let none = NodeDns::default();
        let pod = pod_of(
            "kind: Pod\nmetadata: {name: web}\nspec:\n  dnsPolicy: Default\n  containers: [{name: c, image: busybox}]\n",
        );
        let v4 = pod_dns(&pod, &none, ResolvConf::default(), false);
        assert_eq!(v4.conf.text(), "search .\nnameserver 127.0.0.1\n");
        let v6 = pod_dns(&pod, &none, ResolvConf::default(), true);
        assert_eq!(v6.conf.servers, ["::1"]);
    }

    #[test]
    fn the_limits_cut_what_the_node_and_the_pod_add_up_to_with_a_warning() {
        let searches: Vec<String> = (0..31).map(|i| format!("d{i}.example")).collect();
        let formed = dns(
            &format!(
                "  dnsPolicy: Default\n  dnsConfig:\n    nameservers: [192.0.2.3, 192.0.2.4]\n    searches: [{}]\n",
                searches.join(", ")
            ),
            &node(false),
        );
        assert_eq!(formed.conf.servers, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
        assert_eq!(formed.conf.searches.len(), 32);
        assert_eq!(formed.conf.searches[..2], ["corp.example", "lab.example"]);
        let reasons: Vec<_> = formed.warnings.iter().map(|w| w.reason).collect();
        assert_eq!(reasons, ["DNSConfigForming", "DNSConfigForming"]);
        assert!(
            formed.warnings[0]
                .message
                .ends_with("the applied nameserver line is: 192.0.2.1 192.0.2.2 192.0.2.3"),
            "{:?}",
            formed.warnings
        );
    }

    #[test]
    fn systemd_resolveds_stub_is_replaced_for_pods_with_their_own_network() {
        let dir = tempfile::tempdir().unwrap();
        let stub = dir.path().join("resolv.conf");
        let upstream = dir.path().join("upstream.conf");
        std::fs::write(
            &stub,
            "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
        )
        .unwrap();
        std::fs::write(&upstream, "nameserver 192.0.2.1\nsearch lan\n").unwrap();
        let node = NodeDns {
            resolv_conf: Some(stub.clone()),
            ..NodeDns::default()
        };
        let own = node.host_config(true, &upstream).unwrap();
        assert_eq!(own.servers, ["192.0.2.1"]);
        let host_network = node.host_config(false, &upstream).unwrap();
        assert_eq!(
            host_network.servers,
            [SYSTEMD_RESOLVED_STUB],
            "the host's own loopback answers a host-network pod"
        );
        let missing = node.host_config(true, &dir.path().join("none")).unwrap();
        assert_eq!(missing.servers, [SYSTEMD_RESOLVED_STUB]);
        let unreadable = NodeDns {
            resolv_conf: Some(dir.path().join("absent")),
            ..NodeDns::default()
        };
        assert!(matches!(
            unreadable.host_config(true, &upstream),
            Err(DnsError::Read { .. })
        ));
    }
}

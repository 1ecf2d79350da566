//! The real programs the integration tests talk to besides the runtimes, installed from
//! Debian's packages: nginx serves manifests to the agent's URL source and Prometheus scrapes
//! the agent's `/metrics` (each test starts an instance of its own, on loopback, with its own
//! configuration under its directory), kubectl reads the node's API, and etcdctl
//! (`etcd-client`) writes and reads keys of the etcd that kubeadm's manifest runs. Each is installed only when its file is missing, so a
//! machine's own kubectl (a newer one, at the same path) is used as it is.

use anyhow::Result;

use crate::apt::{self, Need, need};

/// Every peer, by the file that shows it is installed.
const PEERS: &[Need] = &[
    need("/usr/sbin/nginx", "nginx-light"),
    need("/usr/bin/kubectl", "kubernetes-client"),
    need("/usr/bin/prometheus", "prometheus"),
    need("/usr/bin/etcdctl", "etcd-client"),
];

/// Installs the peers that are missing; returns what is there, for the summary.
pub fn ensure() -> Result<String> {
    apt::ensure(PEERS)?;
    let names: Vec<&str> = PEERS.iter().map(|peer| peer.package).collect();
    Ok(names.join(", "))
}

//! Defaults as the kubelet applies them to a static pod (`pkg/kubelet/config/common.go` and
//! the API defaults): full name, namespace, UID, config annotations, restart policy, grace
//! period, pull policies, probe timings.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::model::{
    Container, DnsPolicy, ImagePullPolicy, Pod, PortProtocol, Probe, RestartPolicy,
};
use crate::source::SourceKind;

/// Annotation naming where the pod came from: `file` or `http`.
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// Annotation holding the hash of the pod's manifest content.
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// Annotation holding when the agent first saw this content.
pub const CONFIG_SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";
/// The mirror pod's copy of the config hash, as the kubelet's mirror client sets it.
pub const CONFIG_MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Where a container writes its termination message when its manifest does not say.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Grace period when the manifest gives none.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

/// A validated pod with every default applied, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticPod {
    /// The manifest with defaults applied: `metadata.name` is the full name.
    pub pod: Pod,
    /// Hash of the manifest content, node and source; changes when any of them changes.
    pub config_hash: String,
    /// The manifest file (or URL) it came from.
    pub source: PathBuf,
    /// The kind of source it came from.
    pub kind: SourceKind,
}

impl StaticPod {
    /// Pod full name (`static-web-node0`).
    pub fn full_name(&self) -> &str {
        &self.pod.metadata.name
    }

    /// Namespace.
    pub fn namespace(&self) -> &str {
        &self.pod.metadata.namespace
    }

    /// UID.
    pub fn uid(&self) -> &str {
        &self.pod.metadata.uid
    }

    /// Its container (init or app) named `name`.
    pub fn container(&self, name: &str) -> Option<&Container> {
        let spec = &self.pod.spec;
        spec.init_containers
            .iter()
            .chain(&spec.containers)
            .find(|c| c.name == name)
    }

    /// Restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.pod.spec.restart_policy.unwrap_or_default()
    }

    /// Grace period between SIGTERM and SIGKILL.
    pub fn grace_period(&self) -> std::time::Duration {
        let seconds = self
            .pod
            .spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        std::time::Duration::from_secs(seconds.max(0).unsigned_abs())
    }
}

/// Applies the kubelet's defaults to a pod read from `source` (a file, or the URL) of `kind`
/// on node `node_name`. `seen` is the RFC 3339 time the agent first saw this content (it is
/// not part of the hash).
pub fn apply(
    mut pod: Pod,
    source: &Path,
    kind: SourceKind,
    node_name: &str,
    seen: &str,
) -> StaticPod {
    let config_hash = content_hash(&pod, source, kind, node_name);
    if pod.metadata.uid.is_empty() {
        pod.metadata.uid = config_hash.clone();
    }
    pod.metadata.name = format!("{}-{}", pod.metadata.name, node_name.to_lowercase());
    if pod.metadata.namespace.is_empty() {
        pod.metadata.namespace = "default".to_string();
    }
    if pod.api_version.is_empty() {
        pod.api_version = "v1".to_string();
    }
    pod.kind = "Pod".to_string();
    pod.status = None;
    let annotations = &mut pod.metadata.annotations;
    annotations.insert(CONFIG_SOURCE_ANNOTATION.to_string(), kind.to_string());
    annotations.insert(CONFIG_HASH_ANNOTATION.to_string(), config_hash.clone());
    annotations.insert(CONFIG_SEEN_ANNOTATION.to_string(), seen.to_string());
    let spec = &mut pod.spec;
    spec.node_name = Some(node_name.to_string());
    spec.restart_policy.get_or_insert(RestartPolicy::Always);
    spec.dns_policy.get_or_insert(DnsPolicy::ClusterFirst);
    spec.termination_grace_period_seconds
        .get_or_insert(DEFAULT_GRACE_SECONDS);
    for container in spec
        .init_containers
        .iter_mut()
        .chain(spec.containers.iter_mut())
    {
        default_container(container);
    }
    StaticPod {
        pod,
        config_hash,
        source: source.to_path_buf(),
        kind,
    }
}

fn default_container(container: &mut Container) {
    container
        .image_pull_policy
        .get_or_insert(default_pull_policy(&container.image));
    container
        .termination_message_path
        .get_or_insert_with(|| DEFAULT_TERMINATION_MESSAGE_PATH.to_string());
    container
        .termination_message_policy
        .get_or_insert_with(|| "File".to_string());
    for port in &mut container.ports {
        port.protocol.get_or_insert(PortProtocol::Tcp);
    }
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
}

fn default_probe(probe: &mut Probe) {
    probe.initial_delay_seconds.get_or_insert(0);
    probe.timeout_seconds.get_or_insert(1);
    probe.period_seconds.get_or_insert(10);
    probe.success_threshold.get_or_insert(1);
    probe.failure_threshold.get_or_insert(3);
}

/// `Always` for `:latest` or an untagged image, else `IfNotPresent` (a digest counts as a tag).
pub fn default_pull_policy(image: &str) -> ImagePullPolicy {
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return ImagePullPolicy::IfNotPresent;
    }
    match last_segment.split_once(':') {
        Some((_, "latest")) | None => ImagePullPolicy::Always,
        Some(_) => ImagePullPolicy::IfNotPresent,
    }
}

/// The kubelet (`pkg/kubelet/config/common.go`, `applyDefaults`) hashes the pod object,
/// then `host:<node>` and `file:<path>` for a file, or only `url:<url>` for the URL (so a
/// URL's pod has the same UID on every node); its Go object hash cannot be reproduced here,
/// so we hash the same inputs: the pod as parsed (canonical JSON, maps sorted) and the same
/// source strings. 32 hex digits, like an MD5.
fn content_hash(pod: &Pod, source: &Path, kind: SourceKind, node_name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(pod).unwrap_or_default());
    match kind {
        SourceKind::File => {
            hasher.update(format!("host:{node_name}").as_bytes());
            hasher.update(format!("file:{}", source.display()).as_bytes());
        }
        SourceKind::Http => hasher.update(format!("url:{}", source.display()).as_bytes()),
    }
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("nginx"), ImagePullPolicy::Always);
        assert_eq!(default_pull_policy("nginx:latest"), ImagePullPolicy::Always);
        assert_eq!(
            default_pull_policy("nginx:1.25"),
            ImagePullPolicy::IfNotPresent
        );
        assert_eq!(
            default_pull_policy("localhost:5000/nginx"),
            ImagePullPolicy::Always
        );
        assert_eq!(
            default_pull_policy("localhost:5000/nginx:1"),
            ImagePullPolicy::IfNotPresent
        );
        assert_eq!(
            default_pull_policy("nginx@sha256:abc"),
            ImagePullPolicy::IfNotPresent
        );
    }

    #[test]
    fn uid_is_stable_for_the_same_inputs_and_changes_with_each() {
        let mut pod = Pod::default();
        pod.metadata.name = "web".into();
        let uid = |pod: &Pod, path: &str, node: &str| {
            apply(pod.clone(), Path::new(path), SourceKind::File, node, "t")
                .uid()
                .to_string()
        };
        let base = uid(&pod, "/m/web.yaml", "node0");
        assert_eq!(base.len(), 32);
        assert_eq!(base, uid(&pod, "/m/web.yaml", "node0"));
        assert_ne!(base, uid(&pod, "/m/other.yaml", "node0"));
        assert_ne!(base, uid(&pod, "/m/web.yaml", "node1"));
        pod.metadata.labels.insert("a".into(), "b".into());
        assert_ne!(base, uid(&pod, "/m/web.yaml", "node0"));
    }

    #[test]
    fn names_the_pod_after_the_node_in_lower_case() {
        let mut pod = Pod::default();
        pod.metadata.name = "static-web".into();
        let pod = apply(
            pod,
            Path::new("/m/a.yaml"),
            SourceKind::File,
            "K8s-Node0",
            "t",
        );
        assert_eq!(pod.full_name(), "static-web-k8s-node0");
        assert_eq!(pod.namespace(), "default");
        assert_eq!(pod.restart_policy(), RestartPolicy::Always);
        assert_eq!(pod.grace_period(), std::time::Duration::from_secs(30));
    }
}

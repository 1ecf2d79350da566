//! The Docker-only labels this backend adds (dockershim's own keys, so `docker ps` on our
//! nodes reads as it did on a kubelet node), and how the core's labels and annotations
//! become Docker labels: Docker has no annotations, so both are stored as labels.

use std::collections::{BTreeMap, HashMap};

use staticpod_runtime::labels;

/// Tells a pod's sandbox (pause container) from its containers.
pub const DOCKER_TYPE: &str = "io.kubernetes.docker.type";
/// [`DOCKER_TYPE`] of a sandbox.
pub const DOCKER_TYPE_SANDBOX: &str = "podsandbox";
/// [`DOCKER_TYPE`] of a pod's container.
pub const DOCKER_TYPE_CONTAINER: &str = "container";
/// On a container: the id of the pause container whose namespaces it joined.
pub const SANDBOX_ID: &str = "io.kubernetes.sandbox.id";

/// Labels and annotations merged into one Docker label map (annotations win on a clash, as
/// the trait's `labels` fields promise), then `ours`, which win over both because the
/// backend's own bookkeeping depends on them.
pub(crate) fn docker_labels(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    ours: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut merged: HashMap<String, String> = labels::merge(labels, annotations);
    merged.extend(ours.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_win_over_labels_and_annotations() {
        let labels = BTreeMap::from([(DOCKER_TYPE.to_owned(), "label".to_owned())]);
        let annotations = BTreeMap::from([(DOCKER_TYPE.to_owned(), "annotation".to_owned())]);
        let merged = docker_labels(&labels, &annotations, &[(DOCKER_TYPE, DOCKER_TYPE_SANDBOX)]);
        assert_eq!(
            merged,
            HashMap::from([(DOCKER_TYPE.to_owned(), "podsandbox".to_owned())])
        );
    }
}

//! How the core's labels and annotations become Podman labels. Podman pods have no
//! annotations, and a container's annotations go to the OCI runtime where `podman ps` and the
//! list filters do not see them, so both are stored as labels, as the Docker backend does.

use std::collections::{BTreeMap, HashMap};

/// Labels and annotations merged into one label map; annotations win on a clash, as the
/// trait's `labels` fields promise.
pub(crate) fn podman_labels(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> HashMap<String, String> {
    labels
        .iter()
        .chain(annotations)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_win_over_labels() {
        let labels = BTreeMap::from([
            ("a".to_owned(), "label".to_owned()),
            ("b".to_owned(), "label".to_owned()),
        ]);
        let annotations = BTreeMap::from([
            ("b".to_owned(), "annotation".to_owned()),
            ("c".to_owned(), "annotation".to_owned()),
        ]);
        let merged: BTreeMap<_, _> = podman_labels(&labels, &annotations).into_iter().collect();
        assert_eq!(
            merged,
            BTreeMap::from([
                ("a".to_owned(), "label".to_owned()),
                ("b".to_owned(), "annotation".to_owned()),
                ("c".to_owned(), "annotation".to_owned()),
            ])
        );
    }
}

//! Labels and names the agent puts on every runtime object, so that the whole state of the
//! node can be rebuilt from the runtime alone after the agent restarts.
//!
//! Keys are the kubelet's own (`kuberuntime/labels.go`), so `docker ps`, `crictl ps` and
//! `podman ps` show our pods as they would show the kubelet's, plus two of ours: the
//! managed-by marker (we never touch objects without it) and the pod's config hash.

use std::collections::HashMap;

/// Marks objects this agent created. Backends list only objects carrying it.
pub const MANAGED_BY: &str = "io.staticpod.managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "staticpod";
/// The node name the agent ran as (`--hostname-override`): an agent adopts and removes only
/// its own node's objects, so two agents (a demo and a test run) can share one runtime.
pub const NODE: &str = "io.staticpod.node";
/// The pod's config hash (the `kubernetes.io/config.hash` annotation): which manifest
/// content the object was created for.
pub const CONFIG_HASH: &str = "io.staticpod.config-hash";
/// The kind of source the pod came from (`file` or `http`, the kubelet's
/// `kubernetes.io/config.source`): a restarted agent keeps the pods of a source it has not
/// read yet. Objects without it came from the manifest directory.
pub const SOURCE: &str = "io.staticpod.source";
/// Pod full name (`static-web-node0`).
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Pod namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Pod UID.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Container name from the manifest (`POD` on Docker sandboxes, as dockershim had it).
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Hash of the container's spec.
pub const CONTAINER_HASH: &str = "io.kubernetes.container.hash";
/// How many times the container was restarted before this instance.
pub const CONTAINER_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
/// The restart count of the instance whose exit began the container's current crash
/// back-off (ours: the kubelet keeps its back-off in memory), so a restarted agent keeps it.
pub const BACKOFF_SINCE: &str = "io.staticpod.backoff-since";
/// The container's `preStop` hook, resolved (JSON), the kubelet's own key: a pod whose
/// manifest is gone is still stopped with its hook.
pub const PRE_STOP_HANDLER: &str = "io.kubernetes.container.preStopHandler";
/// `init` for init containers, `app` otherwise (ours: the kubelet keeps this in memory).
pub const CONTAINER_KIND: &str = "io.staticpod.container.kind";
/// On a native sidecar (an init container with `restartPolicy: Always`): its index in
/// `initContainers`, so a removed manifest's sidecars still stop last, in reverse order.
pub const SIDECAR_INDEX: &str = "io.staticpod.container.sidecar-index";
/// The pod's grace period in seconds, so a removed manifest can still be stopped gently.
pub const POD_GRACE_PERIOD: &str = "io.kubernetes.pod.terminationGracePeriod";
/// Sandbox attempt number.
pub const SANDBOX_ATTEMPT: &str = "io.staticpod.sandbox.attempt";

/// True when `labels` mark an object this agent created ([`MANAGED_BY`] =
/// [`MANAGED_BY_VALUE`]); an object without labels is not ours.
pub fn is_managed(labels: Option<&HashMap<String, String>>) -> bool {
    labels
        .and_then(|labels| labels.get(MANAGED_BY))
        .is_some_and(|value| value == MANAGED_BY_VALUE)
}

/// Labels and annotations in one label map, annotations winning on a clash (as the
/// trait's `labels` fields promise), for runtimes whose objects keep labels only (Docker,
/// Podman) or report both (CRI).
pub fn merge<'a, M>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> M
where
    M: FromIterator<(String, String)>,
{
    labels
        .into_iter()
        .chain(annotations)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn only_our_marker_makes_an_object_managed() {
        let labels = |value: &str| HashMap::from([(MANAGED_BY.to_owned(), value.to_owned())]);
        assert!(is_managed(Some(&labels(MANAGED_BY_VALUE))));
        assert!(!is_managed(Some(&labels("someone-else"))));
        assert!(!is_managed(Some(&HashMap::new())));
        assert!(!is_managed(None));
    }

    #[test]
    fn annotations_win_over_labels() {
        let labels = HashMap::from([
            ("a".to_owned(), "label".to_owned()),
            ("b".to_owned(), "label".to_owned()),
        ]);
        let annotations = BTreeMap::from([
            ("b".to_owned(), "annotation".to_owned()),
            ("c".to_owned(), "annotation".to_owned()),
        ]);
        let merged: BTreeMap<String, String> = merge(&labels, &annotations);
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

//! What the agent remembers between reconciles that the runtime cannot tell it: the last
//! failure of each pod's work, so failed work is retried after a wait instead of at every pass
//! (with back-off for an image that cannot be pulled), and its status can say why it is
//! waiting; and the pods whose
//! manifest was removed and written again, to restart. What the probes say
//! is not history: it is a snapshot of this pass ([`crate::verdicts`]).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use super::observe::{ObservedPod, PodKey};
use staticpod_runtime::backoff::capped_doubling;

/// The wait after failed work: the kubelet's pod worker `backOffPeriod`, the same after
/// every failure (a sandbox that cannot be made, a kill that failed, a container that cannot
/// be created); and the first wait after a failed pull.
const RETRY: Duration = Duration::from_secs(10);
/// The longest wait after failed pulls of an image, each doubling the wait before it, as
/// the kubelet's image back-off (`ImagePullBackOff`).
const PULL_RETRY_MAX: Duration = Duration::from_secs(300);

/// The last failure of a pod's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Failures in a row.
    pub count: u32,
    /// When the last one happened.
    pub at: SystemTime,
    /// The kubelet's word for it (`ErrImagePull`, `CreateContainerError`, ...).
    pub reason: &'static str,
    /// The error, in full.
    pub message: String,
    /// The container whose start failed, when the failure was one container's (a failed
    /// pull, create or start); none for the pod's own work (its sandbox, its removal).
    pub container: Option<String>,
    /// The sandbox that container was started in, when the work found it (did not make it).
    pub sandbox: Option<String>,
    /// The UID of the pod the work was for: an edit (a new UID) or a removal is never held
    /// back by the failure of the pod it replaces.
    pub uid: Option<String>,
}

/// Failures by pod, and the pods to restart.
#[derive(Debug, Clone, Default)]
pub struct History {
    failures: BTreeMap<PodKey, Failure>,
    /// The pods to kill and start again, in a new sandbox, their restart counts going on
    /// (the kubelet's restart of a static pod whose file was removed and written again),
    /// each with the UID it was asked for.
    restarts: BTreeMap<PodKey, String>,
}

impl History {
    /// Records that the work for `key`, for the pod with `uid` (none when the pod was
    /// being removed), failed; in starting `container` (its name and the id of the sandbox it
    /// found, if it did not make it), when it was one container's.
    pub fn record_failure(
        &mut self,
        key: &PodKey,
        uid: Option<&str>,
        container: Option<(&str, Option<&str>)>,
        reason: &'static str,
        message: String,
        now: SystemTime,
    ) {
        let count = self.failure(key, uid).map_or(0, |f| f.count) + 1;
        self.failures.insert(
            key.clone(),
            Failure {
                count,
                at: now,
                reason,
                message,
                container: container.map(|(name, _)| name.to_string()),
                sandbox: container.and_then(|(_, sandbox)| sandbox.map(str::to_string)),
                uid: uid.map(str::to_string),
            },
        );
    }

    /// Forgets each container's failure whose sandbox is no longer its pod's ready one
    /// in `observed`: the sandbox was torn down under the work (a `sandbox container is not
    /// running`), and the kubelet makes a new sandbox at once rather than backing off from a
    /// failure that was the old sandbox's.
    pub fn forget_lost_sandboxes(&mut self, observed: &BTreeMap<String, ObservedPod>) {
        let ready: HashSet<(&PodKey, &str)> = observed
            .values()
            .filter_map(|pod| Some((&pod.key, pod.ready_sandbox()?.info.id.as_str())))
            .collect();
        self.failures.retain(|key, failure| {
            failure
                .sandbox
                .as_deref()
                .is_none_or(|sandbox| ready.contains(&(key, sandbox)))
        });
    }

    /// Forgets failures of `key` after its work succeeded.
    pub fn record_success(&mut self, key: &PodKey) {
        self.failures.remove(key);
    }

    /// The last failure of `key`, if its last work failed and was for the pod with `uid`.
    pub fn failure(&self, key: &PodKey, uid: Option<&str>) -> Option<&Failure> {
        self.failures.get(key).filter(|f| f.uid.as_deref() == uid)
    }

    /// When the pod `namespace`/`name` may be tried again, if it is backing off from a
    /// failure of the pod with `uid`, the one wanted now.
    pub fn retry_at(&self, namespace: &str, name: &str, uid: Option<&str>) -> Option<SystemTime> {
        // The usual pass has no failure to look up: no key is built for it.
        if self.failures.is_empty() {
            return None;
        }
        let key = PodKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let failure = self.failure(&key, uid)?;
        let wait = if failure.reason == "ErrImagePull" {
            capped_doubling(RETRY, PULL_RETRY_MAX, failure.count.saturating_sub(1))
        } else {
            RETRY
        };
        Some(failure.at + wait)
    }

    /// Drops what is known of pods that are neither desired nor present.
    pub fn retain(&mut self, keep: impl Fn(&PodKey) -> bool) {
        self.failures.retain(|key, _| keep(key));
        self.restarts.retain(|key, _| keep(key));
    }

    /// Asks for the pod `key` with `uid` to be restarted.
    pub fn request_restart(&mut self, key: PodKey, uid: String) {
        self.restarts.insert(key, uid);
    }

    /// Whether the pod `namespace`/`name` with `uid` is to be restarted.
    pub fn restart_requested(&self, namespace: &str, name: &str, uid: &str) -> bool {
        // The usual pass has none: no key is built for it.
        if self.restarts.is_empty() {
            return false;
        }
        let key = PodKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.restarts.get(&key).is_some_and(|asked| asked == uid)
    }

    /// The work that restarts `key` has been started.
    pub fn restart_started(&mut self, key: &PodKey) {
        self.restarts.remove(key);
    }
}

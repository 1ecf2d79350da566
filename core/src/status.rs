//! Pod status without an API server: what the runtime holds, read through the labels, shaped
//! as Kubernetes `PodStatus` so that `GET /pods` answers like the kubelet's read-only port,
//! and the `STATUS` word `kubectl get pods` would print.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::manifest::defaults::StaticPod;
use crate::model::{Container, Pod, RestartPolicy};
use crate::reconcile::admission::Rejection;
use crate::reconcile::history::History;
use crate::reconcile::init;
use crate::reconcile::observe::{ContainerKind, ObservedContainer, ObservedPod, PodKey};
use crate::reconcile::plan::{self, CrashBackoff};
use crate::verdicts::{ProbeVerdicts, Verdicts};
use staticpod_runtime::ContainerState;

/// RFC 3339 in whole seconds, as the API writes times.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A pod with its status, as `GET /pods` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    /// `v1`.
    pub api_version: String,
    /// `Pod`.
    pub kind: String,
    /// The defaulted manifest's metadata.
    pub metadata: crate::model::ObjectMeta,
    /// The defaulted manifest's spec.
    pub spec: crate::model::PodSpec,
    /// What runs.
    pub status: PodStatus,
}

/// `PodList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodListView {
    /// `v1`.
    pub api_version: String,
    /// `PodList`.
    pub kind: String,
    /// The pods.
    pub items: Vec<PodView>,
}

/// `PodStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: String,
    /// `Ready` and `ContainersReady` conditions.
    #[serde(default)]
    pub conditions: Vec<PodCondition>,
    /// Why the pod waits, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The kubelet's word for why the pod failed, when the node refused it
    /// (`SysctlForbidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node's IP.
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The pod's IP.
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// When the sandbox was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Init containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    /// App containers.
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatus>,
    /// `Guaranteed`, `Burstable` or `BestEffort`, as the kubelet computes it.
    #[serde(default, rename = "qosClass", skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<String>,
}

/// A pod condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    /// `PodReadyToStartContainers`, `Initialized`, `Ready`, `ContainersReady`,
    /// `PodScheduled`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// The kubelet's word for why, where it sets one (`ContainersNotReady`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// In words (`containers with unready status: [web]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed (stamped by [`Transitions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// When each pod's conditions last changed: the agent keeps it between passes, so a
/// condition's `lastTransitionTime` moves only when its status does.
#[derive(Debug, Default)]
pub struct Transitions {
    since: BTreeMap<(String, String), (String, String)>,
}

impl Transitions {
    /// Stamps every condition of `pods` with the time its status took its current value,
    /// `now` for a change; forgets the pods that are gone.
    pub fn stamp(&mut self, pods: &mut PodListView, now: SystemTime) {
        let mut seen = BTreeMap::new();
        for pod in &mut pods.items {
            for condition in &mut pod.status.conditions {
                let key = (pod.metadata.uid.clone(), condition.type_.clone());
                let at = match self.since.get(&key) {
                    Some((status, at)) if *status == condition.status => at.clone(),
                    _ => timestamp(now),
                };
                condition.last_transition_time = Some(at.clone());
                seen.insert(key, (condition.status.clone(), at));
            }
        }
        self.since = seen;
    }
}

/// `ContainerStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    /// Container name.
    pub name: String,
    /// Running, and its readiness and startup probes (if any) pass.
    pub ready: bool,
    /// Restarts so far.
    pub restart_count: u32,
    /// Image.
    pub image: String,
    /// The image the latest instance runs, as the runtime names it (empty before one
    /// was created).
    #[serde(default, rename = "imageID")]
    pub image_id: String,
    /// `<runtime>://<id>` of the latest instance.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
    /// Running, and its startup probe (if any) passed.
    pub started: bool,
    /// Current state.
    pub state: ContainerStateView,
    /// How the previous instance ended (empty when there was none).
    #[serde(default)]
    pub last_state: ContainerStateView,
}

/// `ContainerState`: exactly one member is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateView {
    /// Waiting to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
    /// Ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Terminated>,
}

/// `waiting`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    /// `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, ...
    pub reason: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `running`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    /// Start time.
    pub started_at: String,
}

/// `terminated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    /// Exit code.
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`.
    pub reason: String,
    /// Start time; unknown for an init container whose instance was removed after it
    /// completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// End time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// What the container wrote to its `terminationMessagePath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `<runtime>://<id>` of the instance that ended (`kubectl logs --previous` reads its
    /// log); unknown when it was removed.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
}

/// What a pod's status is computed from besides the runtime's objects: the agent's memory of
/// failed work, this pass's probe verdicts, and facts of the node.
#[derive(Debug, Clone, Copy)]
pub struct StatusInputs<'a> {
    /// Failed work, by pod.
    pub history: &'a History,
    /// What the probes say, by container id.
    pub verdicts: &'a ProbeVerdicts,
    /// The termination messages of exited containers, by container id.
    pub messages: &'a BTreeMap<String, String>,
    /// The node's IP (`status.hostIP`).
    pub host_ip: &'a str,
    /// The runtime's name, prefixing container ids (`docker://...`).
    pub runtime_name: &'a str,
    /// The time of this pass.
    pub now: SystemTime,
    /// The time of the pass before, if any: a failure since then was this pass's attempt
    /// (`ErrImagePull`); an older one is a back-off (`ImagePullBackOff`).
    pub previous_pass: Option<SystemTime>,
    /// The node's crash back-off (`CrashLoopBackOff`'s message gives its wait).
    pub backoff: CrashBackoff,
}

/// Computes the status of every desired pod.
pub fn pod_list(
    desired: &[Arc<StaticPod>],
    observed: &BTreeMap<String, ObservedPod>,
    inputs: &StatusInputs<'_>,
) -> PodListView {
    let items = desired
        .iter()
        .map(|pod| {
            let current = observed
                .get(pod.uid())
                .filter(|o| o.config_hash == pod.config_hash);
            let key = PodKey {
                namespace: pod.namespace().to_string(),
                name: pod.full_name().to_string(),
            };
            let Pod { metadata, spec, .. } = pod.pod.clone();
            PodView {
                api_version: "v1".to_string(),
                kind: "Pod".to_string(),
                metadata,
                spec,
                status: pod_status(pod, current, &key, inputs),
            }
        })
        .collect();
    PodListView {
        api_version: "v1".to_string(),
        kind: "PodList".to_string(),
        items,
    }
}

fn pod_status(
    pod: &StaticPod,
    current: Option<&ObservedPod>,
    key: &PodKey,
    inputs: &StatusInputs<'_>,
) -> PodStatus {
    let host_ip = inputs.host_ip;
    let sandbox = current.and_then(ObservedPod::ready_sandbox);
    let failure = inputs.history.failure(key, Some(pod.uid()));
    let in_sandbox = |c: &&ObservedContainer| {
        sandbox.is_none_or(|s| {
            c.info
                .sandbox_id
                .as_deref()
                .is_none_or(|id| id == s.info.id)
        })
    };
    // The app containers have started: the pod is initialized, whatever is left of its
    // init containers; and an init container before one that began completed once (the
    // planner's rules, `reconcile::init`).
    let app_started = current.is_some_and(|o| {
        o.containers
            .iter()
            .filter(in_sandbox)
            .any(|c| c.kind == ContainerKind::App)
    });
    let last_begun = current
        .zip(sandbox)
        .and_then(|(o, s)| init::last_begun(pod, o, &s.info.id));
    let failure_now = |name: &str| {
        let f = failure.filter(|f| f.container.as_deref().is_none_or(|c| c == name))?;
        let fresh = inputs.previous_pass.is_none_or(|previous| f.at > previous);
        let reason = match f.reason {
            "ErrImagePull" if !fresh => "ImagePullBackOff",
            reason => reason,
        };
        Some(Shown {
            reason,
            message: f.message.as_str(),
            at: f.at,
            own: f.container.is_some(),
        })
    };
    // As the kubelet: in a pod with init containers, a container not created yet waits as
    // `PodInitializing`; otherwise as `ContainerCreating`.
    let has_init = !pod.pod.spec.init_containers.is_empty();
    // A completed pod's sidecars were stopped for good, not to be restarted.
    let finished =
        current.is_some_and(|o| plan::completed(pod, o, sandbox.map(|s| s.info.id.as_str())));
    let status_of = |kind, index: usize, container: &Container| {
        let mut instances: Vec<&ObservedContainer> = current
            .map(|o| {
                o.containers
                    .iter()
                    .filter(|c| c.kind == kind && c.name == container.name)
                    .filter(in_sandbox)
                    .collect()
            })
            .unwrap_or_default();
        instances.sort_by_key(|c| c.attempt);
        let latest = instances.pop();
        let ended = |c: &ObservedContainer| {
            terminated(c).map(|t| Terminated {
                container_id: Some(container_uri(inputs.runtime_name, c)),
                message: inputs
                    .messages
                    .get(&c.info.id)
                    .filter(|m| !m.is_empty())
                    .cloned(),
                ..t
            })
        };
        let previous = instances.into_iter().rev().find_map(ended);
        let verdicts = latest.and_then(|c| inputs.verdicts.get(&c.info.id));
        let facts = InstanceFacts {
            latest,
            previous,
            verdicts,
            failure: failure_now(&container.name),
            init: kind == ContainerKind::Init,
            sidecar: container.is_sidecar() && !finished,
            initializing: has_init,
            completed_long_ago: kind == ContainerKind::Init
                && !container.is_sidecar()
                && (app_started || last_begun.is_some_and(|last| index < last)),
        };
        container_status(pod, container, &facts, inputs)
    };
    let spec = &pod.pod.spec;
    let init_container_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .enumerate()
        .map(|(i, c)| status_of(ContainerKind::Init, i, c))
        .collect();
    // Initialized once every init container completed, a sidecar counting once started;
    // and for good once the app containers have started.
    let initialized = app_started
        || spec
            .init_containers
            .iter()
            .zip(&init_container_statuses)
            .all(|(c, status)| {
                if c.is_sidecar() {
                    status.started
                } else {
                    completed(status)
                }
            });
    let container_statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| status_of(ContainerKind::App, i, c))
        .collect();
    let inits_where = |sidecar: bool| -> Vec<ContainerStatus> {
        spec.init_containers
            .iter()
            .zip(&init_container_statuses)
            .filter(|(c, _)| c.is_sidecar() == sidecar)
            .map(|(_, status)| status.clone())
            .collect()
    };
    let plain_inits = inits_where(false);
    let phase = phase(
        pod.restart_policy(),
        initialized,
        &plain_inits,
        &inits_where(true),
        &container_statuses,
    );
    // Ready counts the sidecars as containers, as the kubelet does.
    let sidecars_ready = spec
        .init_containers
        .iter()
        .zip(&init_container_statuses)
        .filter(|(c, _)| c.is_sidecar())
        .all(|(_, status)| status.ready);
    let ready = phase == "Running" && sidecars_ready && container_statuses.iter().all(|c| c.ready);
    let done = matches!(phase, "Succeeded" | "Failed");
    let unready = |statuses: &[ContainerStatus], ok: fn(&ContainerStatus) -> bool| {
        let names: Vec<&str> = statuses
            .iter()
            .filter(|c| !ok(c))
            .map(|c| c.name.as_str())
            .collect();
        names.join(" ")
    };
    let not_ready = (!ready).then(|| {
        if done {
            ("PodCompleted".to_string(), None)
        } else {
            let names = unready(&container_statuses, |c| c.ready);
            let message = format!("containers with unready status: [{names}]");
            ("ContainersNotReady".to_string(), Some(message))
        }
    });
    let not_initialized = (!initialized).then(|| {
        let names = unready(&plain_inits, completed);
        let message = format!("containers with incomplete status: [{names}]");
        ("ContainersNotInitialized".to_string(), Some(message))
    });
    let condition = |type_: &str, value: bool, why: Option<(String, Option<String>)>| {
        let (reason, message) = why.map_or((None, None), |(r, m)| (Some(r), m));
        PodCondition {
            type_: type_.to_string(),
            status: if value { "True" } else { "False" }.to_string(),
            reason: if done && value && type_ == "Initialized" {
                Some("PodCompleted".to_string())
            } else {
                reason
            },
            message,
            last_transition_time: None,
        }
    };
    PodStatus {
        conditions: vec![
            condition("PodReadyToStartContainers", sandbox.is_some(), None),
            condition("Initialized", initialized, not_initialized),
            condition("Ready", ready, not_ready.clone()),
            condition("ContainersReady", ready, not_ready),
            condition("PodScheduled", true, None),
        ],
        message: failure.map(|f| format!("{}: {}", f.reason, f.message)),
        host_ip: Some(host_ip.to_string()),
        pod_ip: sandbox
            .and_then(|s| s.info.ip.clone())
            .or_else(|| spec.host_network.then(|| host_ip.to_string())),
        start_time: sandbox.map(|s| timestamp(s.info.created_at)),
        phase: phase.to_string(),
        init_container_statuses,
        container_statuses,
        qos_class: Some(qos_class(spec).to_string()),
        reason: None,
    }
}

/// The status of a pod the node's admission refused, as the kubelet's `rejectPod` writes
/// it: `Failed`, the refusal's reason, `Pod was rejected: ...`; nothing of it was started.
pub fn rejected(spec: &crate::model::PodSpec, rejection: &Rejection, host_ip: &str) -> PodStatus {
    PodStatus {
        phase: "Failed".to_string(),
        reason: Some(rejection.reason.to_string()),
        message: Some(format!("Pod was rejected: {}", rejection.message)),
        host_ip: Some(host_ip.to_string()),
        qos_class: Some(qos_class(spec).to_string()),
        ..PodStatus::default()
    }
}

/// The pod's QoS class as the kubelet's `GetPodQOS`: `BestEffort` when no container asks
/// for or is limited in CPU or memory; `Guaranteed` when every container has CPU and memory
/// limits and its requests (which default to the limits) equal them; else `Burstable`.
pub fn qos_class(spec: &crate::model::PodSpec) -> &'static str {
    const RESOURCES: [&str; 2] = ["cpu", "memory"];
    let mut any = false;
    let mut guaranteed = true;
    for container in spec.init_containers.iter().chain(&spec.containers) {
        let resources = container.resources.clone().unwrap_or_default();
        let set = |map: &BTreeMap<String, crate::quantity::Quantity>, name: &str| {
            map.get(name).map(|q| q.millis()).filter(|m| *m != 0)
        };
        for name in RESOURCES {
            let limit = set(&resources.limits, name);
            let request = set(&resources.requests, name).or(limit);
            any |= limit.is_some() || request.is_some();
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// What is known of one container's instances for its status.
struct InstanceFacts<'a> {
    /// The latest instance, if any.
    latest: Option<&'a ObservedContainer>,
    /// How the newest older instance ended, if one is kept.
    previous: Option<Terminated>,
    /// What its probes say.
    verdicts: Option<&'a Verdicts>,
    /// The pod's last failure, when it is this container's or the whole pod's.
    failure: Option<Shown<'a>>,
    /// An init container (restarted only when it fails, whatever the pod's policy).
    init: bool,
    /// A sidecar (restarted whenever it exits, whatever the pod's policy).
    sidecar: bool,
    /// A container of a pod with init containers: before its creation it waits as
    /// `PodInitializing`, not `ContainerCreating`.
    initializing: bool,
    /// An init container of a pod whose app containers have started.
    completed_long_ago: bool,
}

/// A failure as a container's status shows it.
#[derive(Clone, Copy)]
struct Shown<'a> {
    /// The reason to show (`ErrImagePull` in the pass that failed, `ImagePullBackOff` after).
    reason: &'static str,
    /// The error, in full.
    message: &'a str,
    /// When it happened.
    at: SystemTime,
    /// True when it was this container's own start that failed, not the pod's work.
    own: bool,
}

/// An instance as the API names it: `<runtime>://<id>`.
fn container_uri(runtime_name: &str, c: &ObservedContainer) -> String {
    format!("{runtime_name}://{}", c.info.id)
}

/// How an exited instance ended.
fn terminated(c: &ObservedContainer) -> Option<Terminated> {
    let ContainerState::Exited {
        exit_code,
        started_at,
        finished_at,
        oom_killed,
    } = c.info.state
    else {
        return None;
    };
    let reason = if oom_killed {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Some(Terminated {
        exit_code,
        reason: reason.to_string(),
        started_at: Some(timestamp(started_at)),
        finished_at: Some(timestamp(finished_at)),
        message: None,
        container_id: None,
    })
}

/// A whole-second duration as Go prints it (`10s`, `1m20s`, `5m0s`), as the kubelet's
/// messages show it.
pub(crate) fn go_duration(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds / 60 % 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

fn completed(status: &ContainerStatus) -> bool {
    status
        .state
        .terminated
        .as_ref()
        .is_some_and(|t| t.exit_code == 0)
}

fn container_status(
    pod: &StaticPod,
    container: &Container,
    facts: &InstanceFacts<'_>,
    inputs: &StatusInputs<'_>,
) -> ContainerStatus {
    let (runtime_name, now) = (inputs.runtime_name, inputs.now);
    let waiting = |reason: &str, message: Option<String>| ContainerStateView {
        waiting: Some(Waiting {
            reason: reason.to_string(),
            message,
        }),
        ..ContainerStateView::default()
    };
    let terminated_view = |t: Terminated| ContainerStateView {
        terminated: Some(t),
        ..ContainerStateView::default()
    };
    let not_started = || {
        if facts.completed_long_ago {
            return terminated_view(Terminated {
                exit_code: 0,
                reason: "Completed".to_string(),
                started_at: None,
                finished_at: None,
                message: None,
                container_id: None,
            });
        }
        match facts.failure {
            Some(f) => waiting(f.reason, Some(f.message.to_string())),
            None if facts.initializing => waiting("PodInitializing", None),
            None => waiting("ContainerCreating", None),
        }
    };
    let mut last_state = facts
        .previous
        .clone()
        .map(terminated_view)
        .unwrap_or_default();
    let state = match facts.latest.map(|c| (c, c.info.state)) {
        None => not_started(),
        Some((_, ContainerState::Running { started_at })) => ContainerStateView {
            running: Some(Running {
                started_at: timestamp(started_at),
            }),
            ..ContainerStateView::default()
        },
        Some((
            c,
            ContainerState::Exited {
                exit_code,
                started_at,
                finished_at,
                ..
            },
        )) => {
            let restarts = match pod.restart_policy() {
                _ if facts.sidecar => true,
                RestartPolicy::Always => !facts.init || exit_code != 0,
                RestartPolicy::OnFailure => exit_code != 0,
                RestartPolicy::Never => false,
            };
            let ran = finished_at.duration_since(started_at).unwrap_or_default();
            let ended = Terminated {
                container_id: Some(container_uri(runtime_name, c)),
                message: inputs
                    .messages
                    .get(&c.info.id)
                    .filter(|m| !m.is_empty())
                    .cloned(),
                ..terminated(c).expect("an exited container has ended")
            };
            let delay = inputs.backoff.delay(c, ran);
            // Its restart was tried and failed (its image gone, say): that is what it waits
            // on now, the exit its last state, as the kubelet shows `ImagePullBackOff`.
            let retried = facts.failure.filter(|f| f.own && f.at >= finished_at);
            if let Some(f) = retried.filter(|_| restarts) {
                last_state = terminated_view(ended);
                waiting(f.reason, Some(f.message.to_string()))
            } else if restarts && finished_at + delay > now {
                // In back-off, the exit is the last state, as the kubelet shows it.
                last_state = terminated_view(ended);
                waiting(
                    "CrashLoopBackOff",
                    Some(format!(
                        "back-off {} restarting failed container={} pod={}_{}({})",
                        go_duration(delay),
                        container.name,
                        pod.full_name(),
                        pod.namespace(),
                        pod.uid()
                    )),
                )
            } else {
                terminated_view(ended)
            }
        }
        Some((_, ContainerState::Created | ContainerState::Unknown)) => not_started(),
    };
    let verdicts = facts.verdicts;
    let latest = facts.latest;
    ContainerStatus {
        name: container.name.clone(),
        // A plain init container is ready once it completed, not while it runs (the
        // kubelet's prober manager). A probed container is ready and started only once its
        // probes say so; until its worker has run, one with a readiness or startup probe is
        // neither.
        ready: if facts.init && !container.is_sidecar() {
            state.terminated.as_ref().is_some_and(|t| t.exit_code == 0)
        } else {
            state.running.is_some()
                && verdicts.map_or(
                    container.readiness_probe.is_none() && container.startup_probe.is_none(),
                    |v| v.ready && v.started,
                )
        },
        restart_count: latest.map_or(0, |c| c.attempt),
        image: container.image.clone(),
        image_id: latest.map(|c| c.info.image_id.clone()).unwrap_or_default(),
        container_id: latest.map(|c| container_uri(runtime_name, c)),
        started: state.running.is_some()
            && verdicts.map_or(container.startup_probe.is_none(), |v| v.started),
        state,
        last_state,
    }
}

/// The kubelet's `getPhase`. A sidecar that runs keeps an initialized pod `Running`, even
/// once its app containers have all exited: the pod completes when its sidecars have been
/// stopped too.
fn phase(
    policy: RestartPolicy,
    initialized: bool,
    init: &[ContainerStatus],
    sidecars: &[ContainerStatus],
    app: &[ContainerStatus],
) -> &'static str {
    let terminated = |c: &ContainerStatus| c.state.terminated.clone();
    if init
        .iter()
        .any(|c| terminated(c).is_some_and(|t| t.exit_code != 0))
        && policy == RestartPolicy::Never
    {
        return "Failed";
    }
    if !initialized {
        return "Pending";
    }
    if app
        .iter()
        .chain(sidecars)
        .any(|c| c.state.running.is_some())
    {
        return "Running";
    }
    if !app.is_empty() && app.iter().all(|c| terminated(c).is_some()) {
        let all_succeeded = app
            .iter()
            .all(|c| terminated(c).is_some_and(|t| t.exit_code == 0));
        return match (policy, all_succeeded) {
            (RestartPolicy::Always, _) => "Running",
            (_, true) => "Succeeded",
            (RestartPolicy::Never, false) => "Failed",
            (RestartPolicy::OnFailure, false) => "Running",
        };
    }
    if app.iter().any(|c| c.restart_count > 0) {
        "Running"
    } else {
        "Pending"
    }
}

/// What `kubectl get pods` prints of a pod, as kube-apiserver's pod printer makes it
/// (`printPod` in `pkg/printers/internalversion/printers.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// `READY`'s two numbers: ready containers, and containers (sidecars included).
    pub ready: usize,
    /// See [`Printed::ready`].
    pub total: usize,
    /// `STATUS`: an init container's failure or progress (`Init:Error`, `Init:1/2`; a started
    /// sidecar counts as done), else the last container's waiting or terminated reason,
    /// `Running` when one still runs and is ready.
    pub status: String,
    /// `RESTARTS`: of the init containers while the pod initializes, else of the sidecars and
    /// the app containers.
    pub restarts: u32,
    /// When the last of those restarts' containers finished (RFC 3339), for `RESTARTS`'
    /// `(5s ago)`.
    pub last_restart: Option<String>,
}

/// Prints `pod` as `kubectl get pods` does.
pub fn printed(pod: &PodView) -> Printed {
    let status = &pod.status;
    let spec_inits = &pod.spec.init_containers;
    let is_sidecar = |name: &str| {
        spec_inits
            .iter()
            .find(|c| c.name == name)
            .is_some_and(Container::is_sidecar)
    };
    let finished = |c: &ContainerStatus| c.last_state.terminated.as_ref()?.finished_at.clone();
    let mut out = Printed {
        ready: 0,
        total: pod.spec.containers.len() + spec_inits.iter().filter(|c| c.is_sidecar()).count(),
        status: status
            .reason
            .clone()
            .unwrap_or_else(|| status.phase.clone()),
        restarts: 0,
        last_restart: None,
    };
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart = None;
    let mut initializing = false;
    for (i, init) in status.init_container_statuses.iter().enumerate() {
        let sidecar = is_sidecar(&init.name);
        out.restarts += init.restart_count;
        out.last_restart = out.last_restart.max(finished(init));
        if sidecar {
            sidecar_restarts += init.restart_count;
            sidecar_last_restart = sidecar_last_restart.max(finished(init));
        }
        match (&init.state.terminated, &init.state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if sidecar && init.started => {
                out.ready += usize::from(init.ready);
                continue;
            }
            (Some(t), _) => {
                out.status = if t.reason.is_empty() {
                    format!("Init:ExitCode:{}", t.exit_code)
                } else {
                    format!("Init:{}", t.reason)
                };
            }
            (None, Some(w)) if !w.reason.is_empty() && w.reason != "PodInitializing" => {
                out.status = format!("Init:{}", w.reason);
            }
            _ => out.status = format!("Init:{i}/{}", spec_inits.len()),
        }
        initializing = true;
        break;
    }
    if !initializing || condition_true(status, "Initialized") {
        out.restarts = sidecar_restarts;
        out.last_restart = sidecar_last_restart;
        let mut running = false;
        for container in status.container_statuses.iter().rev() {
            out.restarts += container.restart_count;
            out.last_restart = out.last_restart.max(finished(container));
            let state = &container.state;
            match (&state.waiting, &state.terminated) {
                (Some(w), _) if !w.reason.is_empty() => out.status = w.reason.clone(),
                (_, Some(t)) if !t.reason.is_empty() => out.status = t.reason.clone(),
                (_, Some(t)) => out.status = format!("ExitCode:{}", t.exit_code),
                _ if container.ready && state.running.is_some() => {
                    running = true;
                    out.ready += 1;
                }
                _ => {}
            }
        }
        if out.status == "Completed" && running {
            let ready = condition_true(status, "Ready");
            out.status = if ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    out
}

fn condition_true(status: &PodStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn pods(ready: &str) -> PodListView {
        let json = format!(
            r#"{{"apiVersion":"v1","kind":"PodList","items":[{{"apiVersion":"v1","kind":"Pod",
            "metadata":{{"name":"web-node0","uid":"u1"}},"spec":{{"containers":[]}},
            "status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"{ready}"}}]}}}}]}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    fn stamped(list: &PodListView) -> String {
        list.items[0].status.conditions[0]
            .last_transition_time
            .clone()
            .unwrap()
    }

    #[test]
    fn a_started_sidecar_counts_in_ready_and_restarts_as_kubectl_prints_it() {
        let pod: PodView = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-node0","uid":"u1"},
            "spec":{"initContainers":[{"name":"setup","image":"i"},
                {"name":"proxy","image":"i","restartPolicy":"Always"}],
                "containers":[{"name":"web","image":"i"}]},
            "status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True"}],
            "initContainerStatuses":[
                {"name":"setup","ready":false,"restartCount":4,"image":"i","started":false,
                 "state":{"terminated":{"exitCode":0,"reason":"Completed"}}},
                {"name":"proxy","ready":true,"restartCount":2,"image":"i","started":true,
                 "state":{"running":{"startedAt":"2027-01-15T08:00:00Z"}},
                 "lastState":{"terminated":{"exitCode":1,"reason":"Error",
                    "finishedAt":"2027-01-15T07:59:00Z"}}}],
            "containerStatuses":[
                {"name":"web","ready":true,"restartCount":1,"image":"i","started":true,
                 "state":{"running":{"startedAt":"2027-01-15T08:00:00Z"}},
                 "lastState":{"terminated":{"exitCode":1,"reason":"Error",
                    "finishedAt":"2027-01-15T07:58:00Z"}}}]}}"#,
        )
        .unwrap();
        assert_eq!(
            printed(&pod),
            Printed {
                ready: 2,
                total: 2,
                status: "Running".into(),
                // The sidecar's and the app's; the finished init container's are not counted
                // once the pod is initialized.
                restarts: 3,
                last_restart: Some("2027-01-15T07:59:00Z".into()),
            }
        );
    }

    #[test]
    fn a_pod_completes_once_its_sidecars_have_stopped_after_its_app_containers() {
        let status = |name: &str, state: &str| -> ContainerStatus {
            serde_json::from_str(&format!(
                r#"{{"name":"{name}","ready":false,"restartCount":0,"image":"i","started":false,"state":{state}}}"#
            ))
            .unwrap()
        };
        let exited = r#"{"terminated":{"exitCode":0,"reason":"Completed"}}"#;
        let running = r#"{"running":{"startedAt":"2027-01-15T08:00:00Z"}}"#;
        let app = [status("web", exited)];
        let never = RestartPolicy::Never;
        assert_eq!(
            phase(never, true, &[], &[status("proxy", running)], &app),
            "Running",
            "the sidecar is still to be stopped"
        );
        assert_eq!(
            phase(never, true, &[], &[status("proxy", exited)], &app),
            "Succeeded"
        );
        let failed = [status(
            "web",
            r#"{"terminated":{"exitCode":1,"reason":"Error"}}"#,
        )];
        assert_eq!(
            phase(never, true, &[], &[status("proxy", running)], &failed),
            "Running"
        );
        assert_eq!(
            phase(never, true, &[], &[status("proxy", exited)], &failed),
            "Failed"
        );
    }

    #[test]
    fn a_condition_keeps_its_transition_time_until_its_status_changes() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s);
        let mut transitions = Transitions::default();
        let mut first = pods("False");
        transitions.stamp(&mut first, at(0));
        let mut same = pods("False");
        transitions.stamp(&mut same, at(30));
        assert_eq!(stamped(&same), timestamp(at(0)));
        let mut changed = pods("True");
        transitions.stamp(&mut changed, at(40));
        assert_eq!(stamped(&changed), timestamp(at(40)));
    }

    #[test]
    fn the_qos_class_is_the_kubelets() {
        let class = |containers: &str| {
            let spec: crate::model::PodSpec =
                serde_saphyr::from_str(&format!("containers: {containers}")).unwrap();
            qos_class(&spec)
        };
        assert_eq!(class("[{name: a, image: x}]"), "BestEffort");
        assert_eq!(
            class("[{name: a, image: x, resources: {limits: {cpu: 500m, memory: 64Mi}}}]"),
            "Guaranteed",
            "requests default to the limits"
        );
        assert_eq!(
            class(
                "[{name: a, image: x, resources: {requests: {cpu: 100m}, limits: {cpu: 500m, memory: 64Mi}}}]"
            ),
            "Burstable"
        );
        assert_eq!(
            class(
                "[{name: a, image: x, resources: {limits: {cpu: '1', memory: 1Gi}}}, {name: b, image: x}]"
            ),
            "Burstable",
            "every container must be limited"
        );
    }
}

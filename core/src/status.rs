//! Pod status without an API server: what the runtime holds, read through the labels, shaped
//! as Kubernetes `PodStatus` so that `GET /pods` answers like the kubelet's read-only port,
//! and the `STATUS` word `kubectl get pods` would print.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::manifest::defaults::StaticPod;
use crate::model::{Container, Pod, RestartPolicy};
use crate::reconcile::history::History;
use crate::reconcile::observe::{ContainerKind, ObservedContainer, ObservedPod, PodKey};
use crate::reconcile::plan::restart_delay;
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
}

/// A pod condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    /// `Ready`, `ContainersReady`, `Initialized`, `PodScheduled`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
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
}

/// What a pod's status is computed from besides the runtime's objects: the agent's memory of
/// failed work, this pass's probe verdicts, and facts of the node.
#[derive(Debug, Clone, Copy)]
pub struct StatusInputs<'a> {
    /// Failed work, by pod.
    pub history: &'a History,
    /// What the probes say, by container id.
    pub verdicts: &'a ProbeVerdicts,
    /// The node's IP (`status.hostIP`).
    pub host_ip: &'a str,
    /// The runtime's name, prefixing container ids (`docker://...`).
    pub runtime_name: &'a str,
    /// The time of this pass.
    pub now: SystemTime,
    /// The time of the pass before, if any: a failure since then was this pass's attempt
    /// (`ErrImagePull`); an older one is a back-off (`ImagePullBackOff`).
    pub previous_pass: Option<SystemTime>,
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
    let failure = inputs.history.failure(key);
    let in_sandbox = |c: &&ObservedContainer| {
        sandbox.is_none_or(|s| {
            c.info
                .sandbox_id
                .as_deref()
                .is_none_or(|id| id == s.info.id)
        })
    };
    // The app containers have started: the pod is initialized, whatever is left of its
    // init containers (the planner's rule).
    let app_started = current.is_some_and(|o| {
        o.containers
            .iter()
            .filter(in_sandbox)
            .any(|c| c.kind == ContainerKind::App)
    });
    let failure_now = failure.map(|f| {
        let fresh = inputs.previous_pass.is_none_or(|previous| f.at > previous);
        let reason = match f.reason {
            "ErrImagePull" if !fresh => "ImagePullBackOff",
            reason => reason,
        };
        (reason, f.message.as_str())
    });
    let status_of = |kind, container: &Container, initializing: bool| {
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
        let previous = instances.into_iter().rev().find_map(terminated);
        let verdicts = latest.and_then(|c| inputs.verdicts.get(&c.info.id));
        let facts = InstanceFacts {
            latest,
            previous,
            verdicts,
            failure: failure_now,
            init: kind == ContainerKind::Init,
            initializing,
            completed_long_ago: kind == ContainerKind::Init && app_started,
        };
        container_status(pod, container, &facts, inputs)
    };
    let spec = &pod.pod.spec;
    let init_container_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .map(|c| status_of(ContainerKind::Init, c, false))
        .collect();
    let initializing = !init_container_statuses.iter().all(completed);
    let container_statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| status_of(ContainerKind::App, c, initializing))
        .collect();
    let phase = phase(
        pod.restart_policy(),
        &init_container_statuses,
        &container_statuses,
    );
    let ready = phase == "Running" && container_statuses.iter().all(|c| c.ready);
    let initialized = !initializing;
    let condition = |type_: &str, value: bool| PodCondition {
        type_: type_.to_string(),
        status: if value { "True" } else { "False" }.to_string(),
    };
    PodStatus {
        conditions: vec![
            condition("PodScheduled", true),
            condition("Initialized", initialized),
            condition("ContainersReady", ready),
            condition("Ready", ready),
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
    /// The pod's last failure, with the reason to show.
    failure: Option<(&'static str, &'a str)>,
    /// An init container (restarted only when it fails, whatever the pod's policy).
    init: bool,
    /// An app container while init containers have not all completed.
    initializing: bool,
    /// An init container of a pod whose app containers have started.
    completed_long_ago: bool,
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
    })
}

/// A whole-second duration as Go prints it (`10s`, `1m20s`, `5m0s`), as the kubelet's
/// messages show it.
fn go_duration(duration: std::time::Duration) -> String {
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
            });
        }
        match facts.failure {
            Some((reason, message)) => waiting(reason, Some(message.to_string())),
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
                RestartPolicy::Always => !facts.init || exit_code != 0,
                RestartPolicy::OnFailure => exit_code != 0,
                RestartPolicy::Never => false,
            };
            let ran = finished_at.duration_since(started_at).unwrap_or_default();
            let ended = terminated(c).expect("an exited container has ended");
            let delay = restart_delay(c, ran);
            if restarts && finished_at + delay > now {
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
        // A probed container is ready and started only once its probes say so; until its
        // worker has run, a container with a readiness or startup probe is neither.
        ready: state.running.is_some()
            && verdicts.map_or(
                container.readiness_probe.is_none() && container.startup_probe.is_none(),
                |v| v.ready && v.started,
            ),
        restart_count: latest.map_or(0, |c| c.attempt),
        image: container.image.clone(),
        container_id: latest.map(|c| format!("{runtime_name}://{}", c.info.id)),
        started: state.running.is_some()
            && verdicts.map_or(container.startup_probe.is_none(), |v| v.started),
        state,
        last_state,
    }
}

fn phase(policy: RestartPolicy, init: &[ContainerStatus], app: &[ContainerStatus]) -> &'static str {
    let terminated = |c: &ContainerStatus| c.state.terminated.clone();
    if init
        .iter()
        .any(|c| terminated(c).is_some_and(|t| t.exit_code != 0))
        && policy == RestartPolicy::Never
    {
        return "Failed";
    }
    if !init
        .iter()
        .all(|c| terminated(c).is_some_and(|t| t.exit_code == 0))
    {
        return "Pending";
    }
    if app.iter().any(|c| c.state.running.is_some()) {
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

/// The `STATUS` word `kubectl get pods` prints for a pod, as kube-apiserver's pod printer
/// (`pkg/printers/internalversion/printers.go`) words it.
pub fn display_status(status: &PodStatus) -> String {
    let count = status.init_container_statuses.len();
    for (i, init) in status.init_container_statuses.iter().enumerate() {
        if let Some(t) = &init.state.terminated {
            if t.exit_code == 0 {
                continue;
            }
            return format!(
                "Init:{}",
                if t.reason.is_empty() {
                    "Error"
                } else {
                    &t.reason
                }
            );
        }
        if let Some(w) = &init.state.waiting
            && w.reason != "PodInitializing"
            && w.reason != "ContainerCreating"
        {
            return format!("Init:{}", w.reason);
        }
        return format!("Init:{i}/{count}");
    }
    let mut reason = status.phase.clone();
    let mut any_ready = false;
    for container in status.container_statuses.iter().rev() {
        if let Some(w) = &container.state.waiting {
            reason = w.reason.clone();
        } else if let Some(t) = &container.state.terminated {
            reason = t.reason.clone();
        } else if container.ready && container.state.running.is_some() {
            any_ready = true;
        }
    }
    // kube-apiserver's printer: a completed container beside a ready running one reads as
    // the pod's readiness.
    if any_ready && reason == "Completed" {
        let pod_ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
    }
    reason
}

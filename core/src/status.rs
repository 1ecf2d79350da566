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
    /// Start time.
    pub started_at: String,
    /// End time.
    pub finished_at: String,
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
    let status_of = |kind, container: &Container| {
        let latest = current.and_then(|o| {
            o.containers
                .iter()
                .filter(|c| c.kind == kind && c.name == container.name)
                .filter(|c| {
                    sandbox.is_none_or(|s| {
                        c.info
                            .sandbox_id
                            .as_deref()
                            .is_none_or(|id| id == s.info.id)
                    })
                })
                .max_by_key(|c| c.attempt)
        });
        let verdicts = latest.and_then(|c| inputs.verdicts.get(&c.info.id));
        container_status(
            pod,
            container,
            latest,
            verdicts,
            failure.map(|f| (f.reason, f.message.as_str())),
            inputs,
        )
    };
    let spec = &pod.pod.spec;
    let init_container_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .map(|c| status_of(ContainerKind::Init, c))
        .collect();
    let container_statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| status_of(ContainerKind::App, c))
        .collect();
    let phase = phase(
        pod.restart_policy(),
        &init_container_statuses,
        &container_statuses,
    );
    let ready = phase == "Running" && container_statuses.iter().all(|c| c.ready);
    let initialized = init_container_statuses.iter().all(|c| {
        c.state
            .terminated
            .as_ref()
            .is_some_and(|t| t.exit_code == 0)
    });
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

fn container_status(
    pod: &StaticPod,
    container: &Container,
    latest: Option<&ObservedContainer>,
    verdicts: Option<&Verdicts>,
    failure: Option<(&'static str, &str)>,
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
    let failed = || failure.map(|(reason, message)| waiting(reason, Some(message.to_string())));
    let state = match latest.map(|c| (c, c.info.state)) {
        None => failed().unwrap_or_else(|| waiting("ContainerCreating", None)),
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
                oom_killed,
            },
        )) => {
            let restarts = match pod.restart_policy() {
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure => exit_code != 0,
                RestartPolicy::Never => false,
            };
            let ran = finished_at.duration_since(started_at).unwrap_or_default();
            let backing_off = restarts && finished_at + restart_delay(c, ran) > now;
            if backing_off {
                waiting(
                    "CrashLoopBackOff",
                    Some(format!(
                        "back-off restarting failed container {}",
                        container.name
                    )),
                )
            } else {
                let reason = if oom_killed {
                    "OOMKilled"
                } else if exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                ContainerStateView {
                    terminated: Some(Terminated {
                        exit_code,
                        reason: reason.to_string(),
                        started_at: timestamp(started_at),
                        finished_at: timestamp(finished_at),
                    }),
                    ..ContainerStateView::default()
                }
            }
        }
        Some((_, ContainerState::Created | ContainerState::Unknown)) => {
            failed().unwrap_or_else(|| waiting("ContainerCreating", None))
        }
    };
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

/// The `STATUS` word `kubectl get pods` prints for a pod.
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
    let mut any_running = false;
    for container in status.container_statuses.iter().rev() {
        if let Some(w) = &container.state.waiting {
            reason = w.reason.clone();
        } else if let Some(t) = &container.state.terminated {
            reason = t.reason.clone();
        } else if container.state.running.is_some() {
            any_running = true;
        }
    }
    if any_running && reason == "Completed" {
        reason = "Running".to_string();
    }
    reason
}

//! The planner: a pure function from (desired pods, observed runtime state, per-pod history,
//! this pass's probe verdicts, now) to the steps that bring the node closer to the
//! manifests. No I/O, no clock: every decision is a unit test away.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::configs;
use super::history::History;
use super::hooks::Hook;
use super::init::{InSandbox, plan_init};
use super::observe::{ContainerKind, ObservedContainer, ObservedPod, PodKey};
use crate::manifest::defaults::StaticPod;
use crate::model::{Container, RestartPolicy};
use crate::verdicts::ProbeVerdicts;
use staticpod_runtime::ContainerState;
use staticpod_runtime::backoff::capped_doubling;

/// First wait before restarting a container that exited more than once (the kubelet's).
const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Longest wait before a restart (the kubelet's).
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long before exiting is restarted at once, as the first time.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// The crash back-off restarts wait by: its first wait and its longest, the kubelet's 10 s
/// and 5 min unless `crashLoopBackOff.maxContainerRestartPeriod` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashBackoff {
    /// The wait before the second restart of a back-off.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for CrashBackoff {
    fn default() -> Self {
        CrashBackoff {
            initial: BACKOFF_INITIAL,
            max: BACKOFF_MAX,
        }
    }
}

impl CrashBackoff {
    /// The kubelet's back-off with its `ReduceDefaultCrashLoopBackOffDecay` gate on: 1 s
    /// doubling to 1 min.
    pub const REDUCED: CrashBackoff = CrashBackoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    /// This back-off under `crashLoopBackOff.maxContainerRestartPeriod: max`: `max` the
    /// longest wait, and the first one too when it is shorter (the kubelet's
    /// `newCrashLoopBackOff` with `KubeletCrashLoopBackOffMax` on).
    pub fn with_max(self, max: Duration) -> Self {
        CrashBackoff {
            initial: self.initial.min(max),
            max,
        }
    }

    /// The wait before restarting a container whose latest instance is `latest` and ran
    /// for `ran`, as the kubelet's crash back-off: none for the exit that begins a
    /// back-off, then `initial` doubling to `max` for each exit after it. An instance that
    /// ran 10 minutes begins a new back-off: its exit restarts at once, and the delays
    /// start again from `initial`.
    pub fn delay(&self, latest: &ObservedContainer, ran: Duration) -> Duration {
        let exits = latest.attempt.saturating_sub(latest.backoff_since);
        if exits == 0 || ran >= BACKOFF_RESET {
            return Duration::ZERO;
        }
        capped_doubling(self.initial, self.max, exits - 1)
    }
}

/// A pass's time and the back-off its restarts wait by.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The time of the pass.
    pub now: SystemTime,
    /// The node's crash back-off.
    pub backoff: CrashBackoff,
}

/// Which sandbox a container step goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxTarget {
    /// One that exists.
    Existing {
        /// Its id.
        id: String,
        /// Its IP, for `status.podIP` in the environment.
        ip: Option<String>,
    },
    /// The one created by an earlier step of the same work.
    New,
}

/// One step of a pod's work. Steps of one pod run in order; pods run concurrently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Stop every container (SIGTERM, grace, SIGKILL) and sandbox of a pod UID, then remove
    /// them all.
    KillPod {
        /// The UID being killed.
        uid: String,
        /// Its containers.
        containers: Vec<ContainerRef>,
        /// Sandbox ids.
        sandboxes: Vec<String>,
        /// The pod's IP, for `httpGet` preStop hooks; the node's when `None`.
        address: Option<String>,
        /// Time between SIGTERM and SIGKILL.
        grace: Duration,
        /// Also delete the pod's directory (emptyDir volumes): the UID is gone for good.
        forget: bool,
    },
    /// Stop the sandbox of a pod whose containers have all finished for good.
    StopSandbox {
        /// Sandbox id.
        id: String,
    },
    /// Stop one container: its liveness or startup probe failed (the restart policy then
    /// treats it as any exited container), or it is a sidecar of a pod that completed.
    StopContainer {
        /// The container.
        container: ContainerRef,
        /// The pod's IP, for an `httpGet` preStop hook; the node's when `None`.
        address: Option<String>,
        /// Time between SIGTERM and SIGKILL.
        grace: Duration,
        /// Why.
        reason: StopReason,
    },
    /// Remove an old, exited instance of a container, and its log files.
    RemoveContainer {
        /// Container id.
        id: String,
        /// Its log file in the pod's log directory (`<name>/<attempt>.log`).
        log: PathBuf,
    },
    /// Create and start a sandbox.
    RunSandbox {
        /// Its attempt number.
        attempt: u32,
    },
    /// Make sure the image is there, create the container and start it.
    StartContainer {
        /// Which container, and what its new instance counts.
        instance: Instance,
        /// Where.
        sandbox: SandboxTarget,
    },
}

/// Why a container is stopped on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Its liveness or startup probe failed: which, and why.
    ProbeFailed(String),
    /// It is a sidecar, and the pod's app containers have all finished for good.
    PodCompleted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::ProbeFailed(why) => f.write_str(why),
            StopReason::PodCompleted => f.write_str("the pod completed"),
        }
    }
}

/// A container a step acts on, named for the events that tell of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// Runtime id.
    pub id: String,
    /// Its name in the manifest.
    pub name: String,
    /// Init or app.
    pub kind: ContainerKind,
    /// Its `preStop` hook, run before it is stopped.
    pub pre_stop: Option<Hook>,
    /// It runs (a hook runs only in a running container).
    pub running: bool,
    /// A native sidecar's index in `initContainers`: sidecars stop last, in reverse order.
    pub sidecar: Option<usize>,
}

impl ContainerRef {
    /// The reference of an observed container.
    fn of(container: &ObservedContainer) -> Self {
        ContainerRef {
            id: container.info.id.clone(),
            name: container.name.clone(),
            kind: container.kind,
            pre_stop: container.pre_stop.clone(),
            running: matches!(container.info.state, ContainerState::Running { .. }),
            sidecar: container.sidecar,
        }
    }
}

/// A new instance of one of a pod's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// Init or app.
    pub kind: ContainerKind,
    /// Index in `initContainers` or `containers`.
    pub index: usize,
    /// Its restart count.
    pub attempt: u32,
    /// The restart count of the instance whose exit began the current crash back-off: the
    /// delays count from there, so a container that ran long enough starts again from 10 s.
    pub backoff_since: u32,
}

impl Instance {
    /// The first instance of a container.
    pub fn first(kind: ContainerKind, index: usize) -> Self {
        Instance {
            kind,
            index,
            attempt: 0,
            backoff_since: 0,
        }
    }
}

/// The steps for one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodWork {
    /// Which pod.
    pub key: PodKey,
    /// The desired pod, when there is one (absent when the pod is only being removed).
    pub pod: Option<Arc<StaticPod>>,
    /// Steps, in order.
    pub steps: Vec<Step>,
}

/// What to do now, and when to look again at the latest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Work per pod.
    pub work: Vec<PodWork>,
    /// The earliest moment a back-off ends, when something waits for one.
    pub wake_at: Option<SystemTime>,
}

/// Plans the work for every pod.
///
/// Linear in pods: desired pods are found by borrowed keys in one map sized once, and
/// nothing is allocated or cloned for a pod that needs no work (the usual pass).
pub fn plan(
    desired: &[Arc<StaticPod>],
    observed: &BTreeMap<String, ObservedPod>,
    history: &History,
    verdicts: &ProbeVerdicts,
    timing: Timing,
) -> Plan {
    let mut plan = Plan::default();
    let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(desired.len());
    for (i, want) in desired.iter().enumerate() {
        index.insert((want.namespace(), want.full_name()), i);
    }
    // Each desired pod's observed copy as it is now; the other observed pods of a desired
    // key (an old UID or configuration, to kill first), and the pods of no desired key.
    let mut current: Vec<Option<&ObservedPod>> = vec![None; desired.len()];
    let mut outdated: Vec<(usize, &ObservedPod)> = Vec::new();
    let mut undesired: Vec<&ObservedPod> = Vec::new();
    for pod in observed.values() {
        let Some(&i) = index.get(&(pod.key.namespace.as_str(), pod.key.name.as_str())) else {
            undesired.push(pod);
            continue;
        };
        let want = &desired[i];
        if current[i].is_none() && want.uid() == pod.uid && want.config_hash == pod.config_hash {
            current[i] = Some(pod);
        } else {
            outdated.push((i, pod));
        }
    }
    // Stable sorts: a key's pods stay in the observed (UID) order.
    outdated.sort_by_key(|&(i, _)| i);
    let mut outdated = outdated.into_iter().peekable();
    for (i, want) in desired.iter().enumerate() {
        let mut old = Vec::new();
        while let Some((_, pod)) = outdated.next_if(|&(j, _)| j == i) {
            old.push(pod);
        }
        let key = (want.namespace(), want.full_name());
        plan_key(
            key,
            Some((want, current[i])),
            &old,
            history,
            verdicts,
            timing,
            &mut plan,
        );
    }
    undesired.sort_by(|a, b| a.key.cmp(&b.key));
    for group in undesired.chunk_by(|a, b| a.key == b.key) {
        let key = (group[0].key.namespace.as_str(), group[0].key.name.as_str());
        plan_key(key, None, group, history, verdicts, timing, &mut plan);
    }
    // Pods are worked on concurrently; the order only keeps plans comparable.
    plan.work.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    plan
}

/// Plans one pod's key: kills `old`, the observed pods that are not the desired pod as it
/// is now, then plans the desired pod (with its observed copy, if any).
fn plan_key(
    (namespace, name): (&str, &str),
    want: Option<(&Arc<StaticPod>, Option<&ObservedPod>)>,
    old: &[&ObservedPod],
    history: &History,
    verdicts: &ProbeVerdicts,
    timing: Timing,
    plan: &mut Plan,
) {
    let uid = want.map(|(w, _)| w.uid());
    if let Some(retry_at) = history.retry_at(namespace, name, uid)
        && retry_at > timing.now
    {
        plan.wake(retry_at);
        return;
    }
    let mut steps: Vec<Step> = old
        .iter()
        .map(|pod| kill(pod, uid.is_none_or(|uid| uid != pod.uid)))
        .collect();
    if let Some((want, current)) = want {
        let start_over = history.restart_requested(namespace, name, want.uid());
        plan_pod(
            want, current, start_over, verdicts, timing, &mut steps, plan,
        );
    }
    if !steps.is_empty() {
        plan.work.push(PodWork {
            key: PodKey {
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
            pod: want.map(|(w, _)| w.clone()),
            steps,
        });
    }
}

impl Plan {
    fn wake(&mut self, at: SystemTime) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

fn kill(pod: &ObservedPod, forget: bool) -> Step {
    Step::KillPod {
        uid: pod.uid.clone(),
        containers: pod.containers.iter().map(ContainerRef::of).collect(),
        sandboxes: pod.sandboxes.iter().map(|s| s.info.id.clone()).collect(),
        address: address(pod),
        grace: pod.grace,
        forget,
    }
}

/// The IP of the pod's ready sandbox, if it has one of its own.
fn address(pod: &ObservedPod) -> Option<String> {
    pod.ready_sandbox().and_then(|s| s.info.ip.clone())
}

/// Plans the desired pod `want`, observed as `current`; `start_over` starts it over in a new
/// sandbox even if its own is ready.
fn plan_pod(
    want: &StaticPod,
    current: Option<&ObservedPod>,
    start_over: bool,
    verdicts: &ProbeVerdicts,
    timing: Timing,
    steps: &mut Vec<Step>,
    plan: &mut Plan,
) {
    let policy = want.restart_policy();
    let spec = &want.pod.spec;
    let usable = current
        .and_then(ObservedPod::ready_sandbox)
        .filter(|_| !start_over);
    let Some(sandbox) = usable else {
        // No usable sandbox: clear what is left of the old one, then start over.
        let mut attempt = 0;
        let mut latest: BTreeMap<&str, &ObservedContainer> = BTreeMap::new();
        if let Some(pod) = current {
            if completed(want, pod, None) {
                return;
            }
            attempt = pod
                .sandboxes
                .iter()
                .map(|s| s.attempt + 1)
                .max()
                .unwrap_or(0);
            for container in &pod.containers {
                let entry = latest.entry(&container.name).or_insert(container);
                if container.attempt > entry.attempt {
                    *entry = container;
                }
            }
            if !pod.containers.is_empty() || !pod.sandboxes.is_empty() {
                steps.push(kill(pod, false));
            }
        }
        steps.push(Step::RunSandbox { attempt });
        let (kind, containers) = match spec.init_containers.first() {
            Some(first) => (ContainerKind::Init, std::slice::from_ref(first)),
            None => (ContainerKind::App, spec.containers.as_slice()),
        };
        for (index, container) in containers.iter().enumerate() {
            // A new sandbox does not forget a container's restarts or its back-off.
            let instance = match latest.get(container.name.as_str()) {
                Some(old) => Instance {
                    kind,
                    index,
                    attempt: old.attempt + 1,
                    backoff_since: old.backoff_since,
                },
                None => Instance::first(kind, index),
            };
            steps.push(Step::StartContainer {
                instance,
                sandbox: SandboxTarget::New,
            });
        }
        return;
    };
    let pod = current.expect("a ready sandbox implies an observed pod");
    for extra in pod
        .sandboxes
        .iter()
        .filter(|s| s.info.id != sandbox.info.id)
    {
        steps.push(Step::StopSandbox {
            id: extra.info.id.clone(),
        });
    }
    if completed(want, pod, Some(&sandbox.info.id)) {
        // The app containers are done for good: the sidecars are stopped after them, in
        // reverse order, then the sandbox.
        for container in spec.init_containers.iter().rev().filter(|c| c.is_sidecar()) {
            let running = pod
                .instances(&container.name, &sandbox.info.id)
                .filter(|c| matches!(c.info.state, ContainerState::Running { .. }));
            for instance in running {
                steps.push(Step::StopContainer {
                    container: ContainerRef::of(instance),
                    address: address(pod),
                    grace: want.grace_period(),
                    reason: StopReason::PodCompleted,
                });
            }
        }
        steps.push(Step::StopSandbox {
            id: sandbox.info.id.clone(),
        });
        return;
    }
    let pass = InSandbox {
        want,
        pod,
        sandbox,
        verdicts,
        timing,
    };
    if !plan_init(&pass, steps, plan) {
        return;
    }
    for (index, container) in spec.containers.iter().enumerate() {
        let instances: Vec<&ObservedContainer> =
            pod.instances(&container.name, &sandbox.info.id).collect();
        collect_garbage(&instances, steps);
        match instances.last() {
            None => steps.push(Step::StartContainer {
                instance: Instance::first(ContainerKind::App, index),
                sandbox: pass.target(),
            }),
            Some(latest) if should_restart(policy, latest) => {
                restart(
                    ContainerKind::App,
                    index,
                    latest,
                    timing,
                    pass.target(),
                    steps,
                    plan,
                );
            }
            Some(latest) => stop_if_probe_failed(want, pod, container, latest, verdicts, steps),
        }
    }
}

/// Stops `latest`, a running instance of `container`, when its liveness or startup probe
/// failed; the restart policy then applies (the failed probe's own grace period wins).
pub(super) fn stop_if_probe_failed(
    want: &StaticPod,
    pod: &ObservedPod,
    container: &Container,
    latest: &ObservedContainer,
    verdicts: &ProbeVerdicts,
    steps: &mut Vec<Step>,
) {
    let verdict = verdicts.get(&latest.info.id);
    let failed = verdict.and_then(|v| v.failed.as_ref());
    if let (ContainerState::Running { .. }, Some(reason)) = (latest.info.state, failed) {
        // The grace period of the probe that failed: the startup probe's while it has not
        // passed, else the liveness probe's (the kubelet's `probe.terminationGracePeriodSeconds`).
        let probe = match verdict.is_some_and(|v| !v.started) {
            true => container.startup_probe.as_ref(),
            false => container.liveness_probe.as_ref(),
        };
        let probe_grace = probe
            .and_then(|p| p.termination_grace_period_seconds)
            .map(|s| Duration::from_secs(s.max(0).unsigned_abs()));
        steps.push(Step::StopContainer {
            container: ContainerRef::of(latest),
            address: address(pod),
            grace: probe_grace.unwrap_or(want.grace_period()),
            reason: StopReason::ProbeFailed(reason.clone()),
        });
    }
}

/// Keeps the latest instance of a container and at most one dead one (the kubelet's
/// `MaxPerPodContainer`): the latest dead instance is the container's `lastState` and what
/// `logs --previous` reads. Older dead instances are removed; a running one never is.
pub(super) fn collect_garbage(instances: &[&ObservedContainer], steps: &mut Vec<Step>) {
    let is_dead = |c: &ObservedContainer| matches!(c.info.state, ContainerState::Exited { .. });
    let Some((latest, older)) = instances.split_last() else {
        return;
    };
    let mut dead_kept = is_dead(latest);
    for old in older.iter().rev() {
        if matches!(old.info.state, ContainerState::Running { .. }) {
            continue;
        }
        if is_dead(old) && !dead_kept {
            dead_kept = true;
            continue;
        }
        steps.push(Step::RemoveContainer {
            id: old.info.id.clone(),
            log: configs::log_file(&old.name, old.attempt),
        });
    }
}

fn should_restart(policy: RestartPolicy, latest: &ObservedContainer) -> bool {
    match latest.info.state {
        ContainerState::Exited { exit_code, .. } => match policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        },
        // Created but never running means the start failed.
        ContainerState::Created => policy != RestartPolicy::Never,
        // The kubelet's `ShouldContainerBeRestarted`: whatever the policy (a CRI container
        // whose creation the runtime's crash cut short is left `CONTAINER_UNKNOWN` for good).
        ContainerState::Unknown => true,
        ContainerState::Running { .. } => false,
    }
}

/// True when every app container has finished and none will be restarted, so the pod is
/// done (`Succeeded` or `Failed`) and its sandbox is not needed.
pub(crate) fn completed(want: &StaticPod, pod: &ObservedPod, sandbox_id: Option<&str>) -> bool {
    let policy = want.restart_policy();
    if policy == RestartPolicy::Always {
        return false;
    }
    want.pod.spec.containers.iter().all(|container| {
        let latest = pod.containers.iter().rfind(|c| {
            c.name == container.name
                && c.kind == ContainerKind::App
                && sandbox_id.is_none_or(|id| c.info.sandbox_id.as_deref().is_none_or(|s| s == id))
        });
        latest.is_some_and(|c| {
            matches!(c.info.state, ContainerState::Exited { .. }) && !should_restart(policy, c)
        })
    })
}

/// Where the back-off of the instance after `latest` (which ran for `ran`) counts from.
fn backoff_since(latest: &ObservedContainer, ran: Duration) -> u32 {
    if ran >= BACKOFF_RESET {
        latest.attempt
    } else {
        latest.backoff_since
    }
}

pub(super) fn restart(
    kind: ContainerKind,
    index: usize,
    latest: &ObservedContainer,
    timing: Timing,
    sandbox: SandboxTarget,
    steps: &mut Vec<Step>,
    plan: &mut Plan,
) {
    let (finished_at, ran) = match latest.info.state {
        ContainerState::Exited {
            started_at,
            finished_at,
            ..
        } => (
            finished_at,
            finished_at.duration_since(started_at).unwrap_or_default(),
        ),
        _ => (latest.info.created_at, Duration::ZERO),
    };
    let ready_at = finished_at + timing.backoff.delay(latest, ran);
    if ready_at > timing.now {
        plan.wake(ready_at);
        return;
    }
    // An instance in an unknown state goes first, as the kubelet kills it before the restart.
    if latest.info.state == ContainerState::Unknown {
        steps.push(Step::RemoveContainer {
            id: latest.info.id.clone(),
            log: configs::log_file(&latest.name, latest.attempt),
        });
    }
    steps.push(Step::StartContainer {
        instance: Instance {
            kind,
            index,
            attempt: latest.attempt + 1,
            backoff_since: backoff_since(latest, ran),
        },
        sandbox,
    });
}

/// The container a step refers to.
pub fn container_of(pod: &StaticPod, kind: ContainerKind, index: usize) -> &Container {
    match kind {
        ContainerKind::Init => &pod.pod.spec.init_containers[index],
        ContainerKind::App => &pod.pod.spec.containers[index],
    }
}

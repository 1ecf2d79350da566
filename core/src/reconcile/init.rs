//! The init containers' part of a pod's plan, decided as the kubelet's
//! `computeInitContainerActions` decides it: from the last init container that has an
//! instance, never from the first that has none, because a completed init container's
//! instance may have been removed (by hand, by a garbage collection) and running it again
//! would repeat its side effects.

use super::observe::{ContainerKind, ObservedContainer, ObservedPod, ObservedSandbox};
use super::plan::{
    Instance, Plan, SandboxTarget, Step, Timing, collect_garbage, restart, stop_if_probe_failed,
};
use crate::manifest::defaults::StaticPod;
use crate::model::RestartPolicy;
use crate::verdicts::ProbeVerdicts;
use staticpod_runtime::ContainerState;

/// A pod with a ready sandbox, as one pass sees it.
pub(super) struct InSandbox<'a> {
    /// The desired pod.
    pub want: &'a StaticPod,
    /// What the runtime holds of it.
    pub pod: &'a ObservedPod,
    /// Its ready sandbox.
    pub sandbox: &'a ObservedSandbox,
    /// This pass's probe verdicts.
    pub verdicts: &'a ProbeVerdicts,
    /// This pass's time and back-off.
    pub timing: Timing,
}

impl InSandbox<'_> {
    /// Where new containers go: the ready sandbox (built only for a step that needs it).
    pub fn target(&self) -> SandboxTarget {
        SandboxTarget::Existing {
            id: self.sandbox.info.id.clone(),
            ip: self.sandbox.info.ip.clone(),
        }
    }
}

/// True when an app container of `pod` was created in sandbox `sandbox_id`, whatever its
/// state now: every init container then ran to completion once, whatever is left of them.
pub(crate) fn app_created(pod: &ObservedPod, sandbox_id: &str) -> bool {
    pod.containers.iter().any(|c| {
        c.kind == ContainerKind::App
            && c.info
                .sandbox_id
                .as_deref()
                .is_none_or(|id| id == sandbox_id)
    })
}

/// The index of the last init container of `want` with an instance in sandbox
/// `sandbox_id`: those before it completed once, whether their instances are left or not.
pub(crate) fn last_begun(want: &StaticPod, pod: &ObservedPod, sandbox_id: &str) -> Option<usize> {
    want.pod
        .spec
        .init_containers
        .iter()
        .rposition(|c| pod.instances(&c.name, sandbox_id).next().is_some())
}

/// Plans the init containers of `pass`'s pod: the next one to run, the sidecars to keep
/// running, the failed one to restart. True when the pod is initialized, so its app
/// containers may be planned.
pub(super) fn plan_init(pass: &InSandbox<'_>, steps: &mut Vec<Step>, plan: &mut Plan) -> bool {
    let inits = &pass.want.pod.spec.init_containers;
    let policy = pass.want.restart_policy();
    let mut initialized = inits.is_empty() || app_created(pass.pod, &pass.sandbox.info.id);
    // True once a later init container (or an app container) is known to have begun, so
    // this one ran before: a plain one is never run again, a sidecar is kept running.
    let mut begun = initialized;
    // The steps of each init container, in the spec's order whatever order they are
    // decided in.
    let mut planned: Vec<Vec<Step>> = vec![Vec::new(); inits.len()];
    let first = |index| Step::StartContainer {
        instance: Instance::first(ContainerKind::Init, index),
        sandbox: pass.target(),
    };
    for (index, container) in inits.iter().enumerate().rev() {
        let last = index + 1 == inits.len();
        let sidecar = container.is_sidecar();
        let instances: Vec<&ObservedContainer> = pass
            .pod
            .instances(&container.name, &pass.sandbox.info.id)
            .collect();
        let own = &mut planned[index];
        collect_garbage(&instances, own);
        let Some(latest) = instances.last() else {
            if begun && sidecar {
                own.push(first(index));
            }
            continue;
        };
        if begun && !sidecar {
            continue;
        }
        // This one is done with: the pod is initialized if it was the last, else the next
        // one starts.
        let mut done = false;
        match latest.info.state {
            ContainerState::Running { .. } if sidecar => {
                let (want, pod, verdicts) = (pass.want, pass.pod, pass.verdicts);
                stop_if_probe_failed(want, pod, container, latest, verdicts, own);
                done = container.startup_probe.is_none()
                    || verdicts.get(&latest.info.id).is_some_and(|v| v.started);
            }
            ContainerState::Exited { exit_code: 0, .. } if !sidecar => done = true,
            // An unknown state is restarted whatever the policy, as an app container's.
            ContainerState::Exited { .. } | ContainerState::Created | ContainerState::Unknown
                if sidecar
                    || policy != RestartPolicy::Never
                    || latest.info.state == ContainerState::Unknown =>
            {
                restart(
                    ContainerKind::Init,
                    index,
                    latest,
                    pass.timing,
                    pass.target(),
                    own,
                    plan,
                );
            }
            // A plain init container runs to its end; one that failed under `Never`
            // failed the pod.
            ContainerState::Running { .. }
            | ContainerState::Exited { .. }
            | ContainerState::Created
            | ContainerState::Unknown => {}
        }
        if done && last {
            initialized = true;
        } else if done && !begun {
            planned[index + 1].push(first(index + 1));
        }
        begun = true;
    }
    if !begun && let Some(own) = planned.first_mut() {
        own.push(first(0));
    }
    steps.extend(planned.into_iter().flatten());
    initialized
}

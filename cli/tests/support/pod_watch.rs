//! A pod's statuses as they come, read from the agent's `/pods` (where the kubelet's tests
//! watch the API), and the invariant the kubelet's `init_container.go` holds every pair of
//! successive statuses to (`containerInitInvariant`).

use std::time::{Duration, Instant};

use staticpod_core::status::{ContainerStatus, PodView};

use super::Node;

/// Polls `/pods` for pod `pod` of `node` until `done` says so (or fails), and returns every
/// distinct status seen, the last one being the one `done` accepted. Fails after `timeout`
/// (a kubelet test's own) with the last status.
pub fn within(
    node: &Node,
    pod: &str,
    timeout: Duration,
    mut done: impl FnMut(&PodView) -> Result<bool, String>,
) -> Vec<PodView> {
    let full = node.pod_name(pod);
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<PodView> = Vec::new();
    loop {
        let found = node
            .pods()
            .items
            .into_iter()
            .find(|p| p.metadata.name == full);
        if let Some(view) = found {
            if seen.last().is_none_or(|last| last.status != view.status) {
                seen.push(view.clone());
            }
            match done(&view) {
                Ok(true) => return seen,
                Ok(false) => {}
                Err(error) => panic!("{full}: {error}\n{:#?}", view.status),
            }
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {full}: {:#?}",
            seen.last().map(|p| &p.status)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Holds every pair of successive statuses to the kubelet's `containerInitInvariant`: each
/// is consistent (`initContainersInvariants`), and a pod once initialized never goes back.
pub fn check_init_invariant(statuses: &[PodView]) {
    for pair in statuses.windows(2) {
        let (older, newer) = (&pair[0], &pair[1]);
        assert_eq!(older.metadata.uid, newer.metadata.uid, "two pods");
        let old = init_consistent(older).unwrap_or_else(|e| panic!("{e}: {older:#?}"));
        let new = init_consistent(newer).unwrap_or_else(|e| panic!("{e}: {newer:#?}"));
        assert!(
            !old.all_init || new.all_init,
            "pod cannot be initialized and then regress to not being initialized: {newer:#?}"
        );
    }
}

/// What a status says of its init containers (the kubelet's `initialized`).
#[derive(Debug, Clone, Copy)]
struct Init {
    all_init: bool,
    failed: bool,
}

/// The kubelet's `initialized`: the init containers in order, none out of waiting after one
/// that has not completed. (Its code tests `allInit` where it means `!allInit`, and
/// `init_container.go` drops `checkInvariants`' result and records no events, so there it
/// checks nothing; this is the invariant its messages describe.)
fn initialized(statuses: &[ContainerStatus]) -> Result<Init, String> {
    let mut state = Init {
        all_init: true,
        failed: false,
    };
    for s in statuses {
        let waiting = s.state.waiting.is_some();
        match &s.state.terminated {
            _ if state.failed && !waiting => {
                return Err(format!(
                    "container {} is after a failed container but isn't waiting",
                    s.name
                ));
            }
            _ if !state.all_init && !waiting => {
                return Err(format!(
                    "container {} is after an initializing container but isn't waiting",
                    s.name
                ));
            }
            None => state.all_init = false,
            Some(t) if t.exit_code != 0 => {
                state.all_init = false;
                state.failed = true;
            }
            Some(_) if !s.ready => {
                return Err(format!(
                    "container {} initialized but isn't marked as ready",
                    s.name
                ));
            }
            Some(_) => {}
        }
    }
    Ok(state)
}

/// The kubelet's `initContainersInvariants`: app containers wait as `PodInitializing`
/// until the pod is initialized, and the `Initialized` condition says what the init
/// containers do.
fn init_consistent(pod: &PodView) -> Result<Init, String> {
    let status = &pod.status;
    let init = initialized(&status.init_container_statuses)?;
    if !init.all_init || init.failed {
        for s in &status.container_statuses {
            match &s.state.waiting {
                Some(w) if s.restart_count == 0 && w.reason == "PodInitializing" => {}
                _ => {
                    return Err(format!(
                        "container {} is not waiting as PodInitializing but initialization not complete",
                        s.name
                    ));
                }
            }
        }
    }
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Initialized")
        .ok_or("pod does not have initialized condition")?;
    if condition.last_transition_time.is_none() {
        return Err("PodInitialized condition should always have a transition time".into());
    }
    match condition.status.as_str() {
        "True" if init.failed || !init.all_init => {
            Err("PodInitialized condition was True but not all containers initialized".into())
        }
        "False" if !init.failed && init.all_init => {
            Err("PodInitialized condition was False but all containers initialized".into())
        }
        "True" | "False" => Ok(init),
        other => Err(format!("PodInitialized condition should never be {other}")),
    }
}

//! `test/e2e_node/container_restart_test.go`, translated: a container that exits 1 at once
//! is restarted with the kubelet's back-off (10 s doubling to 300 s), so that once it has
//! been restarted 3 times it has not been restarted more than 7 times.
//!
//! Only the default back-off is translated. The file's three other scenarios set
//! `crashLoopBackOff.maxContainerRestartPeriod` (30 s, 1 s) and the feature gates
//! `KubeletCrashLoopBackOffMax` and `ReduceDefaultCrashLoopBackOffDecay`, which staticpod
//! accepts and does not act on; and their checks (at most 13, 298 restarts once 3 are seen)
//! hold for the default back-off too, so no case of them could fail (E2E.md).

use std::time::{Duration, Instant};

use super::{MINUTE, OnePod};

/// The container of `newFailAlwaysPod`.
const CONTAINER: &str = "restarts";

/// "Container Restart", "Container restart backs off": "Container restart backs off."
/// (`doTest(ctx, f, 3, containerName, 7)`: 0 s, 0 s, 10 s, 30 s, 70 s, 150 s, 310 s).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn container_restart_backs_off() {
    let manifest = format!(
        "kind: Pod\nmetadata: {{name: container-restart}}\nspec:\n  containers:\n  - {{name: {CONTAINER}, image: busybox:1.36, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exit 1']}}\n"
    );
    let one = OnePod::start("e2e-restart-backoff", "container-restart", &manifest);
    let run = one.client();
    // `WaitForPodContainerToFail(..., 0, "CrashLoopBackOff", 1 minute)` is expected to
    // fail: the pod leaves `Pending` (a restarted container's pod runs) before its
    // container waits in `CrashLoopBackOff` there.
    let pending_crash_loop = run.container_fails(0, "CrashLoopBackOff", MINUTE);
    assert!(
        pending_crash_loop.is_err(),
        "the container should not wait in CrashLoopBackOff while its pod is Pending"
    );
    // "Hard wait 30 seconds for targetRestarts in the best case."
    std::thread::sleep(Duration::from_secs(30));
    let restarts = |pod: &staticpod_core::status::PodView| {
        pod.status
            .container_statuses
            .iter()
            .find(|s| s.name == CONTAINER)
            .map(|s| s.restart_count)
            .ok_or_else(|| format!("could not find container {CONTAINER}"))
    };
    let start = Instant::now();
    run.wait(5 * MINUTE, |pod| Ok(restarts(pod)? >= 3));
    let observed = restarts(&run.wait(MINUTE, |_| Ok(true))).unwrap();
    assert!(
        observed <= 7,
        "expected the container to back off its restarts: {observed} restarts, 3 seen after {:?}",
        start.elapsed()
    );
}

//! `test/e2e_node/container_restart_test.go`, translated: a container that exits 1 at once
//! is restarted with the kubelet's back-off (10 s doubling to 300 s), so that once it has
//! been restarted 3 times it has not been restarted more than 7 times; and with
//! `crashLoopBackOff.maxContainerRestartPeriod` (30 s, 1 s) or the
//! `ReduceDefaultCrashLoopBackOffDecay` gate, at most 13, 298 and 13 times.
//!
//! Those three bounds hold for the default back-off too, so each of those cases also checks
//! what tells its back-off apart: every wait its `CrashLoopBackOff` messages give is one of
//! that back-off's while the container is restarted more times than the default back-off
//! allows in that time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{MINUTE, OnePod};
use crate::support::Node;
use staticpod_core::status::PodView;

/// The container of `newFailAlwaysPod`.
const CONTAINER: &str = "restarts";

/// "Container Restart", "Container restart backs off": "Container restart backs off."
/// (`doTest(ctx, f, 3, containerName, 7)`: 0 s, 0 s, 10 s, 30 s, 70 s, 150 s, 310 s).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn container_restart_backs_off() {
    let one = OnePod::start(
        "e2e-restart-backoff",
        "container-restart",
        &fail_always_pod(),
    );
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
    let start = Instant::now();
    run.wait(5 * MINUTE, |pod| Ok(restarts(pod)? >= 3));
    let observed = restarts(&run.wait(MINUTE, |_| Ok(true))).unwrap();
    assert!(
        observed <= 7,
        "expected the container to back off its restarts: {observed} restarts, 3 seen after {:?}",
        start.elapsed()
    );
}

/// `newFailAlwaysPod`: one container that exits 1 at once.
fn fail_always_pod() -> String {
    format!(
        "kind: Pod\nmetadata: {{name: container-restart}}\nspec:\n  containers:\n  - {{name: {CONTAINER}, image: busybox:1.36, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exit 1']}}\n"
    )
}

/// The restart count of [`CONTAINER`] (`extractObservedBackoff`).
fn restarts(pod: &PodView) -> Result<u32, String> {
    pod.status
        .container_statuses
        .iter()
        .find(|s| s.name == CONTAINER)
        .map(|s| s.restart_count)
        .ok_or_else(|| format!("could not find container {CONTAINER}"))
}

/// The wait a `CrashLoopBackOff` status of [`CONTAINER`] gives (`back-off 30s restarting
/// failed container=...`), as written.
fn back_off(pod: &PodView) -> Option<String> {
    let status = pod
        .status
        .container_statuses
        .iter()
        .find(|s| s.name == CONTAINER)?;
    let waiting = status.state.waiting.as_ref()?;
    let message = waiting.message.as_deref()?;
    let wait = message.strip_prefix("back-off ")?.split(' ').next()?;
    (waiting.reason == "CrashLoopBackOff").then(|| wait.to_string())
}

/// `doTest(ctx, f, 3, containerName, max_restarts)` on a node whose configuration has
/// `fields` (the scenario's `crashLoopBackOff` and `featureGates`), then the check that
/// tells its back-off from the default one: while the container is restarted `beyond`
/// times, every `CrashLoopBackOff` wait seen is one of `waits`. `doTest`'s first wait, a
/// minute for the container to fail while its pod is `Pending`, expected to time out, is
/// [`container_restart_backs_off`]'s: here the first restart is waited for instead.
fn configured_restarts_back_off(
    case: &str,
    fields: &str,
    max_restarts: u32,
    beyond: u32,
    waits: &[&str],
) {
    let mut node = Node::new(super::backend(), case);
    node.use_config(&format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: {}\n{fields}",
        node.manifests.display()
    ));
    node.write_manifest("container-restart.yaml", &fail_always_pod());
    node.start_agent();
    let one = OnePod {
        node,
        pod: "container-restart".to_string(),
    };
    let run = one.client();
    let mut seen = BTreeSet::new();
    let first = Instant::now();
    run.wait(MINUTE, |pod| {
        seen.extend(back_off(pod));
        Ok(restarts(pod)? >= 1)
    });
    // "Hard wait 30 seconds", then at least 3 restarts within 5 minutes.
    std::thread::sleep(Duration::from_secs(30));
    run.wait(5 * MINUTE, |pod| Ok(restarts(pod)? >= 3));
    let observed = restarts(&run.wait(MINUTE, |_| Ok(true))).unwrap();
    assert!(
        observed <= max_restarts,
        "expected the container to back off its restarts: {observed} restarts"
    );
    run.wait(5 * MINUTE, |pod| {
        seen.extend(back_off(pod));
        Ok(restarts(pod)? >= beyond)
    });
    let unexpected: Vec<&String> = seen
        .iter()
        .filter(|w| !waits.contains(&w.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "with {fields:?}, a back-off waited {unexpected:?} (all seen: {seen:?}); {beyond} restarts after {:?}",
        first.elapsed()
    );
}

/// "Alternate container restart backs off as expected" (`maxContainerRestartPeriod: 30s`):
/// "Alternate restart backs off." (`doTest(ctx, f, 3, containerName, 13)`: 0 s, 0 s,
/// 10 s, 30 s, 60 s, 90 s, ...). Then, to 6 restarts (the default back-off would wait 40 s
/// and 80 s for the fifth and sixth), no wait but 10 s, 20 s and 30 s.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn alternate_container_restart_backs_off_as_expected() {
    configured_restarts_back_off(
        "e2e-restart-max30",
        "crashLoopBackOff: {maxContainerRestartPeriod: 30s}\nfeatureGates: {KubeletCrashLoopBackOffMax: true, ReduceDefaultCrashLoopBackOffDecay: false}\n",
        13,
        6,
        &["10s", "20s", "30s"],
    );
}

/// "Reduced default container restart backs off as expected" (the
/// `ReduceDefaultCrashLoopBackOffDecay` gate on, `KubeletCrashLoopBackOffMax` off):
/// "Reduced default restart backs off." (`doTest(ctx, f, 3, containerName, 13)`). Then, to
/// 7 restarts (the default back-off would take 5 minutes), no wait but 1 s doubling to 1
/// min.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn reduced_default_container_restart_backs_off_as_expected() {
    configured_restarts_back_off(
        "e2e-restart-reduced",
        "featureGates: {KubeletCrashLoopBackOffMax: false, ReduceDefaultCrashLoopBackOffDecay: true}\n",
        13,
        7,
        &["1s", "2s", "4s", "8s", "16s", "32s", "1m0s"],
    );
}

/// "Lower node config container restart takes precedence" (`maxContainerRestartPeriod:
/// 1s` with both gates on: the cap wins over the reduced back-off's minute): "Reduced default restart backs
/// off." (`doTest(ctx, f, 3, containerName, 298)`). Then, to 15 restarts (the default
/// back-off would take over 20 minutes), no wait but 1 s.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn lower_node_config_container_restart_takes_precedence() {
    configured_restarts_back_off(
        "e2e-restart-max1",
        "crashLoopBackOff: {maxContainerRestartPeriod: 1s}\nfeatureGates: {KubeletCrashLoopBackOffMax: true, ReduceDefaultCrashLoopBackOffDecay: true}\n",
        298,
        15,
        &["1s"],
    );
}

//! `test/e2e_node/mirror_pod_grace_period_test.go`, translated: a static pod whose container
//! takes 100 s to exit on SIGTERM, with a grace period of 20 s, is deleted or updated; its
//! mirror pod (the agent's `/pods`) stays the old, running one for the grace period. The
//! mirror pod checks are `mirror_pod_test.go`'s ([`super::mirror_pod`]).

use std::time::Duration;

use super::consistently_every;
use super::mirror_pod::{
    PAUSE, delete_and_wait_gone, file, only_image, running_with_uid, static_pod, uid,
    wait_recreated_and_running, wait_running,
};
use crate::support::Node;

/// The pod's name.
const POD: &str = "graceful-pod";

/// `createStaticPodWithGracePeriod`: 20 s of grace, a busybox container whose TERM trap
/// sleeps 100 s.
const GRACEFUL: &str = "apiVersion: v1
kind: Pod
metadata:
  name: graceful-pod
  namespace: default
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: m-test
    image: busybox:1.36
    command:
      - /bin/sh
    args:
      - '-c'
      - |
        _term() {
        echo \"Caught SIGTERM signal!\"
        sleep 100
        }
        trap _term SIGTERM
        sleep 1000
";

/// `Consistently`'s interval here.
const EVERY: Duration = Duration::from_millis(200);

/// The `BeforeEach`: the graceful pod runs, its mirror pod valid; the node and the mirror
/// pod's UID.
fn graceful_running(case: &str) -> (Node, String) {
    let mut node = Node::new(super::backend(), case);
    node.write_manifest(&file(POD), GRACEFUL);
    node.start_agent();
    let pod = wait_running(&node, POD);
    (node, uid(&pod))
}

/// "mirror pod termination should satisfy grace period when static pod is deleted": the
/// mirror pod stays, running with its UID, for 20 s (1 s, then 19 s) after the removal.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_deleted_static_pods_mirror_runs_for_its_grace_period() {
    let (node, old) = graceful_running("e2e-grace-mirror-delete");
    node.remove_manifest(&file(POD));
    for window in [1, 19] {
        consistently_every(
            Duration::from_secs(window),
            EVERY,
            "the mirror pod should be running for the grace period",
            || running_with_uid(&node, POD, &old),
        );
    }
    delete_and_wait_gone(&node, POD);
}

/// "mirror pod termination should satisfy grace period when static pod is updated": the
/// old mirror pod runs for 19 s after the update, then the new one (the pause image) runs.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn an_updated_static_pods_old_mirror_runs_for_its_grace_period() {
    let (node, old) = graceful_running("e2e-grace-mirror-update");
    node.write_manifest(&file(POD), &static_pod(POD, PAUSE, ""));
    consistently_every(
        Duration::from_secs(19),
        EVERY,
        "the old mirror pod should be running for the grace period",
        || running_with_uid(&node, POD, &old),
    );
    let updated = wait_recreated_and_running(&node, POD, &old);
    assert_eq!(only_image(&updated), PAUSE);
    delete_and_wait_gone(&node, POD);
}

/// "should update a static pod when the static pod is updated multiple times during the
/// graceful termination period": 300 rewrites 100 ms apart (images `image-<i>`, which
/// do not exist), then the pause image, which the new mirror pod runs.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_static_pod_updated_300_times_during_its_grace_period_ends_updated() {
    let (node, old) = graceful_running("e2e-grace-mirror-updates");
    for i in 0..300 {
        node.write_manifest(&file(POD), &static_pod(POD, &format!("image-{i}"), ""));
        std::thread::sleep(Duration::from_millis(100));
    }
    node.write_manifest(&file(POD), &static_pod(POD, PAUSE, ""));
    let updated = wait_recreated_and_running(&node, POD, &old);
    assert_eq!(only_image(&updated), PAUSE);
    delete_and_wait_gone(&node, POD);
}

//! `test/e2e/common/node/security_context.go`, translated: user namespaces (`hostUsers`),
//! `runAsUser`, `runAsNonRoot`, `readOnlyRootFilesystem`, `privileged` and a `Strict`
//! `supplementalGroupsPolicy` on a node whose runtime cannot apply it. Each pod runs a
//! command under restartPolicy Never; the case reads its phase, its log and its events.
//!
//! Scenarios that need a test image the offline images lack (`nonroot`, whose user is
//! 1234; `nonewprivs`, a set-user-ID program printing its effective UID; agnhost, whose
//! `/etc/group` puts user 1000 in group 50000), ConfigMaps and Secrets, or a node set up
//! with subordinate IDs for the kubelet are listed in E2E.md as not translated.

use super::{OnePod, POD_START_TIMEOUT, PodClient, container_output, eventually};
use crate::support::Node;

/// A busybox pod `name` under restartPolicy Never, its one container `name` running
/// `command` (a YAML flow sequence) with `context` as its `securityContext` (a flow
/// mapping); `spec` is more lines of the spec.
fn busybox_pod(name: &str, command: &str, context: &str, spec: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{spec}  containers:\n  - {{name: {name}, image: busybox:1.36, command: {command}, securityContext: {context}}}\n"
    )
}

/// `makePod(hostUsers)`: `cat /proc/self/uid_map` in container `userns-test`.
fn userns_pod(name: &str, command: &str, spec: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{spec}  containers:\n  - {{name: userns-test, image: busybox:1.36, command: {command}}}\n"
    )
}

/// Two pods `userns-1` and `userns-2` of `manifest` (`{}` for the name) on one node,
/// each succeeded within `PodStartTimeout`: their logs.
fn two_pods_logs(case: &str, manifest: impl Fn(&str) -> String) -> [String; 2] {
    let mut node = Node::new(super::backend(), case);
    for name in ["userns-1", "userns-2"] {
        node.write_manifest(&format!("{name}.yaml"), &manifest(name));
    }
    node.start_agent();
    ["userns-1", "userns-2"].map(|pod| {
        let client = PodClient { node: &node, pod };
        client.wait_success(POD_START_TIMEOUT);
        client.logs("userns-test")
    })
}

/// "When creating a pod with HostUsers": "must create the user namespace if set to false":
/// each pod's `uid_map` maps 65536 IDs, and the two maps differ.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn host_users_false_creates_a_user_namespace() {
    let [one, two] = two_pods_logs("e2e-userns", |name| {
        userns_pod(name, "[cat, /proc/self/uid_map]", "  hostUsers: false\n")
    });
    assert!(
        one.contains("65536") && two.contains("65536"),
        "user namespace not created:\n{one}\n{two}"
    );
    assert_ne!(
        one, two,
        "two different pods are running with the same user namespace configuration"
    );
}

/// "must create a user namespace and use host network when hostUsers is false and
/// hostNetwork is true": different user namespaces of 65536 IDs, the same (the host's)
/// network namespace.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn host_users_false_with_host_network_creates_a_user_namespace_in_the_hosts_network() {
    let logs = two_pods_logs("e2e-userns-hostnet", |name| {
        userns_pod(
            name,
            "[sh, -c, 'cat /proc/self/uid_map && readlink /proc/self/ns/net']",
            "  hostUsers: false\n  hostNetwork: true\n",
        )
    });
    let [(map1, net1), (map2, net2)] = logs.map(|log| {
        let lines: Vec<String> = log.trim().lines().map(str::to_string).collect();
        let [map, net] = &lines[..] else {
            panic!("expected 2 lines of logs, got {}: {log:?}", lines.len())
        };
        (map.clone(), net.clone())
    });
    assert!(
        map1.contains("65536"),
        "user namespace not created for pod1: {map1}"
    );
    assert!(
        map2.contains("65536"),
        "user namespace not created for pod2: {map2}"
    );
    assert_ne!(
        map1, map2,
        "two different pods are running with the same user namespace configuration"
    );
    assert_eq!(
        net1, net2,
        "two pods with hostNetwork=true should be in the same network namespace"
    );
}

/// "must not create the user namespace if set to true": the host's `uid_map`
/// (`0 0 4294967295`).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn host_users_true_keeps_the_hosts_user_namespace() {
    container_output(
        "e2e-userns-host",
        "userns",
        &userns_pod("userns", "[cat, /proc/self/uid_map]", "  hostUsers: true\n"),
        "userns-test",
        &["4294967295"],
    );
}

/// "When creating a container with runAsUser": `test $(id -u) -eq <uid>` succeeds.
fn runs_as(case: &str, uid: u32) {
    let name = format!("busybox-user-{uid}");
    let run = OnePod::start(
        case,
        &name,
        &busybox_pod(
            &name,
            &format!("[sh, -c, 'test $(id -u) -eq {uid}']"),
            &format!("{{runAsUser: {uid}}}"),
            "",
        ),
    );
    run.client().wait_success(POD_START_TIMEOUT);
}

/// "should run the container with uid 65534".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_container_runs_with_uid_65534() {
    runs_as("e2e-uid-65534", 65534);
}

/// "should run the container with uid 0".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_container_runs_with_uid_0() {
    runs_as("e2e-uid-0", 0);
}

/// `makeNonRootPod`: `id -u` with `runAsNonRoot: true` and `user` (a `runAsUser`, or
/// none).
fn non_root_pod(name: &str, user: Option<u32>) -> String {
    let user = user
        .map(|u| format!(", runAsUser: {u}"))
        .unwrap_or_default();
    busybox_pod(
        name,
        "[id, -u]",
        &format!("{{runAsNonRoot: true{user}}}"),
        "",
    )
}

/// `WaitForErrorEventOrSuccess` gives a `Failed` event (`FailedToCreateContainer`).
fn refused_to_create(case: &str, name: &str, user: Option<u32>) {
    let run = OnePod::start(case, name, &non_root_pod(name, user));
    let event = run.client().error_event_or_success();
    let event = event.expect("an error event, not a started container");
    assert_eq!(event.reason, "Failed", "{}", event.message);
}

/// "When creating a container with runAsNonRoot": "should run with an explicit non-root
/// user ID": the container succeeds and prints 1000.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn run_as_non_root_runs_with_an_explicit_non_root_user_id() {
    container_output(
        "e2e-nonroot-uid",
        "explicit-nonroot-uid",
        &non_root_pod("explicit-nonroot-uid", Some(1000)),
        "explicit-nonroot-uid",
        &["1000"],
    );
}

/// "should not run with an explicit root user ID" (the kubelet's `nonroot` image; any image
/// is refused with `runAsUser: 0`).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn run_as_non_root_does_not_run_with_an_explicit_root_user_id() {
    refused_to_create("e2e-nonroot-root", "explicit-root-uid", Some(0));
}

/// "should not run without a specified user ID": busybox runs as root.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn run_as_non_root_does_not_run_without_a_specified_user_id() {
    refused_to_create("e2e-nonroot-implicit", "implicit-root-uid", None);
}

/// "When creating a pod with readOnlyRootFilesystem": `touch checkfile` in the root
/// filesystem; the pod fails when it is read-only, succeeds otherwise.
fn read_only_root(case: &str, read_only: bool) {
    let name = format!("busybox-readonly-{read_only}");
    let run = OnePod::start(
        case,
        &name,
        &busybox_pod(
            &name,
            "[sh, -c, 'touch checkfile']",
            &format!("{{readOnlyRootFilesystem: {read_only}}}"),
            "",
        ),
    );
    if read_only {
        run.client().wait_failure(POD_START_TIMEOUT);
    } else {
        run.client().wait_success(POD_START_TIMEOUT);
    }
}

/// "should run the container with readonly rootfs when readOnlyRootFilesystem=true".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_read_only_root_filesystem_cannot_be_written() {
    read_only_root("e2e-readonly-true", true);
}

/// "should run the container with writable rootfs when readOnlyRootFilesystem=false".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_writable_root_filesystem_can_be_written() {
    read_only_root("e2e-readonly-false", false);
}

/// "When creating a pod with privileged": `ip link add dummy0 type dummy || true`
/// succeeds; its log says whether the kernel refused it.
fn privileged_log(case: &str, privileged: bool) -> String {
    let name = format!("busybox-privileged-{privileged}");
    let run = OnePod::start(
        case,
        &name,
        &busybox_pod(
            &name,
            "[sh, -c, 'ip link add dummy0 type dummy || true']",
            &format!("{{privileged: {privileged}}}"),
            "",
        ),
    );
    run.client().wait_success(POD_START_TIMEOUT);
    run.client().logs(&name)
}

/// "should run the container as unprivileged when false".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn an_unprivileged_container_cannot_create_a_network_device() {
    let logs = privileged_log("e2e-unprivileged", false);
    assert!(
        logs.contains("Operation not permitted"),
        "unprivileged container shouldn't be able to create dummy device: {logs:?}"
    );
}

/// "should run the container as privileged when true".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_privileged_container_can_create_a_network_device() {
    let logs = privileged_log("e2e-privileged", true);
    assert!(
        !logs.contains("Operation not permitted"),
        "privileged container should be able to create dummy device: {logs:?}"
    );
}

/// "SupplementalGroupsPolicy", "was set to Strict in PodSpec", "scheduled node does not
/// support SupplementalGroupsPolicy": "it should reject the pod": one warning event
/// `SupplementalGroupsPolicyNotSupported` within a minute (the kubelet's agnhost image,
/// here busybox: the pod is refused before its image matters).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_strict_supplemental_groups_policy_is_refused_where_the_runtime_lacks_it() {
    let manifest = "kind: Pod\nmetadata: {name: sppl-grp-plcy, labels: {name: sppl-grp-plcy}}\nspec:\n  restartPolicy: Never\n  securityContext: {runAsUser: 1000, supplementalGroups: [60000], supplementalGroupsPolicy: Strict}\n  containers:\n  - {name: test-container, image: busybox:1.36, command: [sh, -c, 'id -G; while :; do sleep 1; done']}\n";
    let run = OnePod::start("e2e-sgp-strict", "sppl-grp-plcy", manifest);
    eventually(
        super::MINUTE,
        super::POLL,
        "the SupplementalGroupsPolicyNotSupported event",
        || {
            let rejections = run
                .client()
                .events()
                .into_iter()
                .filter(|e| {
                    e.type_ == "Warning" && e.reason == "SupplementalGroupsPolicyNotSupported"
                })
                .count();
            match rejections {
                1 => Ok(()),
                n => Err(format!("{n} such events")),
            }
        },
    );
}

//! `test/e2e/common/node/security_context.go`, translated: user namespaces (`hostUsers`),
//! `runAsUser`, `runAsNonRoot`, `readOnlyRootFilesystem`, `privileged` and a `Strict`
//! `supplementalGroupsPolicy` on a node whose runtime cannot apply it,
//! `allowPrivilegeEscalation` and the image's groups merged with the pod's. Each pod runs
//! a command under restartPolicy Never; the case reads its phase, its log and its events.
//!
//! The kubelet's test images are the offline stand-ins of `xtask/src/images.rs`: `nonroot`
//! (user 1234), `nonewprivs` (a set-user-ID root `nnp` printing its effective UID) and
//! agnhost (whose `/etc/group` puts user 1000 in group 50000). Scenarios that need
//! ConfigMaps and Secrets, or a node set up with subordinate IDs for the kubelet, are
//! listed in E2E.md as not translated.

use super::{AGNHOST_IMAGE, OnePod, POD_START_TIMEOUT, PodClient, container_output, eventually};

/// The kubelet's `nonroot` test image (`USER 1234`).
const NONROOT_IMAGE: &str = "registry.k8s.io/e2e-test-images/nonroot:1.4";
/// The kubelet's `nonewprivs` test image (its command a set-user-ID root `nnp`).
const NONEWPRIVS_IMAGE: &str = "registry.k8s.io/e2e-test-images/nonewprivs:1.3";
/// The kubelet's busybox test image.
const BUSYBOX_IMAGE: &str = "busybox:1.36";
use crate::support::Node;

/// A busybox pod `name` under restartPolicy Never, its one container `name` running
/// `command` (a YAML flow sequence) with `context` as its `securityContext` (a flow
/// mapping); `spec` is more lines of the spec.
fn busybox_pod(name: &str, command: &str, context: &str, spec: &str) -> String {
    image_pod(
        name,
        BUSYBOX_IMAGE,
        &format!("command: {command}, "),
        context,
        spec,
    )
}

/// [`busybox_pod`] of `image`, `command` its container's `command` entry (or none).
fn image_pod(name: &str, image: &str, command: &str, context: &str, spec: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{spec}  containers:\n  - {{name: {name}, image: '{image}', {command}securityContext: {context}}}\n"
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

/// `makeNonRootPod`: `id -u` in `image` with `runAsNonRoot: true` and `user` (a
/// `runAsUser`, or none).
fn non_root_pod(name: &str, image: &str, user: Option<u32>) -> String {
    let user = user
        .map(|u| format!(", runAsUser: {u}"))
        .unwrap_or_default();
    image_pod(
        name,
        image,
        "command: [id, -u], ",
        &format!("{{runAsNonRoot: true{user}}}"),
        "",
    )
}

/// `WaitForErrorEventOrSuccess` gives a `Failed` event (`FailedToCreateContainer`).
fn refused_to_create(case: &str, name: &str, image: &str, user: Option<u32>) {
    let run = OnePod::start(case, name, &non_root_pod(name, image, user));
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
        &non_root_pod("explicit-nonroot-uid", BUSYBOX_IMAGE, Some(1000)),
        "explicit-nonroot-uid",
        &["1000"],
    );
}

/// "should not run with an explicit root user ID": the `nonroot` image with `runAsUser: 0`.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn run_as_non_root_does_not_run_with_an_explicit_root_user_id() {
    refused_to_create(
        "e2e-nonroot-root",
        "explicit-root-uid",
        NONROOT_IMAGE,
        Some(0),
    );
}

/// "should run with an image specified user ID": the `nonroot` image's user, 1234, with no
/// `runAsUser`: the container succeeds and prints 1234.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn run_as_non_root_runs_with_an_image_specified_user_id() {
    container_output(
        "e2e-nonroot-image",
        "implicit-nonroot-uid",
        &non_root_pod("implicit-nonroot-uid", NONROOT_IMAGE, None),
        "implicit-nonroot-uid",
        &["1234"],
    );
}

/// "should not run without a specified user ID": busybox runs as root.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn run_as_non_root_does_not_run_without_a_specified_user_id() {
    refused_to_create(
        "e2e-nonroot-implicit",
        "implicit-root-uid",
        BUSYBOX_IMAGE,
        None,
    );
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

/// "when creating containers with AllowPrivilegeEscalation" (`createAndMatchOutput`): the
/// `nonewprivs` image as user 1000 with `allow` as `allowPrivilegeEscalation` (or none)
/// succeeds, and its set-user-ID `nnp` prints `Effective uid: <expected>`.
fn privilege_escalation(case: &str, name: &str, allow: Option<bool>, expected: u32) {
    let allow = allow
        .map(|a| format!("allowPrivilegeEscalation: {a}, "))
        .unwrap_or_default();
    container_output(
        case,
        name,
        &image_pod(
            name,
            NONEWPRIVS_IMAGE,
            "",
            &format!("{{{allow}runAsUser: 1000}}"),
            "",
        ),
        name,
        &[&format!("Effective uid: {expected}")],
    );
}

/// "should allow privilege escalation when not explicitly set and uid != 0".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn privilege_escalation_is_allowed_when_not_set_and_the_uid_is_not_0() {
    privilege_escalation("e2e-nnp-nil", "alpine-nnp-nil", None, 0);
}

/// "should not allow privilege escalation when false".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn privilege_escalation_is_not_allowed_when_false() {
    privilege_escalation("e2e-nnp-false", "alpine-nnp-false", Some(false), 1000);
}

/// "should allow privilege escalation when true".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn privilege_escalation_is_allowed_when_true() {
    privilege_escalation("e2e-nnp-true", "alpine-nnp-true", Some(true), 0);
}

/// "SupplementalGroupsPolicy", "scheduled node does not support SupplementalGroupsPolicy":
/// `expectMergePolicyInEffect` for `mkPod(policy)` (`CreateSync`): agnhost as user 1000,
/// supplemental group 60000; its log is `1000 50000 60000` within a minute (50 000 the
/// image's group of user 1000), and `id -G` run in the container prints the same.
fn merge_policy_in_effect(case: &str, policy: &str) {
    let name = "sppl-grp-plcy";
    let manifest = format!(
        "kind: Pod\nmetadata: {{name: {name}, labels: {{name: {name}}}}}\nspec:\n  restartPolicy: Never\n  securityContext: {{runAsUser: 1000, supplementalGroups: [60000]{policy}}}\n  containers:\n  - {{name: test-container, image: '{AGNHOST_IMAGE}', command: [sh, -c, 'id -G; while :; do sleep 1; done']}}\n"
    );
    let run = OnePod::start(case, name, &manifest);
    let client = run.client();
    client.running_and_ready(POD_START_TIMEOUT);
    let expected = "1000 50000 60000";
    eventually(
        super::MINUTE,
        super::POLL,
        "the container's groups",
        || match client.logs("test-container") {
            logs if logs == format!("{expected}\n") => Ok(()),
            logs => Err(format!("its log is {logs:?}")),
        },
    );
    let running = run
        .node
        .instances(name, "test-container")
        .into_iter()
        .find(|c| matches!(c.state, staticpod_runtime::ContainerState::Running { .. }))
        .expect("the container runs");
    let exec = run.node.exec(&running.id, &["id", "-G"]);
    assert_eq!(
        (exec.exit_code, exec.output.trim()),
        (0, expected),
        "id -G in the container"
    );
}

/// "SupplementalGroupsPolicy nil in SecurityContext", "if the container's primary UID
/// belongs to some groups in the image", on a node that does not support the policy: "it
/// should add SupplementalGroups to them". (The kubelet's pod here has `Merge`, and the
/// one of the `Merge` scenario below none: the test swaps them; both are kept as written.)
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_images_groups_are_merged_when_the_policy_is_nil() {
    merge_policy_in_effect("e2e-sgp-nil", ", supplementalGroupsPolicy: Merge");
}

/// "SupplementalGroupsPolicy was set to Merge in PodSpec", the same (its pod without a
/// policy, as the kubelet's test has it).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_images_groups_are_merged_when_the_policy_is_merge() {
    merge_policy_in_effect("e2e-sgp-merge", "");
}

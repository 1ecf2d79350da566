//! `test/e2e/common/node/expansion.go`, translated: `$(VAR)` in env values, in the command
//! and its args, and in a volume mount's `subPathExpr` (which may not name `..` or an
//! absolute path). The two scenarios that change a pod's annotation in place (an API
//! update) are translated up to that update, or not at all (E2E.md).

use std::time::{Duration, Instant};

use super::{OnePod, POD_START_SHORT_TIMEOUT, container_output};

/// The pod `var-expansion` of `newPod`: container `dapi-container` (busybox) with `command`
/// (a flow sequence, or empty for the image's), `fields` (more of its fields, each line
/// indented by four spaces), and `spec` (more lines of the spec, by two), under
/// restartPolicy Never.
fn new_pod(command: &str, fields: &str, spec: &str) -> String {
    let command = if command.is_empty() {
        String::new()
    } else {
        format!("    command: {command}\n")
    };
    format!(
        "kind: Pod\nmetadata: {{name: var-expansion, labels: {{name: var-expansion}}}}\nspec:\n  restartPolicy: Never\n{spec}  containers:\n  - name: dapi-container\n    image: busybox:1.36\n{command}{fields}"
    )
}

/// The `workdir1` emptyDir volume.
const WORKDIR: &str = "  volumes:\n  - {name: workdir1, emptyDir: {}}\n";

/// "should allow composing env vars into new env vars".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn env_vars_compose_into_new_env_vars() {
    let env = "    env:\n    - {name: FOO, value: foo-value}\n    - {name: BAR, value: bar-value}\n    - {name: FOOBAR, value: '$(FOO);;$(BAR)'}\n";
    container_output(
        "e2e-expand-env",
        "var-expansion",
        &new_pod("[sh, -c, env]", env, ""),
        "dapi-container",
        &[
            "FOO=foo-value",
            "BAR=bar-value",
            "FOOBAR=foo-value;;bar-value",
        ],
    );
}

/// The variable `TEST_VAR` of the command and args scenarios.
const TEST_VAR: &str = "    env:\n    - {name: TEST_VAR, value: test-value}\n";

/// "should allow substituting values in a container's command".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn values_are_substituted_in_a_containers_command() {
    container_output(
        "e2e-expand-command",
        "var-expansion",
        &new_pod(
            r#"[sh, -c, 'TEST_VAR=wrong echo "$(TEST_VAR)"']"#,
            TEST_VAR,
            "",
        ),
        "dapi-container",
        &["test-value"],
    );
}

/// "should allow substituting values in a container's args".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn values_are_substituted_in_a_containers_args() {
    let fields = format!("    args: ['TEST_VAR=wrong echo \"$(TEST_VAR)\"']\n{TEST_VAR}");
    container_output(
        "e2e-expand-args",
        "var-expansion",
        &new_pod("[sh, -c]", &fields, ""),
        "dapi-container",
        &["test-value"],
    );
}

/// "should allow substituting values in a volume subpath": `$(POD_NAME)` (the pod's
/// name) makes a directory of that name in the volume.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn values_are_substituted_in_a_volume_subpath() {
    let fields = "    env:\n    - {name: POD_NAME, value: var-expansion}\n    volumeMounts:\n    - {name: workdir1, mountPath: /logscontainer, subPathExpr: $(POD_NAME)}\n    - {name: workdir1, mountPath: /testcontainer}\n";
    container_output(
        "e2e-expand-subpath",
        "var-expansion",
        &format!(
            "{}{WORKDIR}",
            new_pod(
                "[sh, -c, 'test -d /testcontainer/var-expansion;echo $?']",
                fields,
                ""
            )
        ),
        "dapi-container",
        &["0"],
    );
}

/// `testPodFailSubpath`: with `POD_NAME` set to `value`, the mount whose `subPathExpr` is
/// `$(POD_NAME)` keeps the container waiting as `CreateContainerConfigError` while the pod
/// is pending, within `PodStartShortTimeout`.
fn subpath_fails(case: &str, value: &str) {
    let fields = format!(
        "    env:\n    - {{name: POD_NAME, value: '{value}'}}\n    volumeMounts:\n    - {{name: workdir1, mountPath: /logscontainer, subPathExpr: $(POD_NAME)}}\n"
    );
    let run = OnePod::start(
        case,
        "var-expansion",
        &format!("{}{WORKDIR}", new_pod("", &fields, "")),
    );
    if let Err(error) =
        run.client()
            .container_fails(0, "CreateContainerConfigError", POD_START_SHORT_TIMEOUT)
    {
        panic!("while waiting for the pod container to fail: {error}");
    }
}

/// "should fail substituting values in a volume subpath with backticks" (whose value is
/// `..`).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_subpath_expanded_to_dot_dot_is_refused() {
    subpath_fails("e2e-expand-dotdot", "..");
}

/// "should fail substituting values in a volume subpath with absolute path".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_subpath_expanded_to_an_absolute_path_is_refused() {
    subpath_fails("e2e-expand-absolute", "/tmp");
}

/// "should succeed in writing subpaths in container", up to the annotation's update (an
/// in-place update through the API): the pod runs within `PodStartShortTimeout`, a file
/// written through the whole volume is seen in the subpath `$(ANNOTATION)/$(POD_NAME)`,
/// and the pod deleted is gone within the framework's `PodDelete` (5 minutes).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn subpaths_can_be_written_in_a_container() {
    let fields = "    env:\n    - {name: POD_NAME, value: foo}\n    - {name: ANNOTATION, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: \"metadata.annotations['mysubpath']\"}}}\n    volumeMounts:\n    - {name: workdir1, mountPath: /subpath_mount, subPathExpr: $(ANNOTATION)/$(POD_NAME)}\n    - {name: workdir1, mountPath: /volume_mount}\n";
    let manifest = format!(
        "{}{WORKDIR}",
        new_pod("[sh, -c, 'tail -f /dev/null']", fields, "")
    )
    .replace(
        "labels: {name: var-expansion}",
        "labels: {name: var-expansion}, annotations: {mysubpath: mypath}",
    );
    let run = OnePod::start("e2e-expand-write", "var-expansion", &manifest);
    run.client()
        .wait(POD_START_SHORT_TIMEOUT, |p| Ok(p.status.phase == "Running"));
    let container = run.node.wait_running("var-expansion", "dapi-container");
    for (command, what) in [
        (
            "touch /volume_mount/mypath/foo/test.log",
            "expected to be able to write to subpath",
        ),
        (
            "test -f /subpath_mount/test.log",
            "expected to be able to verify file",
        ),
    ] {
        let done = run.node.exec(&container.id, &["/bin/sh", "-c", command]);
        assert_eq!(done.exit_code, 0, "{what}: {done:?}");
    }
    run.node.remove_manifest("var-expansion.yaml");
    let deleted = Instant::now();
    while !run.node.containers().is_empty() {
        assert!(
            deleted.elapsed() < Duration::from_secs(5 * 60),
            "the pod was not gone within 5 minutes: {:?}",
            run.node.containers()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

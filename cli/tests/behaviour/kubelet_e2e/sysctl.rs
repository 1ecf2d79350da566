//! `test/e2e/common/node/sysctl.go`, translated: a pod's safe sysctls are set in its
//! namespaces (named with dots or with slashes), invalid names are refused, and an unsafe
//! sysctl the node does not allow fails the pod with the reason `SysctlForbidden`.
//!
//! The API server's refusal of invalid names is, for a static pod, the agent's refusal of
//! the manifest (the kubelet validates a static pod as the API server validates a pod).

use serde_json::Value;

use super::{OnePod, POD_START_TIMEOUT, POLL, eventually};

/// `testPod()` with `sysctls` (YAML list items of the pod's `securityContext.sysctls`) and
/// `command` (a flow sequence, or empty for the image's).
fn sysctl_pod(sysctls: &str, command: &str) -> String {
    let command = if command.is_empty() {
        String::new()
    } else {
        format!(", command: {command}")
    };
    format!(
        "kind: Pod\nmetadata: {{name: sysctl}}\nspec:\n  restartPolicy: Never\n  securityContext:\n    sysctls:\n{sysctls}  containers:\n  - {{name: test-container, image: busybox:1.36{command}}}\n"
    )
}

/// "should support sysctls" and "... with slashes as separator": the pod setting
/// `kernel.shm_rmid_forced` (named `name`) to 1 starts with no error event, succeeds, and
/// `/bin/sysctl <name>` prints `kernel.shm_rmid_forced = 1`.
fn supports(case: &str, name: &str) {
    let manifest = sysctl_pod(
        &format!("    - {{name: {name}, value: '1'}}\n"),
        &format!("[/bin/sysctl, {name}]"),
    );
    let run = OnePod::start(case, "sysctl", &manifest);
    let client = run.client();
    let event = client.error_event_or_success();
    assert!(event.is_none(), "an error event: {event:?}");
    let end = client.wait(POD_START_TIMEOUT, |p| {
        Ok(matches!(p.status.phase.as_str(), "Succeeded" | "Failed"))
    });
    assert_eq!(end.status.phase, "Succeeded", "{:#?}", end.status);
    let log = client.logs("test-container");
    assert!(
        log.contains("kernel.shm_rmid_forced = 1"),
        "the sysctl is not set: {log:?}"
    );
}

/// "should support sysctls".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_pods_safe_sysctl_is_set() {
    supports("e2e-sysctl", "kernel.shm_rmid_forced");
}

/// "should support sysctls with slashes as separator".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_sysctl_named_with_slashes_is_set() {
    supports("e2e-sysctl-slashes", "kernel/shm_rmid_forced");
}

/// "should reject invalid sysctls": of `foo-`, `kernel.shmmax`, `safe-and-unsafe` and
/// `bar..`, the refusal names the two invalid names and neither of the valid ones (which
/// the API accepts; the kubelet's admission judges them later).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn invalid_sysctl_names_are_refused() {
    let sysctls = [
        ("foo-", "bar"),
        ("kernel.shmmax", "100000000"),
        ("safe-and-unsafe", "100000000"),
        ("bar..", "42"),
    ]
    .map(|(name, value)| format!("    - {{name: '{name}', value: '{value}'}}\n"))
    .concat();
    let run = OnePod::write("e2e-sysctl-invalid", "sysctl", &sysctl_pod(&sysctls, ""));
    let node = &run.node;
    let file = node.manifests.join("sysctl.yaml").display().to_string();
    let refusal = node.wait_for("the manifest to be refused", || {
        let (_, stderr) = node.get_pods();
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&file)).collect();
        match lines.is_empty() {
            true => Err(stderr),
            false => Ok(lines.join("\n")),
        }
    });
    for invalid in ["\"foo-\"", "\"bar..\""] {
        assert!(
            refusal.contains(invalid),
            "the refusal should name {invalid} as invalid: {refusal}"
        );
    }
    for valid in ["safe-and-unsafe", "kernel.shmmax"] {
        assert!(
            !refusal.contains(valid),
            "the refusal should not name {valid}, a valid name: {refusal}"
        );
    }
}

/// "should not launch unsafe, but not explicitly enabled sysctls on the node": the pod
/// setting `kernel.msgmax` fails with the reason `SysctlForbidden` within
/// `PodStartTimeout` (`WaitForPodFailedReason`).
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn an_unsafe_sysctl_not_allowed_on_the_node_fails_the_pod() {
    let manifest = sysctl_pod("    - {name: kernel.msgmax, value: '10000000000'}\n", "");
    let run = OnePod::write("e2e-sysctl-unsafe", "sysctl", &manifest);
    let node = &run.node;
    let full = node.pod_name("sysctl");
    eventually(
        POD_START_TIMEOUT,
        POLL,
        "the pod to fail with SysctlForbidden",
        || {
            let body = node.http_get("/pods")?;
            let list: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let pod = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["metadata"]["name"] == full.as_str())
            .ok_or_else(|| {
                // A refused manifest never becomes a pod: say so at once.
                let (_, stderr) = node.get_pods();
                if stderr.contains("sysctl.yaml") {
                    panic!("the manifest was refused, where the kubelet admits the pod and fails it: {stderr}");
                }
                format!("{full} is not listed")
            })?;
            let status = &pod["status"];
            match (status["phase"].as_str(), status["reason"].as_str()) {
                (Some("Failed"), Some("SysctlForbidden")) => Ok(()),
                (Some("Failed"), reason) => {
                    panic!("the pod failed with reason {reason:?}: {status:#}")
                }
                (Some("Succeeded"), _) => panic!("the pod succeeded unexpectedly: {status:#}"),
                _ => Err(format!("{status}")),
            }
        },
    );
}

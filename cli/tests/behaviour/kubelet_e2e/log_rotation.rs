//! `test/e2e_node/container_log_rotation_test.go`, translated: with `containerLogMaxSize`
//! 40Ki and `containerLogMaxFiles` 3, a container writing about 12 KB/s has its log rotated
//! to 3 files within 3 minutes and never more for 2 minutes (two such containers at once
//! with `containerLogMaxWorkers` 2 and `containerLogMonitorInterval` 3s); and the logs of a
//! container's earlier restarts are removed down to 3 files.
//!
//! The kubelet reads the log's path from CRI's `ContainerStatus`: the path it gave the
//! runtime, `<podLogsDir>/<namespace>_<pod>_<uid>/<container>/<restarts>.log`, which is where
//! the agent has its CRI and Podman containers write (the Docker backend keeps its logs
//! with Docker's json-file driver, which cri-dockerd links there for a kubelet).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{POD_START_TIMEOUT, PodClient, consistently_every, eventually};
use crate::support::Node;

const MAX_FILES: usize = 3;
const MAX_SIZE: &str = "40Ki";
/// `rotationPollInterval`.
const POLL: Duration = Duration::from_secs(5);
/// `rotationEventuallyTimeout`.
const EVENTUALLY: Duration = Duration::from_secs(3 * 60);
/// `rotationConsistentlyTimeout`.
const CONSISTENTLY: Duration = Duration::from_secs(2 * 60);

/// "~12Kb/s. Exceeding 40Kb in 4 seconds."
const CHATTY: &str = "[sh, -c, 'while true; do echo hello world; sleep 0.001; done;']";

/// A node whose agent runs with the kubelet configuration `fields` (more top-level lines).
fn configured_node(case: &str, fields: &str) -> Node {
    let mut node = Node::new(super::backend(), case);
    node.use_config(&format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: {}\ncontainerLogMaxFiles: {MAX_FILES}\ncontainerLogMaxSize: {MAX_SIZE}\n{fields}",
        node.manifests.display()
    ));
    node
}

/// The pod `name` with one container `log-container` running `command` under `policy`.
fn log_pod(name: &str, policy: &str, command: &str) -> String {
    format!(
        "kind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n  containers:\n  - {{name: log-container, image: busybox:1.36, command: {command}}}\n"
    )
}

/// The log directory of container `log-container` of pod `pod`, and its current file, as
/// the kubelet names them (`<restarts>.log`), from the pod's `/pods` status.
fn log_path(client: PodClient<'_>) -> (PathBuf, PathBuf) {
    let pod = client.wait(POD_START_TIMEOUT, |_| Ok(true));
    let status = &pod.status.container_statuses;
    assert_eq!(
        status.len(),
        1,
        "log rotation pod should have one container"
    );
    let dir = client
        .node
        .root
        .join("logs")
        .join(format!(
            "{}_{}_{}",
            pod.metadata.namespace, pod.metadata.name, pod.metadata.uid
        ))
        .join("log-container");
    let current = dir.join(format!("{}.log", status[0].restart_count));
    (dir, current)
}

/// `kubelogs.GetAllLogs`: the rotated files of `log` (`<log>.*`, but for `.tmp` files and
/// uncompressed ones whose compressed copy exists), and `log` itself.
fn all_logs(log: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = log.parent().expect("a directory");
    let prefix = format!("{}.", log.file_name().unwrap().to_string_lossy());
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rotated: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    let mut logs: Vec<PathBuf> = rotated
        .iter()
        .filter(|n| !n.ends_with(".tmp") && !rotated.contains(&format!("{n}.gz")))
        .map(|n| dir.join(n))
        .collect();
    logs.sort();
    logs.push(log.to_path_buf());
    Ok(logs)
}

/// The number of log files of all of `logs`.
fn count(logs: &[PathBuf]) -> Result<usize, String> {
    logs.iter().map(|l| all_logs(l).map(|f| f.len())).sum()
}

/// Runs `pods` chatty pods (created and running, `CreateSync`) on a node configured with
/// `fields`: their logs reach `MAX_FILES` files each, all together, within 3 minutes, and
/// never more for 2 minutes.
fn rotated_to_max_files(case: &str, fields: &str, pods: &[&str]) {
    let mut node = configured_node(case, fields);
    for pod in pods {
        node.write_manifest(&format!("{pod}.yaml"), &log_pod(pod, "Never", CHATTY));
    }
    node.start_agent();
    let logs: Vec<PathBuf> = pods
        .iter()
        .map(|pod| {
            let client = PodClient { node: &node, pod };
            client.wait(POD_START_TIMEOUT, |p| Ok(p.status.phase == "Running"));
            log_path(client).1
        })
        .collect();
    let limit = MAX_FILES * pods.len();
    eventually(
        EVENTUALLY,
        POLL,
        "should eventually rotate to max file limit",
        || match count(&logs)? {
            n if n == limit => Ok(()),
            n => Err(format!("{n} files, not {limit}")),
        },
    );
    consistently_every(
        CONSISTENTLY,
        POLL,
        "should never exceed max file limit",
        || match count(&logs)? {
            n if n <= limit => Ok(()),
            n => Err(format!("{n} files, more than {limit}")),
        },
    );
}

/// "ContainerLogRotation", "when a container generates a lot of log": "should be rotated
/// and limited to a fixed amount of files".
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn a_containers_log_is_rotated_and_limited_to_max_files() {
    rotated_to_max_files("e2e-log-rotation", "", &["test-container-log-rotation"]);
}

/// "ContainerLogRotationWithMultipleWorkers": "should be rotated and limited to a fixed
/// amount of files", for two containers.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn two_containers_logs_are_rotated_with_two_workers() {
    rotated_to_max_files(
        "e2e-log-rotation-workers",
        "containerLogMaxWorkers: 2\ncontainerLogMonitorInterval: 3s\n",
        &[
            "test-container-log-rotation",
            "test-container-log-rotation-1",
        ],
    );
}

/// "ContainerLogRedundantCleanup", "when a container restarts many times": "should remove
/// redundant logs from previous restarts": once restarted 4 times, the container's log
/// directory holds 3 files at most within 3 minutes.
#[test]
#[ignore = "needs the runtime: run through cargo xtask test"]
fn the_logs_of_earlier_restarts_are_removed() {
    let pod = "test-redundant-log-cleanup";
    let mut node = configured_node("e2e-log-cleanup", "");
    node.write_manifest(
        &format!("{pod}.yaml"),
        &log_pod(
            pod,
            "Always",
            "[sh, -c, 'for i in $(seq 1 100); do echo redundant log test line $i; done; exit 0']",
        ),
    );
    node.start_agent();
    let client = PodClient { node: &node, pod };
    let target = MAX_FILES as u32 + 1;
    eventually(
        EVENTUALLY,
        POLL,
        "container should restart enough times to generate redundant logs",
        || {
            let restarts = client
                .wait(POD_START_TIMEOUT, |_| Ok(true))
                .status
                .container_statuses
                .first()
                .map_or(0, |s| s.restart_count);
            match restarts >= target {
                true => Ok(()),
                false => Err(format!("{restarts} restarts")),
            }
        },
    );
    let (dir, _) = log_path(client);
    eventually(
        EVENTUALLY,
        POLL,
        "redundant log files from old restarts should be removed, keeping at most MaxFiles",
        || {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            match names.len() <= MAX_FILES {
                true => Ok(()),
                false => Err(format!("{names:?}")),
            }
        },
    );
}

//! Docker's inspect output turned into the core's [`SandboxInfo`] and [`ContainerInfo`]. The
//! list API lacks exit codes, start and finish times and IPs, so each object is inspected.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use staticpod_runtime::timestamp;
use staticpod_runtime::{ContainerInfo, ContainerState, SandboxInfo, SandboxState};

use crate::labels::SANDBOX_ID;

/// The exit code dockershim reported for a container Docker could not start.
const CANNOT_RUN_EXIT_CODE: i32 = 128;

/// A sandbox from its pause container's inspect output.
pub(crate) fn sandbox_info(inspect: &ContainerInspectResponse) -> SandboxInfo {
    let id = inspect.id.clone().unwrap_or_default();
    let running = inspect
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false);
    SandboxInfo {
        state: if running {
            SandboxState::Ready
        } else {
            SandboxState::NotReady
        },
        created_at: created_at(inspect, &id),
        ip: if running { pod_ip(inspect) } else { None },
        labels: labels(inspect),
        id,
    }
}

/// A container from its inspect output.
pub(crate) fn container_info(inspect: &ContainerInspectResponse) -> ContainerInfo {
    let id = inspect.id.clone().unwrap_or_default();
    let labels = labels(inspect);
    ContainerInfo {
        sandbox_id: labels.get(SANDBOX_ID).cloned(),
        // The reference the container was created from (`nginx:1.25`), not the image id.
        image: inspect
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .or_else(|| inspect.image.clone())
            .unwrap_or_default(),
        // cri-dockerd's `imageID` for an image without a registry digest.
        image_id: inspect
            .image
            .as_deref()
            .map(|image| format!("docker://{image}"))
            .unwrap_or_default(),
        state: container_state(inspect, &id),
        created_at: created_at(inspect, &id),
        labels,
        id,
    }
}

fn labels(inspect: &ContainerInspectResponse) -> BTreeMap<String, String> {
    inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The pod's IP: the address on the container's network, none on the host network.
fn pod_ip(inspect: &ContainerInspectResponse) -> Option<String> {
    let host_network = inspect
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.as_deref())
        == Some("host");
    if host_network {
        return None;
    }
    let networks = inspect.network_settings.as_ref()?.networks.as_ref()?;
    // Prefer the default bridge when a container is on several networks, for a stable answer.
    networks
        .get("bridge")
        .into_iter()
        .chain(networks.values())
        .filter_map(|endpoint| endpoint.ip_address.as_deref())
        .find(|ip| !ip.is_empty())
        .map(str::to_owned)
}

fn container_state(inspect: &ContainerInspectResponse, id: &str) -> ContainerState {
    let Some(state) = inspect.state.as_ref() else {
        return ContainerState::Unknown;
    };
    let time = |field: &'static str, text: Option<&String>| -> Option<SystemTime> {
        let text = text.map(String::as_str).unwrap_or_default();
        timestamp::parse_or_never(text)
            .inspect_err(|err| tracing::warn!(container = id, field, %err, "unreadable time"))
            .ok()
            .flatten()
    };
    let started_at = time("StartedAt", state.started_at.as_ref());
    let finished_at = time("FinishedAt", state.finished_at.as_ref());
    let exit_code = state
        .exit_code
        .map(|code| i32::try_from(code).unwrap_or(i32::MAX))
        .unwrap_or_default();
    let oom_killed = state.oom_killed.unwrap_or(false);
    let created = created_at(inspect, id);

    match state.status {
        // A paused container still has its process.
        Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::PAUSED) => {
            ContainerState::Running {
                started_at: started_at.unwrap_or(created),
            }
        }
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
            let finished_at = finished_at.or(started_at).unwrap_or(created);
            ContainerState::Exited {
                exit_code,
                started_at: started_at.unwrap_or(finished_at),
                finished_at,
                oom_killed,
            }
        }
        // Docker leaves a container it could not start (missing executable, bad mount) in
        // "created" with the error and an exit code: that is a failed run, not a fresh one.
        Some(ContainerStateStatusEnum::CREATED)
            if state.error.as_deref().is_some_and(|e| !e.is_empty()) =>
        {
            let finished_at = finished_at.unwrap_or(created);
            ContainerState::Exited {
                exit_code: if exit_code == 0 {
                    CANNOT_RUN_EXIT_CODE
                } else {
                    exit_code
                },
                started_at: started_at.unwrap_or(finished_at),
                finished_at,
                oom_killed,
            }
        }
        Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
        _ => ContainerState::Unknown,
    }
}

fn created_at(inspect: &ContainerInspectResponse, id: &str) -> SystemTime {
    let text: &str = inspect.created.as_deref().unwrap_or_default();
    match timestamp::parse_or_never(text) {
        Ok(Some(time)) => time,
        Ok(None) => UNIX_EPOCH,
        Err(err) => {
            tracing::warn!(container = id, %err, "unreadable creation time");
            UNIX_EPOCH
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An inspect answer as Docker 20.10 writes it (trimmed to the fields we read).
    fn inspect(json: serde_json::Value) -> ContainerInspectResponse {
        serde_json::from_value(json).unwrap()
    }

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn running_sandbox_is_ready_with_its_bridge_ip() {
        let sandbox = sandbox_info(&inspect(serde_json::json!({
            "Id": "pause1",
            "Created": "2024-05-01T12:34:56.5Z",
            "State": {"Status": "running", "Running": true, "ExitCode": 0,
                      "StartedAt": "2024-05-01T12:34:57Z", "FinishedAt": "0001-01-01T00:00:00Z"},
            "HostConfig": {"NetworkMode": "default"},
            "Config": {"Image": "registry.k8s.io/pause:3.9",
                       "Labels": {"io.kubernetes.docker.type": "podsandbox"}},
            "NetworkSettings": {"IPAddress": "172.17.0.2",
                "Networks": {"bridge": {"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1"}}}
        })));
        assert_eq!(
            sandbox,
            SandboxInfo {
                id: "pause1".into(),
                state: SandboxState::Ready,
                created_at: at(1_714_566_896, 500_000_000),
                ip: Some("172.17.0.2".into()),
                labels: BTreeMap::from([("io.kubernetes.docker.type".into(), "podsandbox".into())]),
            }
        );
    }

    #[test]
    fn host_network_and_stopped_sandboxes_have_no_ip() {
        let host = sandbox_info(&inspect(serde_json::json!({
            "Id": "pause2",
            "Created": "2024-05-01T12:34:56Z",
            "State": {"Status": "running", "Running": true},
            "HostConfig": {"NetworkMode": "host"},
            "NetworkSettings": {"Networks": {"host": {"IPAddress": ""}}}
        })));
        assert_eq!(host.state, SandboxState::Ready);
        assert_eq!(host.ip, None);

        let stopped = sandbox_info(&inspect(serde_json::json!({
            "Id": "pause3",
            "Created": "2024-05-01T12:34:56Z",
            "State": {"Status": "exited", "Running": false, "ExitCode": 143},
            "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": ""}}}
        })));
        assert_eq!(stopped.state, SandboxState::NotReady);
        assert_eq!(stopped.ip, None);
    }

    #[test]
    fn exited_container_keeps_code_times_and_sandbox() {
        let container = container_info(&inspect(serde_json::json!({
            "Id": "c1",
            "Created": "2024-05-01T12:34:56Z",
            "Image": "sha256:0123",
            "State": {"Status": "exited", "Running": false, "OOMKilled": true, "ExitCode": 137,
                      "StartedAt": "2024-05-01T12:34:57Z",
                      "FinishedAt": "2024-05-01T12:35:00.25Z"},
            "Config": {"Image": "busybox:1.36",
                       "Labels": {"io.kubernetes.sandbox.id": "pause1"}}
        })));
        assert_eq!(container.id, "c1");
        assert_eq!(container.image, "busybox:1.36");
        assert_eq!(container.sandbox_id.as_deref(), Some("pause1"));
        assert_eq!(
            container.state,
            ContainerState::Exited {
                exit_code: 137,
                started_at: at(1_714_566_897, 0),
                finished_at: at(1_714_566_900, 250_000_000),
                oom_killed: true,
            }
        );
    }

    #[test]
    fn running_created_and_failed_start() {
        let state = |state: serde_json::Value| {
            container_info(&inspect(serde_json::json!({
                "Id": "c", "Created": "2024-05-01T12:34:56Z", "State": state
            })))
            .state
        };
        assert_eq!(
            state(serde_json::json!({"Status": "running", "Running": true,
                "StartedAt": "2024-05-01T12:34:57Z", "FinishedAt": "0001-01-01T00:00:00Z"})),
            ContainerState::Running {
                started_at: at(1_714_566_897, 0)
            }
        );
        assert_eq!(
            state(
                serde_json::json!({"Status": "created", "Running": false, "ExitCode": 0,
                "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"})
            ),
            ContainerState::Created
        );
        assert_eq!(
            state(serde_json::json!({"Status": "created", "ExitCode": 127,
                "Error": "exec: \"nope\": executable file not found in $PATH",
                "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"})),
            ContainerState::Exited {
                exit_code: 127,
                started_at: at(1_714_566_896, 0),
                finished_at: at(1_714_566_896, 0),
                oom_killed: false,
            }
        );
        assert_eq!(
            state(serde_json::json!({"Status": "removing"})),
            ContainerState::Unknown
        );
    }
}

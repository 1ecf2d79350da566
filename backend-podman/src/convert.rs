//! libpod's answers turned into the core's [`SandboxInfo`] and [`ContainerInfo`]. The list
//! APIs lack exit codes, OOM kills and precise times, and a pod's IP is on its infra
//! container, so containers are inspected; the inspect answer is read into our own small
//! structs that take only the fields we need and tolerate the rest changing between
//! Podman releases.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use podman_api::models::ListPodsReport;
use serde::Deserialize;
use staticpod_runtime::timestamp;
use staticpod_runtime::{ContainerInfo, ContainerState, SandboxInfo, SandboxState};

/// The fields of libpod's image inspect answer that we read: the image's user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ImageInspect {
    #[serde(default)]
    pub config: ImageInspectConfig,
}

/// `Config` of an image inspect answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ImageInspectConfig {
    /// `USER` of the image: `uid[:gid]`, `name[:group]` or empty.
    #[serde(default)]
    pub user: String,
}

/// The fields of libpod's container inspect answer that we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ContainerInspect {
    pub id: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub is_infra: bool,
    /// The pod's id; empty for a container outside any pod.
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub image_name: Option<String>,
    /// The image's id (hex, without `sha256:`).
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub state: Option<InspectState>,
    #[serde(default)]
    pub config: Option<InspectConfig>,
    #[serde(default)]
    pub network_settings: Option<InspectNetwork>,
    #[serde(default)]
    pub host_config: Option<InspectHostConfig>,
    /// Where conmon keeps the container's runtime files (its control FIFO `ctl`).
    #[serde(default)]
    pub static_dir: Option<std::path::PathBuf>,
}

/// `State` of an inspect answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InspectState {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default, rename = "OOMKilled")]
    pub oom_killed: bool,
    /// The container's process on the service's host; 0 when it runs none.
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// `Config` of an inspect answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InspectConfig {
    #[serde(default)]
    pub labels: Option<HashMap<String, String>>,
}

/// `NetworkSettings` of an inspect answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct InspectNetwork {
    #[serde(default, rename = "IPAddress")]
    pub ip_address: Option<String>,
    #[serde(default, rename = "Networks")]
    pub networks: Option<BTreeMap<String, InspectEndpoint>>,
}

/// One network of `NetworkSettings.Networks`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct InspectEndpoint {
    #[serde(default, rename = "IPAddress")]
    pub ip_address: Option<String>,
}

/// `HostConfig` of an inspect answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InspectHostConfig {
    #[serde(default)]
    pub network_mode: Option<String>,
    #[serde(default)]
    pub log_config: Option<InspectLogConfig>,
}

/// `HostConfig.LogConfig` of an inspect answer: where a `k8s-file` log is written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InspectLogConfig {
    /// The log driver: `k8s-file` (the CRI format, in a file), `journald`, ...
    #[serde(default, rename = "Type")]
    pub driver: String,
    #[serde(default)]
    pub path: Option<std::path::PathBuf>,
}

impl InspectLogConfig {
    /// The file conmon writes the log to in the CRI format: only a `k8s-file` log has one.
    pub(crate) fn k8s_file(self) -> Option<std::path::PathBuf> {
        self.path
            .filter(|path| self.driver == "k8s-file" && !path.as_os_str().is_empty())
    }
}

/// A sandbox from its pod's list entry and its infra container's inspect answer (`None` when
/// the pod has no infra container or it vanished): Ready iff the infra container runs.
pub(crate) fn sandbox_info(pod: &ListPodsReport, infra: Option<&ContainerInspect>) -> SandboxInfo {
    let id = pod.id.clone().unwrap_or_default();
    let running = infra
        .and_then(|infra| infra.state.as_ref())
        .is_some_and(|state| state.running || state.status == "running");
    let created_at = pod
        .created
        .map(SystemTime::from)
        .filter(|time| *time > UNIX_EPOCH)
        .or_else(|| infra.and_then(|infra| time(infra.created.as_deref(), &id, "Created")))
        .unwrap_or(UNIX_EPOCH);
    SandboxInfo {
        state: if running {
            SandboxState::Ready
        } else {
            SandboxState::NotReady
        },
        created_at,
        ip: if running {
            infra.and_then(pod_ip)
        } else {
            None
        },
        labels: pod
            .labels
            .as_ref()
            .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        id,
    }
}

/// The pod's IP: the infra container's address, none on the host network.
fn pod_ip(infra: &ContainerInspect) -> Option<String> {
    let host_network = infra
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.as_deref())
        == Some("host");
    if host_network {
        return None;
    }
    let network = infra.network_settings.as_ref()?;
    // The pod's primary address first; any network's address when that is empty.
    network
        .ip_address
        .iter()
        .chain(
            network
                .networks
                .iter()
                .flat_map(|networks| networks.values().filter_map(|n| n.ip_address.as_ref())),
        )
        .find(|ip| !ip.is_empty())
        .cloned()
}

/// A container from its inspect answer.
pub(crate) fn container_info(inspect: &ContainerInspect) -> ContainerInfo {
    let created_at = time(inspect.created.as_deref(), &inspect.id, "Created").unwrap_or(UNIX_EPOCH);
    ContainerInfo {
        id: inspect.id.clone(),
        sandbox_id: inspect.pod.clone().filter(|pod| !pod.is_empty()),
        // Podman records the resolved name (`docker.io/library/nginx:1.25`).
        image: inspect.image_name.clone().unwrap_or_default(),
        image_id: inspect
            .image
            .as_deref()
            .map(|id| format!("sha256:{id}"))
            .unwrap_or_default(),
        state: container_state(inspect, created_at),
        created_at,
        labels: inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

fn container_state(inspect: &ContainerInspect, created: SystemTime) -> ContainerState {
    let Some(state) = inspect.state.as_ref() else {
        return ContainerState::Unknown;
    };
    let id = inspect.id.as_str();
    let started_at = time(state.started_at.as_deref(), id, "StartedAt");
    let finished_at = time(state.finished_at.as_deref(), id, "FinishedAt");
    match state.status.as_str() {
        // A paused or stopping container still has its process.
        "running" | "paused" | "stopping" => ContainerState::Running {
            started_at: started_at.unwrap_or(created),
        },
        "exited" | "stopped" => {
            let finished_at = finished_at.or(started_at).unwrap_or(created);
            ContainerState::Exited {
                exit_code: state.exit_code,
                started_at: started_at.unwrap_or(finished_at),
                // A clock step can stamp the exit before the start; never report a negative run.
                finished_at: finished_at.max(started_at.unwrap_or(finished_at)),
                oom_killed: state.oom_killed,
            }
        }
        // libpod leaves a container it could not start (missing executable, bad mount) in
        // "created", with the error only in the start call's answer: the planner reads
        // Created as a failed start and restarts it by the pod's policy.
        "configured" | "created" | "initialized" => ContainerState::Created,
        _ => ContainerState::Unknown,
    }
}

/// An RFC 3339 time from an inspect answer; `None` for Go's zero time (year 1, "never") or
/// an empty or unreadable field.
fn time(text: Option<&str>, id: &str, field: &'static str) -> Option<SystemTime> {
    match timestamp::parse_or_never(text.unwrap_or_default()) {
        Ok(time) => time.filter(|time| *time > UNIX_EPOCH),
        Err(err) => {
            tracing::warn!(container = id, field, %err, "unreadable time");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn inspect(value: serde_json::Value) -> ContainerInspect {
        serde_json::from_value(value).unwrap()
    }

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn only_a_k8s_file_log_is_read_from_its_file() {
        let log = |config: serde_json::Value| {
            serde_json::from_value::<InspectLogConfig>(config)
                .unwrap()
                .k8s_file()
        };
        assert_eq!(
            log(json!({"Type": "k8s-file", "Path": "/var/log/pods/p/web/0.log"})),
            Some("/var/log/pods/p/web/0.log".into())
        );
        assert_eq!(log(json!({"Type": "journald", "Path": ""})), None);
        assert_eq!(log(json!({"Type": "k8s-file", "Path": ""})), None);
        assert_eq!(log(json!({"Type": "journald"})), None);
    }

    /// An infra container as Podman 4.3 inspects it (trimmed to the fields we read, plus a
    /// few we must tolerate).
    fn infra(status: &str, running: bool) -> ContainerInspect {
        inspect(json!({
            "Id": "infra1",
            "Created": "2024-05-01T12:34:56.5Z",
            "Path": "/pause", "Args": [],
            "State": {"OciVersion": "1.0.2-dev", "Status": status, "Running": running,
                      "ExitCode": 0, "OOMKilled": false, "Error": "",
                      "StartedAt": "2024-05-01T12:34:57Z",
                      "FinishedAt": "0001-01-01T00:00:00Z",
                      "Health": {"Status": "", "FailingStreak": 0, "Log": null}},
            "ImageName": "registry.k8s.io/pause:3.9",
            "Pod": "pod1",
            "IsInfra": true,
            "Config": {"Entrypoint": "/pause", "Labels": {"a": "b"}, "StopSignal": 15},
            "HostConfig": {"NetworkMode": "bridge"},
            "NetworkSettings": {"IPAddress": "10.88.0.6", "Gateway": "10.88.0.1",
                "Networks": {"podman": {"IPAddress": "10.88.0.6", "NetworkID": "podman"}}}
        }))
    }

    fn pod(labels: serde_json::Value) -> ListPodsReport {
        serde_json::from_value(json!({
            "Id": "pod1",
            "Name": "k8s_POD_web_default_u_0",
            "Created": "2024-05-01T12:34:56.25Z",
            "InfraId": "infra1",
            "Status": "Running",
            "Labels": labels,
            "Containers": [{"Id": "infra1", "Names": "pod1-infra", "Status": "running"}]
        }))
        .unwrap()
    }

    #[test]
    fn running_infra_makes_a_ready_sandbox_with_its_ip() {
        let sandbox = sandbox_info(&pod(json!({"role": "web"})), Some(&infra("running", true)));
        assert_eq!(
            sandbox,
            SandboxInfo {
                id: "pod1".into(),
                state: SandboxState::Ready,
                created_at: at(1_714_566_896, 250_000_000),
                ip: Some("10.88.0.6".into()),
                labels: BTreeMap::from([("role".into(), "web".into())]),
            }
        );
    }

    #[test]
    fn stopped_missing_or_host_network_infra() {
        let stopped = sandbox_info(&pod(json!(null)), Some(&infra("exited", false)));
        assert_eq!(stopped.state, SandboxState::NotReady);
        assert_eq!(stopped.ip, None);
        assert!(stopped.labels.is_empty());

        let gone = sandbox_info(&pod(json!({})), None);
        assert_eq!(gone.state, SandboxState::NotReady);

        let mut host = infra("running", true);
        host.host_config = Some(InspectHostConfig {
            network_mode: Some("host".into()),
            log_config: None,
        });
        let host = sandbox_info(&pod(json!({})), Some(&host));
        assert_eq!(host.state, SandboxState::Ready);
        assert_eq!(host.ip, None);
    }

    #[test]
    fn running_container() {
        let info = container_info(&inspect(json!({
            "Id": "c1",
            "Created": "2024-05-01T12:00:00.000000001Z",
            "State": {"Status": "running", "Running": true, "ExitCode": 0,
                      "StartedAt": "2024-05-01T12:00:01.5+02:00",
                      "FinishedAt": "0001-01-01T00:00:00Z"},
            "ImageName": "docker.io/library/nginx:1.25",
            "Image": "8f2a",
            "Pod": "pod1",
            "Config": {"Labels": {"io.kubernetes.container.name": "web"}}
        })));
        assert_eq!(
            info,
            ContainerInfo {
                id: "c1".into(),
                sandbox_id: Some("pod1".into()),
                image: "docker.io/library/nginx:1.25".into(),
                image_id: "sha256:8f2a".into(),
                state: ContainerState::Running {
                    started_at: at(1_714_557_601, 500_000_000)
                },
                created_at: at(1_714_564_800, 1),
                labels: BTreeMap::from([("io.kubernetes.container.name".into(), "web".into())]),
            }
        );
    }

    #[test]
    fn exited_and_stopped_containers_report_their_exit() {
        for status in ["exited", "stopped"] {
            let info = container_info(&inspect(json!({
                "Id": "c2",
                "Created": "2024-05-01T12:00:00Z",
                "State": {"Status": status, "Running": false, "ExitCode": 137,
                          "OOMKilled": true,
                          "StartedAt": "2024-05-01T12:00:01Z",
                          "FinishedAt": "2024-05-01T12:00:03Z"},
                "Pod": "",
                "Config": {"Labels": null}
            })));
            assert_eq!(info.sandbox_id, None);
            assert!(info.labels.is_empty());
            assert_eq!(
                info.state,
                ContainerState::Exited {
                    exit_code: 137,
                    started_at: at(1_714_564_801, 0),
                    finished_at: at(1_714_564_803, 0),
                    oom_killed: true,
                }
            );
        }
    }

    #[test]
    fn created_and_odd_states() {
        let state = |status: &str| {
            container_info(&inspect(json!({
                "Id": "c3",
                "Created": "2024-05-01T12:00:00Z",
                "State": {"Status": status, "StartedAt": "0001-01-01T00:00:00Z"}
            })))
            .state
        };
        assert_eq!(state("created"), ContainerState::Created);
        assert_eq!(state("configured"), ContainerState::Created);
        assert_eq!(state("initialized"), ContainerState::Created);
        assert_eq!(state("removing"), ContainerState::Unknown);
        assert_eq!(
            state("paused"),
            ContainerState::Running {
                started_at: at(1_714_564_800, 0)
            },
            "never started: the creation time stands in"
        );
        let no_state = container_info(&inspect(json!({"Id": "c4"})));
        assert_eq!(no_state.state, ContainerState::Unknown);
        assert_eq!(no_state.created_at, UNIX_EPOCH);
    }

    #[test]
    fn an_exit_stamped_before_the_start_is_clamped() {
        let info = container_info(&inspect(json!({
            "Id": "c5",
            "State": {"Status": "exited", "ExitCode": 1,
                      "StartedAt": "2024-05-01T12:00:05Z",
                      "FinishedAt": "2024-05-01T12:00:01Z"}
        })));
        let ContainerState::Exited {
            started_at,
            finished_at,
            ..
        } = info.state
        else {
            panic!("{:?}", info.state)
        };
        assert_eq!(started_at, finished_at);
    }
}

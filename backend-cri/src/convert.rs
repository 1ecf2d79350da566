//! CRI statuses turned into the core's [`SandboxInfo`] and [`ContainerInfo`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use staticpod_runtime::labels;
use staticpod_runtime::{ContainerInfo, ContainerState, SandboxInfo, SandboxState};

use crate::api::v1;

/// The reason containerd (and CRI-O) give a container the kernel OOM killer ended.
const OOM_KILLED: &str = "OOMKilled";

/// A CRI timestamp (nanoseconds since the epoch; 0 = never) as a `SystemTime`; "never" is the
/// epoch itself.
pub(crate) fn time_from_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// A sandbox from its full status.
pub(crate) fn sandbox_info(status: &v1::PodSandboxStatus) -> SandboxInfo {
    let state = if status.state == v1::PodSandboxState::SandboxReady as i32 {
        SandboxState::Ready
    } else {
        SandboxState::NotReady
    };
    SandboxInfo {
        id: status.id.clone(),
        state,
        created_at: time_from_nanos(status.created_at),
        ip: status
            .network
            .as_ref()
            .map(|net| net.ip.clone())
            .filter(|ip| !ip.is_empty()),
        labels: labels::merge(&status.labels, &status.annotations),
    }
}

/// A sandbox that is not ready, from its listing alone (no IP: it has no network).
pub(crate) fn not_ready_sandbox_info(listed: &v1::PodSandbox) -> SandboxInfo {
    SandboxInfo {
        id: listed.id.clone(),
        state: SandboxState::NotReady,
        created_at: time_from_nanos(listed.created_at),
        ip: None,
        labels: labels::merge(&listed.labels, &listed.annotations),
    }
}

/// The lifecycle state of a container status.
pub(crate) fn container_state(status: &v1::ContainerStatus) -> ContainerState {
    match v1::ContainerState::try_from(status.state) {
        Ok(v1::ContainerState::ContainerCreated) => ContainerState::Created,
        Ok(v1::ContainerState::ContainerRunning) => ContainerState::Running {
            started_at: time_from_nanos(status.started_at),
        },
        Ok(v1::ContainerState::ContainerExited) => ContainerState::Exited {
            exit_code: status.exit_code,
            started_at: time_from_nanos(status.started_at),
            // containerd stamps the start after the task started, and the exit with the
            // shim's own clock: a process that ends at once can seem to end before it began.
            finished_at: time_from_nanos(status.finished_at.max(status.started_at)),
            oom_killed: status.reason == OOM_KILLED,
        },
        Ok(v1::ContainerState::ContainerUnknown) | Err(_) => ContainerState::Unknown,
    }
}

/// A container from its list entry (sandbox id, the image as it was asked for) and its full
/// status (state, exit code, times).
pub(crate) fn container_info(entry: &v1::Container, status: &v1::ContainerStatus) -> ContainerInfo {
    // The list entry keeps the reference the container was created with (`nginx:1.25`); the
    // status may name the normalized one (`docker.io/library/nginx:1.25`).
    let image = [entry.image.as_ref(), status.image.as_ref()]
        .into_iter()
        .flatten()
        .map(|spec| spec.image.as_str())
        .find(|image| !image.is_empty())
        .unwrap_or(&status.image_ref)
        .to_owned();
    ContainerInfo {
        id: status.id.clone(),
        sandbox_id: Some(entry.pod_sandbox_id.clone()).filter(|id| !id.is_empty()),
        image,
        image_id: status.image_ref.clone(),
        state: container_state(status),
        created_at: time_from_nanos(status.created_at),
        labels: labels::merge(&status.labels, &status.annotations),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const T0: i64 = 1_700_000_000_123_456_789;

    fn status(state: v1::ContainerState) -> v1::ContainerStatus {
        v1::ContainerStatus {
            id: "c1".into(),
            state: state as i32,
            created_at: T0,
            labels: HashMap::from([
                ("io.kubernetes.container.name".into(), "web".into()),
                ("clash".into(), "label".into()),
            ]),
            annotations: HashMap::from([
                ("io.kubernetes.container.restartCount".into(), "2".into()),
                ("clash".into(), "annotation".into()),
            ]),
            image: Some(v1::ImageSpec {
                image: "docker.io/library/nginx:1.25".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn entry() -> v1::Container {
        v1::Container {
            id: "c1".into(),
            pod_sandbox_id: "s1".into(),
            image: Some(v1::ImageSpec {
                image: "nginx:1.25".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn nanosecond_timestamps_keep_their_precision() {
        let t = time_from_nanos(T0);
        let since = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(since.as_secs(), 1_700_000_000);
        assert_eq!(since.subsec_nanos(), 123_456_789);
        assert_eq!(time_from_nanos(0), UNIX_EPOCH);
        assert_eq!(time_from_nanos(-5), UNIX_EPOCH);
    }

    #[test]
    fn running_container_reports_its_start() {
        let mut s = status(v1::ContainerState::ContainerRunning);
        s.started_at = T0 + 1_000;
        let info = container_info(&entry(), &s);
        assert_eq!(
            info.state,
            ContainerState::Running {
                started_at: time_from_nanos(T0 + 1_000)
            }
        );
        assert_eq!(info.id, "c1");
        assert_eq!(info.sandbox_id.as_deref(), Some("s1"));
        assert_eq!(info.image, "nginx:1.25");
        assert_eq!(info.created_at, time_from_nanos(T0));
    }

    #[test]
    fn exited_container_reports_code_times_and_oom() {
        let mut s = status(v1::ContainerState::ContainerExited);
        s.started_at = T0 + 1_000;
        s.finished_at = T0 + 2_000_000_000;
        s.exit_code = 137;
        s.reason = "OOMKilled".into();
        assert_eq!(
            container_state(&s),
            ContainerState::Exited {
                exit_code: 137,
                started_at: time_from_nanos(T0 + 1_000),
                finished_at: time_from_nanos(T0 + 2_000_000_000),
                oom_killed: true,
            }
        );

        s.exit_code = 3;
        s.reason = "Error".into();
        assert!(matches!(
            container_state(&s),
            ContainerState::Exited {
                exit_code: 3,
                oom_killed: false,
                ..
            }
        ));
    }

    #[test]
    fn an_exit_stamped_before_the_start_is_moved_to_the_start() {
        let mut s = status(v1::ContainerState::ContainerExited);
        s.started_at = T0 + 5_000;
        s.finished_at = T0 + 4_000;
        let ContainerState::Exited {
            started_at,
            finished_at,
            ..
        } = container_state(&s)
        else {
            panic!("not exited");
        };
        assert_eq!(finished_at, started_at);
        assert_eq!(started_at, time_from_nanos(T0 + 5_000));
    }

    #[test]
    fn a_container_that_never_started_keeps_the_epoch_as_start() {
        let mut s = status(v1::ContainerState::ContainerExited);
        s.exit_code = 128;
        s.finished_at = T0;
        assert_eq!(
            container_state(&s),
            ContainerState::Exited {
                exit_code: 128,
                started_at: UNIX_EPOCH,
                finished_at: time_from_nanos(T0),
                oom_killed: false,
            }
        );
    }

    #[test]
    fn created_and_unknown_states() {
        assert_eq!(
            container_state(&status(v1::ContainerState::ContainerCreated)),
            ContainerState::Created
        );
        assert_eq!(
            container_state(&status(v1::ContainerState::ContainerUnknown)),
            ContainerState::Unknown
        );
        let mut odd = status(v1::ContainerState::ContainerCreated);
        odd.state = 42;
        assert_eq!(container_state(&odd), ContainerState::Unknown);
    }

    #[test]
    fn annotations_win_over_labels() {
        let info = container_info(&entry(), &status(v1::ContainerState::ContainerCreated));
        assert_eq!(info.labels["clash"], "annotation");
        assert_eq!(info.labels["io.kubernetes.container.name"], "web");
        assert_eq!(info.labels["io.kubernetes.container.restartCount"], "2");
        assert_eq!(info.labels.len(), 3);
    }

    #[test]
    fn image_falls_back_to_the_status_when_the_entry_has_none() {
        let mut e = entry();
        e.image = None;
        let info = container_info(&e, &status(v1::ContainerState::ContainerCreated));
        assert_eq!(info.image, "docker.io/library/nginx:1.25");
    }

    #[test]
    fn sandbox_status_gives_state_ip_and_merged_labels() {
        let status = v1::PodSandboxStatus {
            id: "s1".into(),
            state: v1::PodSandboxState::SandboxReady as i32,
            created_at: T0,
            network: Some(v1::PodSandboxNetworkStatus {
                ip: "10.88.0.7".into(),
                additional_ips: vec![],
            }),
            labels: HashMap::from([("io.kubernetes.pod.uid".into(), "u1".into())]),
            annotations: HashMap::from([("io.staticpod.config-hash".into(), "h".into())]),
            ..Default::default()
        };
        let info = sandbox_info(&status);
        assert_eq!(info.id, "s1");
        assert_eq!(info.state, SandboxState::Ready);
        assert_eq!(info.ip.as_deref(), Some("10.88.0.7"));
        assert_eq!(info.created_at, time_from_nanos(T0));
        assert_eq!(info.labels["io.kubernetes.pod.uid"], "u1");
        assert_eq!(info.labels["io.staticpod.config-hash"], "h");

        let host_net = v1::PodSandboxStatus {
            state: v1::PodSandboxState::SandboxNotready as i32,
            network: Some(v1::PodSandboxNetworkStatus::default()),
            ..status
        };
        let info = sandbox_info(&host_net);
        assert_eq!(info.state, SandboxState::NotReady);
        assert_eq!(info.ip, None);
    }
}

//! `pods/{name}/log`: what kubectl asks for (the query of the API's `PodLogOptions`) and which
//! container instance answers it, decided as kube-apiserver (the container's name) and the
//! kubelet (`validateContainerLogStatus`: which instance, or why none) decide it. The log
//! itself is read from the runtime by `server.rs`.

use std::time::{Duration, SystemTime};

use staticpod_core::status::{ContainerStatus, PodView};
use staticpod_runtime::logs::LogOptions;
use staticpod_runtime::timestamp;

use crate::error::ApiError;

/// One container instance's log, as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    /// The runtime's id of the instance (without its `<runtime>://`).
    pub container_id: String,
    /// Which part of the log, and how it is shaped.
    pub options: LogOptions,
}

/// The query parameters of a log request.
#[derive(Debug, Default, PartialEq, Eq)]
struct LogQuery {
    container: Option<String>,
    previous: bool,
    since_seconds: Option<u64>,
    since_time: Option<SystemTime>,
    options: LogOptions,
}

/// The log `query` asks for of `pod` at `now`, or why there is none to give.
pub fn request(pod: &PodView, query: &str, now: SystemTime) -> Result<LogRequest, ApiError> {
    let query = parse(query)?;
    let pod_name = pod.metadata.name.as_str();
    let status = container_status(pod, query.container.as_deref())?;
    let since = match (query.since_seconds, query.since_time) {
        // Further back than the clock goes is the whole log.
        (Some(seconds), None) => Some(
            now.checked_sub(Duration::from_secs(seconds))
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
        (None, time) => time,
        (Some(_), Some(_)) => {
            return Err(bad_request(
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
    };
    Ok(LogRequest {
        container_id: instance(status, pod_name, query.previous)?,
        options: LogOptions {
            since,
            ..query.options
        },
    })
}

fn parse(query: &str) -> Result<LogQuery, ApiError> {
    let mut out = LogQuery::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let flag = || matches!(&*value, "true" | "1");
        match &*key {
            "container" if !value.is_empty() => out.container = Some(value.to_string()),
            "follow" => out.options.follow = flag(),
            "previous" => out.previous = flag(),
            "timestamps" => out.options.timestamps = flag(),
            "tailLines" => out.options.tail_lines = Some(number("tailLines", &value, 0)?),
            "limitBytes" => out.options.limit_bytes = Some(number("limitBytes", &value, 1)?),
            "sinceSeconds" => out.since_seconds = Some(number("sinceSeconds", &value, 1)?),
            "sinceTime" => {
                let time = timestamp::parse(&value).map_err(|_| ApiError::BadParameter {
                    parameter: "sinceTime",
                    value: value.to_string(),
                    expected: "an RFC 3339 time",
                })?;
                out.since_time = Some(time);
            }
            // `insecureSkipTLSVerifyBackend` is about the API server's call to the kubelet,
            // which there is not; other parameters are ignored, as kube-apiserver does.
            _ => {}
        }
    }
    Ok(out)
}

/// A whole number of at least `min`.
fn number(parameter: &'static str, value: &str, min: u64) -> Result<u64, ApiError> {
    let expected = if min == 0 {
        "a whole number, 0 or more"
    } else {
        "a whole number, 1 or more"
    };
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| ApiError::BadParameter {
            parameter,
            value: value.to_string(),
            expected,
        })
}

/// The status of the container asked for: the only one when none is named, as
/// kube-apiserver picks it (kubectl names the first one itself).
fn container_status<'a>(
    pod: &'a PodView,
    name: Option<&str>,
) -> Result<&'a ContainerStatus, ApiError> {
    let statuses = || {
        pod.status
            .container_statuses
            .iter()
            .chain(&pod.status.init_container_statuses)
    };
    let pod_name = &pod.metadata.name;
    let name = match (name, pod.spec.containers.as_slice()) {
        (Some(name), _) => name,
        (None, [only]) => only.name.as_str(),
        (None, containers) => {
            let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
            return Err(bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    statuses()
        .find(|status| status.name == name)
        .ok_or_else(|| bad_request(format!("container {name} is not valid for pod {pod_name}")))
}

/// The instance whose log answers: the previous one's with `previous`; otherwise the
/// current one's, or the one that ended last while the next has not started.
fn instance(status: &ContainerStatus, pod: &str, previous: bool) -> Result<String, ApiError> {
    let name = &status.name;
    let ended = status
        .last_state
        .terminated
        .as_ref()
        .and_then(|t| t.container_id.as_deref());
    let state = &status.state;
    let uri = if previous {
        ended.ok_or_else(|| {
            bad_request(format!(
                "previous terminated container \"{name}\" in pod \"{pod}\" not found"
            ))
        })?
    } else if state.running.is_some() {
        current(status)?
    } else if let Some(terminated) = &state.terminated {
        terminated
            .container_id
            .as_deref()
            .or(ended)
            .ok_or_else(|| {
                bad_request(format!(
                    "container \"{name}\" in pod \"{pod}\" is terminated"
                ))
            })?
    } else if let Some(ended) = ended {
        ended
    } else {
        let reason = state.waiting.as_ref().map_or("unknown", |w| &w.reason);
        let why = match reason {
            "ErrImagePull" => "image can't be pulled",
            "ImagePullBackOff" => "trying and failing to pull image",
            reason => reason,
        };
        return Err(bad_request(format!(
            "container \"{name}\" in pod \"{pod}\" is waiting to start: {why}"
        )));
    };
    Ok(id(uri).to_string())
}

fn current(status: &ContainerStatus) -> Result<&str, ApiError> {
    status.container_id.as_deref().ok_or_else(|| {
        bad_request(format!(
            "container \"{}\" has no container ID yet",
            status.name
        ))
    })
}

/// The runtime's id in `<runtime>://<id>`.
fn id(uri: &str) -> &str {
    uri.split_once("://").map_or(uri, |(_, id)| id)
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use staticpod_core::model::Container;
    use staticpod_core::status::{ContainerStateView, Running, Terminated, Waiting};

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn terminated(id: &str) -> ContainerStateView {
        ContainerStateView {
            terminated: Some(Terminated {
                exit_code: 1,
                reason: "Error".into(),
                container_id: Some(format!("docker://{id}")),
                ..Terminated::default()
            }),
            ..ContainerStateView::default()
        }
    }

    fn waiting(reason: &str) -> ContainerStateView {
        ContainerStateView {
            waiting: Some(Waiting {
                reason: reason.into(),
                message: None,
            }),
            ..ContainerStateView::default()
        }
    }

    fn running() -> ContainerStateView {
        ContainerStateView {
            running: Some(Running {
                started_at: "2026-01-01T00:00:00Z".into(),
            }),
            ..ContainerStateView::default()
        }
    }

    /// A pod of `containers` (name, state, last state; the current id is `<name>-now`).
    fn pod(containers: &[(&str, ContainerStateView, ContainerStateView)]) -> PodView {
        let mut pod: PodView = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-node0", "namespace": "default"},
            "spec": {"containers": []},
            "status": {"phase": "Running"},
        }))
        .unwrap();
        for (name, state, last_state) in containers {
            pod.spec.containers.push(Container {
                name: name.to_string(),
                ..Container::default()
            });
            pod.status.container_statuses.push(ContainerStatus {
                name: name.to_string(),
                container_id: state
                    .waiting
                    .is_none()
                    .then(|| format!("docker://{name}-now")),
                state: state.clone(),
                last_state: last_state.clone(),
                ..ContainerStatus::default()
            });
        }
        pod
    }

    fn asked(pod: &PodView, query: &str) -> String {
        match request(pod, query, at(1000)) {
            Ok(log) => format!("{} {:?}", log.container_id, log.options),
            Err(error) => format!("{} {error}", error.code()),
        }
    }

    #[test]
    fn the_options_are_read_as_kubectl_sends_them() {
        let web = pod(&[("web", running(), terminated("web-before"))]);
        let lines = [
            "",
            "follow=true&tailLines=10&timestamps=true&limitBytes=500",
            "sinceSeconds=60",
            "sinceTime=1970-01-01T00%3A10%3A00Z",
            "previous=true",
        ]
        .map(|query| asked(&web, query));
        expect_test::expect![[r#"
            web-now LogOptions { follow: false, tail_lines: None, since: None, timestamps: false, limit_bytes: None }
            web-now LogOptions { follow: true, tail_lines: Some(10), since: None, timestamps: true, limit_bytes: Some(500) }
            web-now LogOptions { follow: false, tail_lines: None, since: Some(SystemTime { tv_sec: 940, tv_nsec: 0 }), timestamps: false, limit_bytes: None }
            web-now LogOptions { follow: false, tail_lines: None, since: Some(SystemTime { tv_sec: 600, tv_nsec: 0 }), timestamps: false, limit_bytes: None }
            web-before LogOptions { follow: false, tail_lines: None, since: None, timestamps: false, limit_bytes: None }"#]]
        .assert_eq(&lines.join("\n"));
    }

    #[test]
    fn bad_options_are_refused_naming_the_parameter() {
        let web = pod(&[("web", running(), ContainerStateView::default())]);
        let lines = [
            "tailLines=-1",
            "limitBytes=0",
            "sinceSeconds=0",
            "sinceTime=yesterday",
            "sinceSeconds=5&sinceTime=1970-01-01T00%3A10%3A00Z",
        ]
        .map(|query| asked(&web, query));
        expect_test::expect![[r#"
            400 invalid value for tailLines: "-1" (a whole number, 0 or more)
            400 invalid value for limitBytes: "0" (a whole number, 1 or more)
            400 invalid value for sinceSeconds: "0" (a whole number, 1 or more)
            400 invalid value for sinceTime: "yesterday" (an RFC 3339 time)
            400 at most one of `sinceTime` or `sinceSeconds` may be specified"#]]
        .assert_eq(&lines.join("\n"));
    }

    /// Before the start of time is all of the log, as the kubelet takes a `sinceSeconds`
    /// larger than the node's clock: `now - sinceSeconds` panicked once it did not fit.
    #[test]
    fn a_since_before_the_start_of_time_is_the_whole_log() {
        let web = pod(&[("web", running(), ContainerStateView::default())]);
        expect_test::expect!["web-now LogOptions { follow: false, tail_lines: None, since: Some(SystemTime { tv_sec: 0, tv_nsec: 0 }), timestamps: false, limit_bytes: None }"].assert_eq(&asked(&web, "sinceSeconds=18446744073709551615"));
    }

    #[test]
    fn the_instance_is_chosen_as_the_kubelet_chooses_it() {
        let none = ContainerStateView::default;
        let cases = [
            // Never restarted: no previous instance.
            (pod(&[("web", running(), none())]), "previous=true"),
            // In back-off: the instance that ended answers, with or without --previous.
            (
                pod(&[("web", waiting("CrashLoopBackOff"), terminated("web-1"))]),
                "",
            ),
            (
                pod(&[("web", waiting("CrashLoopBackOff"), terminated("web-1"))]),
                "previous=true",
            ),
            // Ended for good: its own log.
            (pod(&[("web", terminated("web-0"), none())]), ""),
            // Never started.
            (pod(&[("web", waiting("ContainerCreating"), none())]), ""),
            (pod(&[("web", waiting("ErrImagePull"), none())]), ""),
            // Two containers: one must be named, and a name must be one of them.
            (
                pod(&[("web", running(), none()), ("log", running(), none())]),
                "",
            ),
            (
                pod(&[("web", running(), none()), ("log", running(), none())]),
                "container=log",
            ),
            (pod(&[("web", running(), none())]), "container=db"),
        ];
        let lines = cases.map(|(pod, query)| asked(&pod, query));
        expect_test::expect![[r#"
            400 previous terminated container "web" in pod "web-node0" not found
            web-1 LogOptions { follow: false, tail_lines: None, since: None, timestamps: false, limit_bytes: None }
            web-1 LogOptions { follow: false, tail_lines: None, since: None, timestamps: false, limit_bytes: None }
            web-0 LogOptions { follow: false, tail_lines: None, since: None, timestamps: false, limit_bytes: None }
            400 container "web" in pod "web-node0" is waiting to start: ContainerCreating
            400 container "web" in pod "web-node0" is waiting to start: image can't be pulled
            400 a container name must be specified for pod web-node0, choose one of: [web log]
            log-now LogOptions { follow: false, tail_lines: None, since: None, timestamps: false, limit_bytes: None }
            400 container db is not valid for pod web-node0"#]]
        .assert_eq(&lines.join("\n"));
    }
}

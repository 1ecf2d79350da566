//! Container logs through Docker's `/containers/{id}/logs`: stdout and stderr demultiplexed
//! by bollard, always asked with timestamps so that partial lines are joined and `since` and
//! `timestamps` read the same on every backend. Each log is also linked at the kubelet's
//! path, as cri-dockerd links it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use staticpod_runtime::RuntimeResult;
use staticpod_runtime::logs::{self, LogOptions, LogStream, StreamType};

use crate::DockerRuntime;

/// Links `link` (a container's log path under the kubelet's `/var/log/pods`) to `target`
/// (the json-file log Docker writes), replacing what was there, as cri-dockerd does: tools
/// that read `/var/log/pods` find every container's log, in Docker's JSON lines (not the CRI
/// format). Docker's own rotated files are not linked.
pub(crate) fn link(target: &Path, link: &Path) -> std::io::Result<()> {
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(link) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    std::os::unix::fs::symlink(target, link)
}

impl DockerRuntime {
    /// The log of `container_id` as `options` ask.
    pub(crate) async fn container_logs(
        &self,
        container_id: &str,
        options: &LogOptions,
    ) -> RuntimeResult<LogStream> {
        let call = self.call("read the log of", "container", container_id);
        // The stream says nothing until the container writes: ask first whether it exists.
        self.docker
            .inspect_container(container_id, None)
            .await
            .map_err(|err| call.error(err))?;
        let query = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(options.follow)
            .since(since_seconds(options.since))
            .tail(
                &options
                    .tail_lines
                    .map_or("all".to_owned(), |n| n.to_string()),
            )
            .build();
        let frames = self
            .docker
            .logs(container_id, Some(query))
            .filter_map(|output| async move {
                match output {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok((StreamType::Stdout, message)))
                    }
                    Ok(LogOutput::StdErr { message }) => Some(Ok((StreamType::Stderr, message))),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(err) => Some(Err(err)),
                }
            });
        let endpoint = self.endpoint.clone();
        let id = container_id.to_owned();
        Ok(logs::from_frames(frames, options, move |err| {
            crate::error::Call::new(&endpoint, "read the log of", "container", &id).error(err)
        }))
    }
}

/// `since` in the whole seconds Docker takes, rounded down: the lines of the first second
/// are then left out by their own times.
fn since_seconds(since: Option<SystemTime>) -> i32 {
    since
        .and_then(|since| since.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            i32::try_from(since.as_secs()).unwrap_or(i32::MAX)
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn since_is_rounded_down_to_docker_seconds() {
        assert_eq!(since_seconds(None), 0);
        let since = UNIX_EPOCH + Duration::new(1_714_566_896, 999_999_999);
        assert_eq!(since_seconds(Some(since)), 1_714_566_896);
    }
}

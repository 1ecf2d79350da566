//! Container logs. With the agent's log rotation on, conmon's `k8s-file` (the CRI format) is
//! read by `staticpod_runtime::log_files`, as CRI's are: libpod's own follow skips the lines
//! of the rotated files it has not read yet. Without it, through libpod's
//! `/containers/{id}/logs`, stdout and stderr demultiplexed by podman-api, always asked with
//! timestamps so that partial lines are joined and `since` and `timestamps` read the same
//! on every backend.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use podman_api::conn::TtyChunk;
use podman_api::opts::ContainerLogsOpts;
use staticpod_runtime::log_files::{self, LogFileError, LogOwner};
use staticpod_runtime::logs::{self, LogOptions, LogStream, StreamType};
use staticpod_runtime::{RuntimeError, RuntimeResult, timestamp};
use tokio::sync::mpsc;

use crate::PodmanRuntime;
use crate::convert::InspectLogConfig;
use crate::error::{ApiError, Call};

/// Frames read ahead of the reader.
const READ_AHEAD: usize = 16;

impl PodmanRuntime {
    /// The log of `container_id` as `options` ask.
    pub(crate) async fn container_logs(
        &self,
        container_id: &str,
        options: &LogOptions,
    ) -> RuntimeResult<LogStream> {
        // The stream says nothing until the container writes: ask first whether it exists.
        let inspect = self.inspect(container_id).await.map_err(|err| {
            self.call("read the log of", "container", container_id)
                .error(err)
        })?;
        let file = inspect
            .host_config
            .and_then(|host| host.log_config)
            .and_then(InspectLogConfig::k8s_file)
            .filter(|_| self.log_rotation.is_some());
        if let Some(path) = file {
            let running = inspect.state.is_some_and(|state| state.running);
            let owner: Arc<dyn LogOwner> = Arc::new(self.clone());
            return log_files::read(owner, container_id, path, options, running).await;
        }
        let mut query = ContainerLogsOpts::builder()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(options.follow);
        if let Some(since) = options.since {
            query = query.since(timestamp::format_nanos(since));
        }
        if let Some(tail) = options.tail_lines {
            query = query.tail(tail.to_string());
        }
        let query = query.build();

        // podman-api's stream borrows its container handle: a task owns both, and ends when
        // the log does or the reader drops the stream.
        let (frames, mut received) = mpsc::channel(READ_AHEAD);
        let podman = self.podman.clone();
        let id = container_id.to_owned();
        tokio::spawn(async move {
            let container = podman.containers().get(&id);
            let mut chunks = container.logs(&query);
            loop {
                let chunk = tokio::select! {
                    () = frames.closed() => break,
                    chunk = chunks.next() => chunk,
                };
                let frame = match chunk {
                    None => break,
                    Some(Ok(TtyChunk::StdOut(text))) => Ok((StreamType::Stdout, Bytes::from(text))),
                    Some(Ok(TtyChunk::StdErr(text))) => Ok((StreamType::Stderr, Bytes::from(text))),
                    Some(Ok(TtyChunk::StdIn(_))) => continue,
                    Some(Err(err)) => Err(ApiError::from(err)),
                };
                if frames.send(frame).await.is_err() {
                    break;
                }
            }
        });
        let frames = futures_util::stream::poll_fn(move |cx| received.poll_recv(cx));
        let endpoint = self.endpoint.clone();
        let id = container_id.to_owned();
        Ok(logs::from_frames(frames, options, move |err| {
            Call::new(&endpoint, "read the log of", "container", &id).error(err)
        }))
    }
}

#[async_trait::async_trait]
impl LogOwner for PodmanRuntime {
    async fn still_running(&self, id: &str) -> RuntimeResult<bool> {
        match self.inspect(id).await {
            Ok(inspect) => Ok(inspect.state.is_some_and(|state| state.running)),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(self.call("read the log of", "container", id).error(err)),
        }
    }

    fn log_error(&self, id: &str, error: LogFileError) -> RuntimeError {
        self.call("read the log of", "container", id).failed(error)
    }
}

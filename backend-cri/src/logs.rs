//! Container logs on CRI: the file `ContainerStatus.log_path` names, read by
//! `staticpod_runtime::log_files` as the kubelet reads it; whether the container still runs
//! is its `ContainerStatus`.

use std::path::PathBuf;
use std::sync::Arc;

use staticpod_runtime::call_error::Call;
use staticpod_runtime::log_files::{self, LogFileError, LogOwner};
use staticpod_runtime::logs::{LogOptions, LogStream};
use staticpod_runtime::{RuntimeError, RuntimeResult};

use crate::api::v1;
use crate::error::{CallError, CriError};
use crate::{CriRuntime, container_subject};

impl CriRuntime {
    /// The log of `container_id` as `options` ask, read from the file the runtime writes.
    pub(crate) async fn container_logs(
        &self,
        container_id: &str,
        options: &LogOptions,
    ) -> RuntimeResult<LogStream> {
        let status = self.status_of(container_id).await?;
        if status.log_path.is_empty() {
            return Err(self.cri_log_error(container_id, CriError::NoLogPath));
        }
        let running = status.state == v1::ContainerState::ContainerRunning as i32;
        let owner: Arc<dyn LogOwner> = Arc::new(self.clone());
        log_files::read(
            owner,
            container_id,
            PathBuf::from(&status.log_path),
            options,
            running,
        )
        .await
    }

    /// The container's full status; `NotFound` when the runtime does not know it.
    pub(crate) async fn status_of(&self, container_id: &str) -> RuntimeResult<v1::ContainerStatus> {
        let request = v1::ContainerStatusRequest {
            container_id: container_id.to_owned(),
            verbose: false,
        };
        let response = self.runtime.clone().container_status(request).await;
        let status = response
            .map_err(|status| {
                self.error("ContainerStatus", container_subject(container_id), status)
            })?
            .into_inner()
            .status;
        status.ok_or_else(|| RuntimeError::NotFound {
            kind: "container",
            id: container_id.to_owned(),
        })
    }

    fn cri_log_error(&self, container_id: &str, reason: CriError) -> RuntimeError {
        Call::<CallError>::new(&self.endpoint, "read the log of", "container", container_id)
            .failed(reason)
    }
}

#[async_trait::async_trait]
impl LogOwner for CriRuntime {
    async fn still_running(&self, id: &str) -> RuntimeResult<bool> {
        match self.status_of(id).await {
            Ok(status) => Ok(status.state == v1::ContainerState::ContainerRunning as i32),
            Err(RuntimeError::NotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn log_error(&self, id: &str, error: LogFileError) -> RuntimeError {
        self.cri_log_error(id, CriError::LogFile(error))
    }
}

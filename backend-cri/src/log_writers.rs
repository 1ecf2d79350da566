//! What the log rotation (`staticpod_runtime::log_rotation`) asks of a CRI runtime: the
//! running containers we manage, their log paths (`ContainerStatus`), and
//! `ReopenContainerLog` after a rotation, each called on the rotation's own thread.

use std::path::PathBuf;

use staticpod_runtime::BoxError;
use staticpod_runtime::log_rotation::{LogWriters, ReopenError};
use tokio::runtime::Handle;
use tonic::transport::Channel;

use crate::api::v1;
use crate::api::v1::runtime_service_client::RuntimeServiceClient;
use crate::managed_selector;

/// The CRI calls of the log rotation, made from its thread on the async runtime that serves
/// the connection.
pub(crate) struct CriLogWriters {
    runtime: Handle,
    client: RuntimeServiceClient<Channel>,
}

impl CriLogWriters {
    /// Calls through `client`, from inside the async runtime serving it.
    pub(crate) fn new(client: RuntimeServiceClient<Channel>) -> Self {
        Self {
            runtime: Handle::current(),
            client,
        }
    }
}

impl LogWriters for CriLogWriters {
    fn running(&mut self) -> Result<Vec<String>, BoxError> {
        let request = v1::ListContainersRequest {
            filter: Some(v1::ContainerFilter {
                state: Some(v1::ContainerStateValue {
                    state: v1::ContainerState::ContainerRunning as i32,
                }),
                label_selector: managed_selector(),
                ..Default::default()
            }),
        };
        let listed = self
            .runtime
            .block_on(self.client.list_containers(request))?;
        Ok(listed
            .into_inner()
            .containers
            .into_iter()
            .map(|c| c.id)
            .collect())
    }

    fn log_path(&mut self, id: &str) -> Option<PathBuf> {
        let request = v1::ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: false,
        };
        let status = self.runtime.block_on(self.client.container_status(request));
        let status = status.ok()?.into_inner().status?;
        Some(PathBuf::from(status.log_path))
    }

    fn reopen(&mut self, id: &str) -> Result<(), ReopenError> {
        let request = v1::ReopenContainerLogRequest {
            container_id: id.to_owned(),
        };
        let reopened = self.client.reopen_container_log(request);
        match self.runtime.block_on(reopened) {
            Ok(_) => Ok(()),
            Err(status) if status.code() == tonic::Code::NotFound => Err(ReopenError::Gone),
            Err(status) => Err(ReopenError::Failed(Box::new(status))),
        }
    }
}

//! A task containerd keeps for a container its CRI reports exited: a `StartContainer` cut
//! short (the caller gone between the task's create and its start) leaves the task created
//! while CRI records the start as failed, and CRI's `RemoveContainer` then refuses the
//! container for good ("cannot delete running task"), as does `RemovePodSandbox`. Seen in
//! the fault matrix (RELIABILITY.md, fault 1 on containerd 1.6). CRI has no call that clears
//! it; containerd's own task service, on the same socket, does.

use tonic::transport::Channel;

use crate::api::containerd_tasks::tasks_client::TasksClient;
use crate::api::containerd_tasks::{DeleteTaskRequest, KillRequest};
use crate::events::CRI_NAMESPACE;

/// `SIGKILL`.
const KILL: u32 = 9;

/// Whether `status` is CRI's refusal to remove a container whose task containerd still has.
pub(crate) fn is_stale_task(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::FailedPrecondition
        && status.message().contains("cannot delete running task")
}

/// Kills every process of container `id`'s task and deletes the task, in CRI's containerd
/// namespace; a task or process already gone is no failure.
pub(crate) async fn clear(tasks: &TasksClient<Channel>, id: &str) -> Result<(), tonic::Status> {
    let kill = KillRequest {
        container_id: id.to_owned(),
        exec_id: String::new(),
        signal: KILL,
        all: true,
    };
    if let Err(status) = tasks.clone().kill(in_cri_namespace(kill)).await
        && !gone(&status)
    {
        return Err(status);
    }
    let delete = DeleteTaskRequest {
        container_id: id.to_owned(),
    };
    match tasks.clone().delete(in_cri_namespace(delete)).await {
        Err(status) if !gone(&status) => Err(status),
        _ => Ok(()),
    }
}

/// A task or process that is not there (`NotFound`), or has already exited
/// (`FailedPrecondition`); to a delete, `FailedPrecondition` is a task not stopped yet, and
/// the container's removal that follows fails and is tried again with the pod's work.
fn gone(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::NotFound | tonic::Code::FailedPrecondition
    )
}

/// `message` for containerd's namespace of CRI's objects, which containerd reads from the
/// request's metadata.
fn in_cri_namespace<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "containerd-namespace",
        tonic::metadata::MetadataValue::from_static(CRI_NAMESPACE),
    );
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cris_refusal_of_a_running_task_is_a_stale_task() {
        let refusal = tonic::Status::failed_precondition(
            "failed to delete containerd container \"4f90\": cannot delete running task 4f90: failed precondition",
        );
        assert!(is_stale_task(&refusal));
        assert!(!is_stale_task(&tonic::Status::failed_precondition(
            "container is running"
        )));
        assert!(!is_stale_task(&tonic::Status::unknown(
            "cannot delete running task 4f90"
        )));
    }

    #[test]
    fn requests_name_cris_containerd_namespace() {
        let request = in_cri_namespace(());
        assert_eq!(
            request.metadata().get("containerd-namespace").unwrap(),
            "k8s.io"
        );
    }
}

//! Translation of bollard's errors into the core's [`RuntimeError`] kinds, at the crate's
//! edge, so the reconciler can tell a missing container from a daemon that is down.

use bollard::errors::Error as BollardError;
use staticpod_runtime::RuntimeError;
use staticpod_runtime::call_error::{self, Classify, ErrorKind};

/// Failures this backend detects itself, kept as the `#[source]` of a [`RuntimeError`].
#[derive(Debug, thiserror::Error)]
pub enum DockerBackendError {
    /// The name we want is held by a container this agent did not create.
    #[error("container name {name} is taken by container {id}, which staticpod does not manage")]
    NameTakenByForeignContainer {
        /// The contested name.
        name: String,
        /// The id of the container holding it.
        id: String,
    },
}

/// A failed Docker call, as the `#[source]` of a [`RuntimeError`]: bollard's error,
/// classified for the core's [`Call`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DockerError(#[from] BollardError);

impl Classify for DockerError {
    /// 404 is [`ErrorKind::NotFound`], 400 and 409 are [`ErrorKind::Rejected`], a daemon that
    /// cannot be reached is [`ErrorKind::Unavailable`], anything else [`ErrorKind::Failed`].
    fn kind(&self) -> ErrorKind {
        if is_connection_error(&self.0) {
            return ErrorKind::Unavailable;
        }
        match status_code(&self.0) {
            Some(404) => ErrorKind::NotFound,
            Some(400 | 409) => ErrorKind::Rejected,
            _ => ErrorKind::Failed,
        }
    }
}

/// How one failed Docker call reads in the error the reconciler sees.
pub(crate) type Call<'a> = call_error::Call<'a, DockerError>;

/// Translates an error met while pulling `image`: the daemon being down stays
/// [`RuntimeError::Unavailable`] (every pod is affected alike), anything else is
/// [`RuntimeError::ImagePull`] for this pod.
pub(crate) fn pull_error(endpoint: &str, image: &str, err: BollardError) -> RuntimeError {
    call_error::pull_error(endpoint, image, DockerError(err))
}

/// The HTTP status Docker answered with, when it answered at all.
pub(crate) fn status_code(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// True for Docker's 404.
pub(crate) fn is_not_found(err: &BollardError) -> bool {
    status_code(err) == Some(404)
}

/// The sandbox whose IPC namespace a container could not join because it is running but
/// has no `/dev/shm` to share (Docker's "can't join IPC of container <id>: non-shareable
/// IPC"), as a pause container left by a daemon SIGKILLed amid its start is once the daemon
/// is back: no container of the pod can ever start in it.
pub(crate) fn unshareable_sandbox(err: &BollardError) -> Option<&str> {
    let BollardError::DockerResponseServerError { message, .. } = err else {
        return None;
    };
    let rest = message.strip_prefix("can't join IPC of container ")?;
    let (id, why) = rest.split_once(':')?;
    why.trim_start()
        .starts_with("non-shareable IPC")
        .then_some(id)
}

/// True when the request never got an answer: no socket, refused or broken connection,
/// timeout. These mean the daemon is down, not that this one request was wrong.
pub(crate) fn is_connection_error(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::SocketNotFoundError(_)
            | BollardError::HyperLegacyError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::IOError { .. }
            | BollardError::RequestTimeoutError
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        }
    }

    fn kind(err: BollardError) -> ErrorKind {
        DockerError(err).kind()
    }

    #[test]
    fn a_sandbox_without_shm_to_share_is_named() {
        let err = server(
            500,
            "can't join IPC of container f20564be: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
        );
        assert_eq!(unshareable_sandbox(&err), Some("f20564be"));
        let stopped = server(
            409,
            "can't join IPC of container f20564be: cannot join IPC of a non running container",
        );
        assert_eq!(
            unshareable_sandbox(&stopped),
            None,
            "a stopped sandbox already reads as not ready"
        );
    }

    #[test]
    fn status_codes_say_what_failed() {
        assert_eq!(
            kind(server(404, "No such container: abc123")),
            ErrorKind::NotFound
        );
        for code in [400, 409] {
            let conflict = server(code, "Conflict. The container name is in use");
            assert_eq!(kind(conflict), ErrorKind::Rejected, "{code}");
        }
        let programming = server(500, "driver failed programming external connectivity");
        assert_eq!(kind(programming), ErrorKind::Failed);
        let pull = BollardError::DockerStreamError {
            error: "manifest unknown".into(),
        };
        assert_eq!(kind(pull), ErrorKind::Failed, "an image pull's own failure");
    }

    #[test]
    fn no_answer_is_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        for err in [
            BollardError::SocketNotFoundError("/run/test.sock".into()),
            BollardError::RequestTimeoutError,
            BollardError::IOError { err: io },
        ] {
            assert_eq!(kind(err), ErrorKind::Unavailable);
        }
    }

    #[test]
    fn a_failed_call_reads_as_dockers_answer_to_the_operation() {
        let call = Call::new("unix:///run/test.sock", "start", "container", "abc123");
        let err = call.error(server(409, "Conflict. The container name is in use"));
        assert_eq!(
            err.to_string(),
            "start container abc123 was refused by the runtime"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("409"), "{source}");
        let err = pull_error("unix:///run/test.sock", "nginx:1.25", server(500, "boom"));
        assert!(
            matches!(&err, RuntimeError::ImagePull { image, .. } if image == "nginx:1.25"),
            "{err:?}"
        );
    }
}

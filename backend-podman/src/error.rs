//! Translation of Podman's answers into the core's [`RuntimeError`] kinds, at the crate's
//! edge, whichever client made the call (podman-api or our direct [`LibpodError`] calls), so
//! the reconciler can tell a missing container from a service that is down.

use std::time::Duration;

use staticpod_runtime::RuntimeError;
use staticpod_runtime::call_error::{self, Classify, ErrorKind};

pub use crate::libpod::LibpodError;

/// Failures this backend detects itself, kept as the `#[source]` of a [`RuntimeError`].
#[derive(Debug, thiserror::Error)]
pub enum PodmanBackendError {
    /// Podman's pull stream reported an error.
    #[error("Podman could not pull {image}: {message}")]
    PullFailed {
        /// The image reference.
        image: String,
        /// Podman's message.
        message: String,
    },
    /// The service speaks a libpod API older than the one this backend is written for.
    #[error("the service speaks libpod API {found}; staticpod needs 4.0 or newer (Podman 4)")]
    UnsupportedApiVersion {
        /// The version the service reported.
        found: String,
    },
    /// The name we want is held by an object this agent did not create.
    #[error("{kind} name {name} is taken by {id}, which staticpod does not manage")]
    NameTakenByForeignObject {
        /// "pod" or "container".
        kind: &'static str,
        /// The contested name.
        name: String,
        /// The id of the object holding it.
        id: String,
    },
}

/// What went wrong talking to Podman, whichever client made the call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A call through podman-api.
    #[error(transparent)]
    PodmanApi(#[from] podman_api::Error),
    /// A direct libpod call.
    #[error(transparent)]
    Libpod(#[from] LibpodError),
    /// No answer in time.
    #[error("Podman gave no answer within {0:?}")]
    TimedOut(Duration),
}

impl ApiError {
    /// The HTTP status libpod answered with, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::PodmanApi(podman_api::Error::Fault { code, .. })
            | ApiError::PodmanApi(podman_api::Error::Error(podman_api::conn::Error::Fault {
                code,
                ..
            })) => Some(code.as_u16()),
            ApiError::Libpod(LibpodError::Status { status, .. }) => Some(*status),
            _ => None,
        }
    }

    /// libpod's message with an error status, empty otherwise.
    pub fn message(&self) -> &str {
        match self {
            ApiError::PodmanApi(podman_api::Error::Fault { message, .. })
            | ApiError::PodmanApi(podman_api::Error::Error(podman_api::conn::Error::Fault {
                message,
                ..
            }))
            | ApiError::Libpod(LibpodError::Status { message, .. }) => message,
            _ => "",
        }
    }

    /// True when the request never got an answer: no socket, refused or broken connection,
    /// timeout. These mean the service is down, not that this one request was wrong.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ApiError::PodmanApi(err) => matches!(
                err,
                podman_api::Error::IO(_)
                    | podman_api::Error::Error(
                        podman_api::conn::Error::IO(_) | podman_api::conn::Error::Hyper(_)
                    )
            ),
            ApiError::Libpod(err) => {
                matches!(err, LibpodError::Connect { .. } | LibpodError::Http(_))
            }
            ApiError::TimedOut(_) => true,
        }
    }

    /// Podman's 404, or the 500 it answers when the object goes away during the call
    /// ("container ... does not exist in database: no such container").
    pub fn is_not_found(&self) -> bool {
        match self.status() {
            Some(404) => true,
            Some(500) => {
                let message = self.message();
                message.ends_with("no such container") || message.ends_with("no such pod")
            }
            _ => false,
        }
    }

    /// Podman's 304: already started or already stopped.
    pub fn is_not_modified(&self) -> bool {
        self.status() == Some(304)
    }

    /// The name asked for is held by another pod or container: 409 for pods, and a 500
    /// saying so for containers.
    pub fn is_name_in_use(&self) -> bool {
        self.status() == Some(409)
            || (self.status() == Some(500) && self.message().contains("already in use"))
    }
}

impl Classify for ApiError {
    /// 404 (or an object gone during the call) is [`ErrorKind::NotFound`]; 400, 409 (a
    /// conflict: name in use, hostPort taken) and a name in use are [`ErrorKind::Rejected`]; a
    /// service that cannot be reached is [`ErrorKind::Unavailable`]; anything else
    /// [`ErrorKind::Failed`].
    fn kind(&self) -> ErrorKind {
        if self.is_unreachable() {
            ErrorKind::Unavailable
        } else if self.is_not_found() {
            ErrorKind::NotFound
        } else if matches!(self.status(), Some(400 | 409)) || self.is_name_in_use() {
            ErrorKind::Rejected
        } else {
            ErrorKind::Failed
        }
    }
}

/// How one failed Podman call reads in the error the reconciler sees, whichever client made
/// it.
pub(crate) type Call<'a> = call_error::Call<'a, ApiError>;

/// Translates an error met while checking for or pulling `image`: the service being down
/// stays [`RuntimeError::Unavailable`] (every pod is affected alike), anything else is
/// [`RuntimeError::ImagePull`] for this pod.
pub(crate) fn pull_error(endpoint: &str, image: &str, err: impl Into<ApiError>) -> RuntimeError {
    call_error::pull_error(endpoint, image, err.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> ApiError {
        ApiError::Libpod(LibpodError::Status {
            status,
            message: message.to_owned(),
        })
    }

    fn fault(code: u16, message: &str) -> ApiError {
        ApiError::PodmanApi(podman_api::Error::Fault {
            code: code.try_into().unwrap(),
            message: message.to_owned(),
        })
    }

    #[test]
    fn not_found_from_either_client_or_an_object_removed_during_the_call() {
        for err in [
            status(
                404,
                "no container with name or ID \"abc123\" found: no such container",
            ),
            fault(404, "no such container"),
            status(
                500,
                "container abc123 does not exist in database: no such container",
            ),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        }
    }

    #[test]
    fn names_in_use_and_bad_requests_are_rejected() {
        for err in [
            fault(
                409,
                "adding pod to state: name \"p\" is in use: pod already exists",
            ),
            status(
                500,
                "creating container storage: the container name \"c\" is already in use by 60e5",
            ),
            status(400, "invalid port mapping"),
        ] {
            assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
        }
    }

    #[test]
    fn other_server_errors_are_failed() {
        for err in [
            status(
                500,
                "runc: runc create failed: unable to start container process",
            ),
            fault(500, "initializing source docker://nginx:1.25"),
        ] {
            assert_eq!(err.kind(), ErrorKind::Failed, "{err}");
        }
    }

    #[test]
    fn connection_failures_and_timeouts_are_unavailable() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        for err in [
            ApiError::Libpod(LibpodError::Connect {
                path: "/run/test.sock".into(),
                source: refused(),
            }),
            ApiError::PodmanApi(podman_api::Error::Error(podman_api::conn::Error::IO(
                refused(),
            ))),
            ApiError::TimedOut(Duration::from_secs(120)),
        ] {
            assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        }
    }

    #[test]
    fn a_failed_call_reads_as_podmans_answer_to_the_operation() {
        let call = Call::new("unix:///run/test.sock", "start", "container", "abc123");
        let err = call.error(status(500, "runc: runc create failed"));
        assert_eq!(err.to_string(), "start container abc123 failed");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("runc create failed"), "{source}");
        let err = pull_error(
            "unix:///run/test.sock",
            "nginx:1.25",
            fault(500, "initializing source docker://nginx:1.25"),
        );
        assert!(
            matches!(&err, RuntimeError::ImagePull { image, .. } if image == "nginx:1.25"),
            "{err:?}"
        );
    }
}

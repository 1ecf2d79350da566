//! Translation of failed CRI calls into the core's [`RuntimeError`] kinds, at the crate edge,
//! so the reconciler can tell a missing container from a daemon that is down.

use staticpod_runtime::RuntimeError;
use staticpod_runtime::call_error::{Call, Classify, ErrorKind};
use tonic::{Code, Status};

/// A CRI call that failed, as the runtime (or the transport under it) answered. It is the
/// `source` of the [`RuntimeError`] the backend returns.
#[derive(Debug, thiserror::Error)]
#[error("{method} {answer}")]
pub struct CallError {
    /// The CRI method, e.g. `RunPodSandbox`.
    pub method: &'static str,
    /// The gRPC status code.
    pub code: Code,
    /// The runtime's message.
    pub message: String,
    /// `answered CODE: MESSAGE`, or `got no answer` when the transport failed.
    answer: String,
    /// The local failure under a status tonic made up itself (connection refused, socket
    /// missing, HTTP/2 error); `None` when the runtime itself answered.
    #[source]
    transport: Option<TransportCause>,
}

impl CallError {
    /// Wraps a status returned by a call to `method`.
    pub(crate) fn new(method: &'static str, status: Status) -> Self {
        let transport = std::error::Error::source(&status).map(TransportCause::new);
        let answer = match transport {
            // The status message only repeats the cause.
            Some(_) => "got no answer".to_owned(),
            None => format!("answered {:?}: {}", status.code(), status.message()),
        };
        CallError {
            method,
            code: status.code(),
            message: status.message().to_owned(),
            answer,
            transport,
        }
    }

    /// True when the call never got a real answer from the runtime: tonic built the status
    /// from a local transport error.
    pub fn is_transport(&self) -> bool {
        self.transport.is_some()
    }
}

/// The error chain tonic keeps behind a status it built from a transport failure, flattened
/// into one line. A status only lends its source out, and the chain hyper builds repeats the
/// io error two or three times over, so the distinct messages are kept, in order.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportCause(String);

impl TransportCause {
    fn new(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut parts: Vec<String> = Vec::new();
        let mut next = Some(cause);
        while let Some(err) = next {
            let text = err.to_string();
            if !parts.contains(&text) {
                parts.push(text);
            }
            next = err.source();
        }
        TransportCause(parts.join(": "))
    }
}

/// containerd's answer when a sandbox or container name is taken: code `Unknown`, so only
/// the message tells (`failed to reserve container name "...": name "..." is reserved for
/// "<id>"`, the same wording from 1.6 to 2.x).
const NAME_RESERVED: &str = "is reserved for";

/// Classifies a failed call. A status tonic made up from a local error may carry any code (a
/// missing socket file becomes `NotFound` through the io error kind), yet it always means the
/// runtime was not reached.
pub(crate) fn classify(call: &CallError) -> ErrorKind {
    if call.is_transport() {
        return ErrorKind::Unavailable;
    }
    match call.code {
        Code::NotFound => ErrorKind::NotFound,
        Code::InvalidArgument | Code::AlreadyExists => ErrorKind::Rejected,
        Code::Unavailable => ErrorKind::Unavailable,
        Code::Unknown if call.message.contains(NAME_RESERVED) => ErrorKind::Rejected,
        _ => ErrorKind::Failed,
    }
}

impl Classify for CallError {
    fn kind(&self) -> ErrorKind {
        classify(self)
    }
}

/// The object a call was about, for error messages and `NotFound`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// "container", "sandbox" or "image".
    pub kind: &'static str,
    /// Its id, name or reference.
    pub id: &'a str,
}

/// Turns a failed call into the core's error kind.
pub(crate) fn runtime_error(
    endpoint: &str,
    method: &'static str,
    subject: Subject<'_>,
    status: Status,
) -> RuntimeError {
    call_error(endpoint, subject, CallError::new(method, status))
}

/// Turns a failed call, already wrapped, into the core's error kind.
pub(crate) fn call_error(endpoint: &str, subject: Subject<'_>, call: CallError) -> RuntimeError {
    if classify(&call) == ErrorKind::NotFound {
        // NotFound carries no source: keep the runtime's words in the debug log.
        tracing::debug!(method = call.method, message = %call.message, "not found");
    }
    Call::<CallError>::new(endpoint, call.method, subject.kind, subject.id).error(call)
}

/// `Unavailable` naming the endpoint, with `source` as the reason.
pub(crate) fn unavailable(
    endpoint: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> RuntimeError {
    RuntimeError::Unavailable {
        endpoint: endpoint.to_owned(),
        source: Box::new(source),
    }
}

/// Reasons of our own for an error, where no CRI call failed.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The runtime did not answer `Version` in time.
    #[error("no answer to Version within {seconds} s")]
    VersionTimeout {
        /// How long we waited.
        seconds: u64,
    },
    /// The endpoint answers gRPC but does not serve CRI v1.
    #[error("the endpoint does not serve CRI v1 (is the CRI plugin enabled?)")]
    NotCri(#[source] CallError),
    /// The runtime reports no log file for the container.
    #[error("the runtime keeps no log file for this container")]
    NoLogPath,
    /// The container's log file could not be read, or followed.
    #[error(transparent)]
    LogFile(staticpod_runtime::log_files::LogFileError),
}

/// True for the answer of a server that does not know the method or service.
pub(crate) fn is_unimplemented(status: &Status) -> bool {
    status.code() == Code::Unimplemented && std::error::Error::source(status).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_map_to_core_kinds() {
        let kind = |code, message: &str| classify(&CallError::new("X", Status::new(code, message)));
        assert_eq!(kind(Code::NotFound, "not found"), ErrorKind::NotFound);
        assert_eq!(kind(Code::InvalidArgument, "bad"), ErrorKind::Rejected);
        assert_eq!(kind(Code::AlreadyExists, "exists"), ErrorKind::Rejected);
        assert_eq!(
            kind(Code::Unavailable, "shutting down"),
            ErrorKind::Unavailable
        );
        assert_eq!(kind(Code::Unknown, "runc create failed"), ErrorKind::Failed);
        assert_eq!(kind(Code::Internal, "boom"), ErrorKind::Failed);
        assert_eq!(kind(Code::DeadlineExceeded, "slow"), ErrorKind::Failed);
    }

    #[test]
    fn a_taken_name_is_a_conflict() {
        let call = CallError::new(
            "CreateContainer",
            Status::unknown(
                "failed to reserve container name \"web_p_default_u_0\": name \"web_p_default_u_0\" \
                 is reserved for \"bd15884cc39b\"",
            ),
        );
        assert_eq!(classify(&call), ErrorKind::Rejected);
    }

    #[test]
    fn a_status_made_from_a_local_error_reads_as_no_answer() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let call = CallError::new("Version", Status::from_error(Box::new(io)));
        assert!(call.is_transport());
        assert_eq!(call.to_string(), "Version got no answer");
        let cause = std::error::Error::source(&call).unwrap().to_string();
        assert_eq!(cause, "No such file or directory");
        assert_eq!(classify(&call), ErrorKind::Unavailable);
    }

    #[test]
    fn a_status_from_the_runtime_reads_as_its_answer() {
        let call = CallError::new("StartContainer", Status::internal("runc create failed"));
        assert!(!call.is_transport());
        assert_eq!(
            call.to_string(),
            "StartContainer answered Internal: runc create failed"
        );
        assert!(std::error::Error::source(&call).is_none());
    }

    #[test]
    fn not_found_from_the_runtime_names_the_object() {
        let err = runtime_error(
            "unix:///run/containerd/containerd.sock",
            "StopContainer",
            Subject {
                kind: "container",
                id: "abc",
            },
            Status::not_found("an error occurred when try to find container \"abc\": not found"),
        );
        assert!(matches!(err, RuntimeError::NotFound { kind: "container", ref id } if id == "abc"));
    }

    #[test]
    fn rejection_keeps_the_runtime_message_in_the_source() {
        let err = runtime_error(
            "unix:///x.sock",
            "CreateContainer",
            Subject {
                kind: "container",
                id: "web",
            },
            Status::already_exists("name \"web\" is reserved"),
        );
        assert_eq!(
            err.to_string(),
            "CreateContainer container web was refused by the runtime"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(
            source,
            "CreateContainer answered AlreadyExists: name \"web\" is reserved"
        );
    }

    #[test]
    fn unavailable_names_the_endpoint() {
        let err = runtime_error(
            "unix:///x.sock",
            "Version",
            Subject {
                kind: "runtime",
                id: "",
            },
            Status::unavailable("connection refused"),
        );
        assert!(err.is_unavailable());
        assert_eq!(
            err.to_string(),
            "container runtime at unix:///x.sock is unavailable"
        );
    }
}

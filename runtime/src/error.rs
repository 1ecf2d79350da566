//! The error kinds every backend translates its failures into, at its edge: a missing
//! object is not a daemon that is down.

/// A boxed error kept as the `#[source]` of a [`RuntimeError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors a backend reports, translated at the backend's edge into kinds the reconciler can
/// act on: a missing object is not a daemon that is down.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The object (container, sandbox, image) does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What was looked for: "container", "sandbox", "image".
        kind: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The daemon cannot be reached or did not answer.
    #[error("container runtime at {endpoint} is unavailable")]
    Unavailable {
        /// The endpoint we tried.
        endpoint: String,
        /// What went wrong on the way.
        #[source]
        source: BoxError,
    },
    /// An image is not present and could not be pulled.
    #[error("image {image} could not be pulled")]
    ImagePull {
        /// The image reference from the manifest.
        image: String,
        /// The runtime's answer.
        #[source]
        source: BoxError,
    },
    /// The runtime refused the request as invalid or conflicting (name in use, bad mount, ...).
    #[error("{operation} was refused by the runtime")]
    Rejected {
        /// The operation, e.g. "create container k8s_web_...".
        operation: String,
        /// The runtime's answer.
        #[source]
        source: BoxError,
    },
    /// Any other failure of one operation.
    #[error("{operation} failed")]
    Failed {
        /// The operation, e.g. "start container 3f2a...".
        operation: String,
        /// The runtime's answer.
        #[source]
        source: BoxError,
    },
}

impl RuntimeError {
    /// True when the daemon itself is unreachable, so every pod is affected alike.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RuntimeError::Unavailable { .. })
    }

    /// The refusal of sandbox `name`, whose pod sets `hostUsers: false`, by a backend that
    /// cannot give it a user namespace of its own (`why`).
    pub fn no_user_namespace(name: &str, why: &str) -> Self {
        RuntimeError::Rejected {
            operation: format!("run sandbox {name}"),
            source: format!(
                "hostUsers: false asks for a user namespace of the pod's own, which {why}; the pod is not run in the node's user namespace instead"
            )
            .into(),
        }
    }
}

/// Result alias for runtime calls.
pub type RuntimeResult<T> = Result<T, RuntimeError>;

//! How a failed call to a runtime becomes a [`RuntimeError`]: each backend says what its
//! client's errors mean ([`Classify`]); the error the reconciler sees, naming the operation,
//! the object or the endpoint, is built here the same way for every backend.

use std::fmt;
use std::marker::PhantomData;

use crate::RuntimeError;

/// What a failed call means to the reconciler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object is not there: [`RuntimeError::NotFound`].
    NotFound,
    /// The request was invalid or conflicting: [`RuntimeError::Rejected`].
    Rejected,
    /// The runtime was not reached: [`RuntimeError::Unavailable`].
    Unavailable,
    /// Anything else: [`RuntimeError::Failed`].
    Failed,
}

/// A client's error that can say what it means to the reconciler.
pub trait Classify: std::error::Error + Send + Sync + 'static {
    /// The kind of this failure.
    fn kind(&self) -> ErrorKind;
}

/// One call to a runtime through a client whose errors are `E`, as a failure of it reads in
/// the error the reconciler sees.
pub struct Call<'a, E> {
    /// The endpoint, named by [`RuntimeError::Unavailable`].
    pub endpoint: &'a str,
    /// The verb or method: "create", "start", `RunPodSandbox`, ...
    pub verb: &'static str,
    /// The kind of object: "sandbox", "container", "image".
    pub kind: &'static str,
    /// The object's id or name.
    pub id: &'a str,
    client: PhantomData<fn() -> E>,
}

impl<'a, E> Call<'a, E> {
    /// The call `verb` on the `kind` object `id` at `endpoint`.
    pub const fn new(
        endpoint: &'a str,
        verb: &'static str,
        kind: &'static str,
        id: &'a str,
    ) -> Self {
        Call {
            endpoint,
            verb,
            kind,
            id,
            client: PhantomData,
        }
    }

    /// `verb kind id`, as [`RuntimeError::Rejected`] and [`RuntimeError::Failed`] name it.
    pub fn operation(&self) -> String {
        format!("{} {} {}", self.verb, self.kind, self.id)
    }

    /// Translates `err` by its [`ErrorKind`]: `NotFound` names the object (and drops `err`,
    /// which says no more), the others keep `err` as their source.
    pub fn error(&self, err: impl Into<E>) -> RuntimeError
    where
        E: Classify,
    {
        let err = err.into();
        match err.kind() {
            ErrorKind::NotFound => RuntimeError::NotFound {
                kind: self.kind,
                id: self.id.to_owned(),
            },
            ErrorKind::Rejected => self.rejected(err),
            ErrorKind::Unavailable => RuntimeError::Unavailable {
                endpoint: self.endpoint.to_owned(),
                source: Box::new(err),
            },
            ErrorKind::Failed => self.failed(err),
        }
    }

    /// A refusal, found by the backend itself or by the runtime.
    pub fn rejected(&self, source: impl std::error::Error + Send + Sync + 'static) -> RuntimeError {
        RuntimeError::Rejected {
            operation: self.operation(),
            source: Box::new(source),
        }
    }

    /// A failure, found by the backend itself or by the runtime.
    pub fn failed(&self, source: impl std::error::Error + Send + Sync + 'static) -> RuntimeError {
        RuntimeError::Failed {
            operation: self.operation(),
            source: Box::new(source),
        }
    }
}

impl<E> Clone for Call<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Call<'_, E> {}

impl<E> fmt::Debug for Call<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("endpoint", &self.endpoint)
            .field("verb", &self.verb)
            .field("kind", &self.kind)
            .field("id", &self.id)
            .finish()
    }
}

/// Translates an error met while checking for or pulling `image`: a runtime that was not
/// reached stays [`RuntimeError::Unavailable`] (every pod is affected alike), anything else
/// is [`RuntimeError::ImagePull`] for this pod.
pub fn pull_error(endpoint: &str, image: &str, err: impl Classify) -> RuntimeError {
    if err.kind() == ErrorKind::Unavailable {
        RuntimeError::Unavailable {
            endpoint: endpoint.to_owned(),
            source: Box::new(err),
        }
    } else {
        RuntimeError::ImagePull {
            image: image.to_owned(),
            source: Box::new(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the runtime said {0:?}")]
    struct Answer(ErrorKind);

    impl Classify for Answer {
        fn kind(&self) -> ErrorKind {
            self.0
        }
    }

    const CALL: Call<'static, Answer> =
        Call::new("unix:///run/test.sock", "start", "container", "abc123");

    #[test]
    fn each_kind_becomes_its_runtime_error() {
        let err = CALL.error(Answer(ErrorKind::NotFound));
        assert!(
            matches!(&err, RuntimeError::NotFound { kind: "container", id } if id == "abc123"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "container abc123 not found");

        let err = CALL.error(Answer(ErrorKind::Rejected));
        assert_eq!(
            err.to_string(),
            "start container abc123 was refused by the runtime"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(source, "the runtime said Rejected");

        let err = CALL.error(Answer(ErrorKind::Unavailable));
        assert!(err.is_unavailable(), "{err:?}");
        assert_eq!(
            err.to_string(),
            "container runtime at unix:///run/test.sock is unavailable"
        );

        let err = CALL.error(Answer(ErrorKind::Failed));
        assert_eq!(err.to_string(), "start container abc123 failed");
    }

    #[test]
    fn pull_errors_are_image_pull_unless_the_runtime_is_down() {
        for kind in [ErrorKind::NotFound, ErrorKind::Rejected, ErrorKind::Failed] {
            let err = pull_error("unix:///run/test.sock", "nginx:1.25", Answer(kind));
            assert!(
                matches!(&err, RuntimeError::ImagePull { image, .. } if image == "nginx:1.25"),
                "{err:?}"
            );
        }
        let err = pull_error(
            "unix:///run/test.sock",
            "nginx:1.25",
            Answer(ErrorKind::Unavailable),
        );
        assert!(err.is_unavailable(), "{err:?}");
    }
}

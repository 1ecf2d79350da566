//! Every error the node's API answers, as the v1 `Status` kube-apiserver sends, so kubectl
//! prints it as it prints the API server's: `Error from server (NotFound): pods "x" not found`.

use serde::Serialize;

use crate::selector::SelectorError;

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No object of that name.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// `pods`, `events`, `nodes`.
        resource: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A path the node does not serve.
    #[error("the server could not find the requested resource ({path})")]
    NoRoute {
        /// The path asked for.
        path: String,
    },
    /// The pod exists but cannot be changed through the API.
    #[error("{resource} \"{name}\" is forbidden: {why}")]
    Forbidden {
        /// `pods`.
        resource: &'static str,
        /// The pod's name.
        name: String,
        /// What to do instead.
        why: String,
    },
    /// A verb the node does not serve on that resource.
    #[error("{verb} is not supported on {resource}: {why}")]
    MethodNotAllowed {
        /// `create`, `update`, `patch`, `exec`, ...
        verb: String,
        /// `pods`, `pods/exec`, ...
        resource: String,
        /// Why, and what to use instead.
        why: &'static str,
    },
    /// A label or field selector that does not parse, or names a field that cannot be
    /// selected on.
    #[error("{error}")]
    Selector {
        /// What is wrong with it.
        #[from]
        error: SelectorError,
    },
    /// A query parameter with a value that cannot be read.
    #[error("invalid value for {parameter}: {value:?} ({expected})")]
    BadParameter {
        /// `resourceVersion`, `timeoutSeconds`, `includeObject`.
        parameter: &'static str,
        /// What was sent.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A watch from a resource version whose changes are no longer kept: list again.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The version asked for.
        requested: u64,
        /// The oldest version a watch can start from.
        oldest: u64,
    },
    /// A watch from a version this node never gave: its agent restarted since.
    #[error(
        "resource version {requested} is newer than this node's latest ({latest}): the agent restarted since; list again"
    )]
    UnknownVersion {
        /// The version asked for.
        requested: u64,
        /// The latest version.
        latest: u64,
    },
    /// More connections or watches than the node accepts at once.
    #[error("too many {what} at once (at most {limit}): try again later")]
    TooManyRequests {
        /// `connections`, `watches`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A request body over the limit.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A request that cannot be answered as it stands, as kube-apiserver's or the kubelet's
    /// message says it (a log of a container that is waiting to start, ...).
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// The runtime failed to answer (a container's log could not be opened).
    #[error("{message}")]
    Runtime {
        /// The runtime's error, with its causes.
        message: String,
    },
}

/// `Status.details`: which object an error is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Details {
    /// The object's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The resource (`pods`).
    pub kind: String,
}

/// A v1 `Status` with `status: Failure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `Status`.
    pub kind: &'static str,
    /// `v1`.
    pub api_version: &'static str,
    /// Always empty.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `Failure`.
    pub status: &'static str,
    /// In words.
    pub message: String,
    /// kube-apiserver's `StatusReason` (`NotFound`, `Forbidden`, ...).
    pub reason: &'static str,
    /// The object it is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
    /// The HTTP status code.
    pub code: u16,
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute { .. } => 404,
            ApiError::Forbidden { .. } => 403,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Selector { .. }
            | ApiError::BadParameter { .. }
            | ApiError::BadRequest { .. } => 400,
            ApiError::Expired { .. } | ApiError::UnknownVersion { .. } => 410,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::TooLarge { .. } => 413,
            ApiError::Runtime { .. } => 500,
        }
    }

    /// kube-apiserver's reason word for it.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute { .. } => "NotFound",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::Selector { .. }
            | ApiError::BadParameter { .. }
            | ApiError::BadRequest { .. } => "BadRequest",
            ApiError::Expired { .. } | ApiError::UnknownVersion { .. } => "Expired",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Runtime { .. } => "InternalError",
        }
    }

    /// The v1 `Status` that says it.
    pub fn status(&self) -> Status {
        let details = match self {
            ApiError::NotFound { resource, name } | ApiError::Forbidden { resource, name, .. } => {
                Some(Details {
                    name: name.clone(),
                    kind: resource.to_string(),
                })
            }
            _ => None,
        };
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: serde_json::Map::new(),
            status: "Failure",
            message: self.to_string(),
            reason: self.reason(),
            details,
            code: self.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn a_missing_pod_reads_as_the_api_servers_not_found() {
        let status = ApiError::NotFound {
            resource: "pods",
            name: "x".into(),
        }
        .status();
        expect![[r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#]]
        .assert_eq(&serde_json::to_string(&status).unwrap());
    }

    #[test]
    fn errors_say_what_to_do() {
        let errors = [
            ApiError::Forbidden {
                resource: "pods",
                name: "web-node0".into(),
                why: "static pods are removed by removing their manifest file: /m/web.yaml".into(),
            },
            ApiError::MethodNotAllowed {
                verb: "create".into(),
                resource: "pods".into(),
                why: "the node's API is read-only",
            },
            ApiError::Expired {
                requested: 3,
                oldest: 10,
            },
            ApiError::TooManyRequests {
                what: "watches",
                limit: 16,
            },
        ];
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}: {e}", e.code(), e.reason()))
            .collect();
        expect![[r#"
            403 Forbidden: pods "web-node0" is forbidden: static pods are removed by removing their manifest file: /m/web.yaml
            405 MethodNotAllowed: create is not supported on pods: the node's API is read-only
            410 Expired: too old resource version: 3 (10)
            429 TooManyRequests: too many watches at once (at most 16): try again later"#]]
        .assert_eq(&lines.join("\n"));
    }
}

//! Which path is which: the read-only port's own endpoints (`/pods`, `/manifests`,
//! `/healthz`, `/metrics`, `/metrics/probes`), discovery, and the core group's resource paths
//! (`/api/v1/namespaces/{ns}/pods/{name}/{subresource}`).

use crate::error::ApiError;

/// A resource the node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pods`.
    Pods,
    /// `events`.
    Events,
    /// `nodes`.
    Nodes,
}

impl Kind {
    fn parse(plural: &str) -> Option<Kind> {
        match plural {
            "pods" => Some(Kind::Pods),
            "events" => Some(Kind::Events),
            "nodes" => Some(Kind::Nodes),
            _ => None,
        }
    }

    /// `pods`, `events`, `nodes`.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pods => "pods",
            Kind::Events => "events",
            Kind::Nodes => "nodes",
        }
    }

    fn namespaced(self) -> bool {
        self != Kind::Nodes
    }
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/pods`: the kubelet's read-only `PodList`.
    KubeletPods,
    /// `/manifests`: each manifest's report.
    Manifests,
    /// `/healthz`.
    Healthz,
    /// `/metrics`: the kubelet's metrics and the node's own, as OpenMetrics text.
    Metrics,
    /// `/metrics/probes`: `prober_probe_total`.
    ProbeMetrics,
    /// `/version`.
    Version,
    /// `/api`.
    Api,
    /// `/apis`.
    Apis,
    /// `/api/v1`.
    ApiV1,
    /// A list: every object, or those of one namespace.
    Collection {
        /// Of what.
        kind: Kind,
        /// `None` for every namespace.
        namespace: Option<&'a str>,
    },
    /// One object.
    Object {
        /// Of what.
        kind: Kind,
        /// Its namespace (`None` for the node).
        namespace: Option<&'a str>,
        /// Its name.
        name: &'a str,
    },
    /// A subresource of one object (`pods/x/log`, `pods/x/exec`).
    Subresource {
        /// Of what.
        kind: Kind,
        /// Its namespace (`None` for the node).
        namespace: Option<&'a str>,
        /// Its name.
        name: &'a str,
        /// `log`, `exec`, `attach`, `portforward`, `status`, ...
        subresource: &'a str,
    },
}

/// The route of a resource path below `/api/v1` (or below a namespace of it).
fn resource<'a>(namespace: Option<&'a str>, rest: &[&'a str]) -> Option<Route<'a>> {
    let (plural, rest) = rest.split_first()?;
    let kind = Kind::parse(plural)?;
    // Namespaced kinds are listed across namespaces at `/api/v1/pods`, but an object of
    // theirs is always below its namespace; the node is never below one.
    let fits = match namespace {
        Some(_) => kind.namespaced(),
        None => !kind.namespaced() || rest.is_empty(),
    };
    if !fits {
        return None;
    }
    match *rest {
        [] => Some(Route::Collection { kind, namespace }),
        [name] => Some(Route::Object {
            kind,
            namespace,
            name,
        }),
        [name, subresource] => Some(Route::Subresource {
            kind,
            namespace,
            name,
            subresource,
        }),
        _ => None,
    }
}

/// The route of `path`.
pub fn route(path: &str) -> Result<Route<'_>, ApiError> {
    let no_route = || ApiError::NoRoute {
        path: path.to_string(),
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let route = match segments.as_slice() {
        ["pods"] => Some(Route::KubeletPods),
        ["manifests"] => Some(Route::Manifests),
        ["healthz"] => Some(Route::Healthz),
        ["metrics"] => Some(Route::Metrics),
        ["metrics", "probes"] => Some(Route::ProbeMetrics),
        ["version"] => Some(Route::Version),
        ["api"] => Some(Route::Api),
        ["apis"] => Some(Route::Apis),
        ["api", "v1"] => Some(Route::ApiV1),
        ["api", "v1", "namespaces", namespace, rest @ ..] if !rest.is_empty() => {
            resource(Some(namespace), rest)
        }
        ["api", "v1", rest @ ..] => resource(None, rest),
        _ => None,
    };
    route.ok_or_else(no_route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_what_kubectl_asks_for() {
        let cases = [
            ("/pods", Some(Route::KubeletPods)),
            ("/pods/", Some(Route::KubeletPods)),
            (
                "/api/v1/pods",
                Some(Route::Collection {
                    kind: Kind::Pods,
                    namespace: None,
                }),
            ),
            (
                "/api/v1/namespaces/default/pods",
                Some(Route::Collection {
                    kind: Kind::Pods,
                    namespace: Some("default"),
                }),
            ),
            (
                "/api/v1/namespaces/default/pods/web-node0",
                Some(Route::Object {
                    kind: Kind::Pods,
                    namespace: Some("default"),
                    name: "web-node0",
                }),
            ),
            (
                "/api/v1/namespaces/default/pods/web-node0/log",
                Some(Route::Subresource {
                    kind: Kind::Pods,
                    namespace: Some("default"),
                    name: "web-node0",
                    subresource: "log",
                }),
            ),
            (
                "/api/v1/events",
                Some(Route::Collection {
                    kind: Kind::Events,
                    namespace: None,
                }),
            ),
            (
                "/api/v1/nodes/node0",
                Some(Route::Object {
                    kind: Kind::Nodes,
                    namespace: None,
                    name: "node0",
                }),
            ),
            ("/api/v1/pods/web-node0", None),
            ("/api/v1/namespaces/default/nodes", None),
            ("/api/v1/namespaces/default", None),
            ("/api/v1/secrets", None),
            ("/apis/apps/v1", None),
            ("/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(route(path).ok(), expected, "{path}");
        }
    }
}

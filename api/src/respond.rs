//! From one request to its answer, without I/O: the node's API over the agent's latest
//! status and events. Lists, objects and Tables are answered here; a watch is answered with
//! what to stream (`watch.rs` streams it); every refusal is a v1 `Status`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode};
use serde::Serialize;
use staticpod_core::agent::NodeStatus;
use staticpod_core::events::{Event, Events};
use staticpod_core::node::NodeView;
use staticpod_core::status::PodView;
use tokio::sync::watch;

use crate::discovery;
use crate::error::ApiError;
use crate::filter::Filter;
use crate::limits::MAX_WATCH_DURATION;
use crate::negotiate::{AGGREGATED_DISCOVERY, Format, Query, Since, wants_aggregated_discovery};
use crate::resource::{List, Resource};
use crate::route::{Kind, Route, route};
use crate::table::Table;
use crate::versions::PodStore;

/// The annotation that says where a static pod came from (`file` or `http`).
const CONFIG_SOURCE: &str = staticpod_core::manifest::defaults::CONFIG_SOURCE_ANNOTATION;

/// What a request says, as far as the answer depends on it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    /// The `Accept` header.
    pub accept: &'a str,
}

/// What can be watched: the node is listed, not watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// Pods, from the agent's status feed.
    Pods,
    /// Events, from the event store's feed.
    Events,
}

/// A watch to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    /// Pods or events.
    pub watched: Watched,
    /// What it selects.
    pub filter: Filter,
    /// Objects or one-row Tables.
    pub format: Format,
    /// Where it starts.
    pub since: Since,
    /// How long it stays open.
    pub timeout: Duration,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The status code.
    pub code: StatusCode,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Body {
    fn json_as(value: &impl Serialize, content_type: &'static str) -> Body {
        Body {
            code: StatusCode::OK,
            content_type,
            body: serde_json::to_vec(value).expect("the API's objects serialize to JSON"),
        }
    }

    /// Plain text, as the read-only port's own endpoints answer.
    pub fn text(code: StatusCode, text: &str) -> Body {
        Body {
            code,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes().to_vec(),
        }
    }

    /// The v1 `Status` of `error`.
    pub fn error(error: &ApiError) -> Body {
        Body {
            code: StatusCode::from_u16(error.code()).expect("error codes are valid"),
            content_type: "application/json",
            body: serde_json::to_vec(&error.status()).expect("a Status serializes"),
        }
    }
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A whole body.
    Body(Body),
    /// A stream of watch events.
    Watch(WatchSpec),
}

impl Reply {
    /// `value` as JSON with `200 OK`.
    fn json(value: &impl Serialize) -> Reply {
        Reply::Body(Body::json_as(value, "application/json"))
    }

    fn json_as(value: &impl Serialize, content_type: &'static str) -> Reply {
        Reply::Body(Body::json_as(value, content_type))
    }
}

/// The node's API: the agent's status and events, and the pods' resource versions.
#[derive(Debug)]
pub struct NodeApi {
    pub(crate) status: watch::Receiver<Arc<NodeStatus>>,
    pub(crate) events: Arc<Events>,
    pub(crate) pods: PodStore,
}

impl NodeApi {
    /// The API over the agent's `status` feed and `events`.
    pub fn new(status: watch::Receiver<Arc<NodeStatus>>, events: Arc<Events>) -> Self {
        NodeApi {
            status,
            events,
            pods: PodStore::default(),
        }
    }

    /// The agent's latest status.
    pub fn status(&self) -> Arc<NodeStatus> {
        self.status.borrow().clone()
    }

    /// The answer to `request` at `now`.
    pub fn respond(&self, request: &Request<'_>, now: SystemTime) -> Reply {
        self.answer(request, now)
            .unwrap_or_else(|error| Reply::Body(Body::error(&error)))
    }

    fn answer(&self, request: &Request<'_>, now: SystemTime) -> Result<Reply, ApiError> {
        let route = route(request.path)?;
        let status = self.status();
        let method = request.method;
        if let Route::KubeletPods | Route::Manifests | Route::Healthz = route {
            if method != Method::GET {
                return Ok(Reply::Body(Body::text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "only GET is served\n",
                )));
            }
            return Ok(Reply::Body(match route {
                Route::KubeletPods => pretty(&status.pods),
                Route::Manifests => pretty(&status.manifests),
                _ => healthz(&status),
            }));
        }
        let query = Query::parse(request.query)?;
        if let Route::Subresource {
            kind,
            namespace,
            name,
            subresource,
        } = route
        {
            return self.subresource(&status, kind, namespace, name, subresource);
        }
        let verb = verb(method, &route, &query);
        let aggregated = wants_aggregated_discovery(request.accept);
        match (verb, route) {
            (
                "delete",
                Route::Object {
                    kind,
                    namespace,
                    name,
                },
            ) => self.delete(&status, kind, namespace, name),
            ("delete", Route::Collection { .. }) => Err(read_only("deletecollection", &route)),
            ("get" | "list" | "watch", Route::Collection { .. } | Route::Object { .. }) => {
                self.read(&status, &route, &query, request.accept, now)
            }
            ("get", Route::Version) => Ok(Reply::json(&discovery::version(
                &status.node.host.architecture,
            ))),
            ("get", Route::Api) if aggregated => Ok(Reply::json_as(
                &discovery::aggregated_core(),
                AGGREGATED_DISCOVERY,
            )),
            ("get", Route::Api) => Ok(Reply::json(&discovery::legacy_versions())),
            ("get", Route::Apis) if aggregated => Ok(Reply::json_as(
                &discovery::aggregated_groups(),
                AGGREGATED_DISCOVERY,
            )),
            ("get", Route::Apis) => Ok(Reply::json(&discovery::legacy_groups())),
            ("get", Route::ApiV1) => Ok(Reply::json(&discovery::resource_list())),
            (verb, route) => Err(read_only(verb, &route)),
        }
    }

    /// A list, an object, or a watch of pods, events or the node.
    fn read(
        &self,
        status: &Arc<NodeStatus>,
        route: &Route<'_>,
        query: &Query,
        accept: &str,
        now: SystemTime,
    ) -> Result<Reply, ApiError> {
        let (kind, namespace, name) = match *route {
            Route::Collection { kind, namespace } => (kind, namespace, None),
            Route::Object {
                kind,
                namespace,
                name,
            } => (kind, namespace, Some(name)),
            _ => unreachable!("only lists and objects are read"),
        };
        let format = query.format(accept);
        if query.watch {
            let (watched, filter) = match kind {
                Kind::Pods => (
                    Watched::Pods,
                    Filter::new::<PodView>(namespace, name, query)?,
                ),
                Kind::Events => (
                    Watched::Events,
                    Filter::new::<Event>(namespace, name, query)?,
                ),
                Kind::Nodes => {
                    return Err(ApiError::MethodNotAllowed {
                        verb: "watch".into(),
                        resource: "nodes".into(),
                        why: "the node is listed, not watched: `kubectl get nodes` again",
                    });
                }
            };
            let timeout = query
                .timeout
                .map_or(MAX_WATCH_DURATION, |t| t.min(MAX_WATCH_DURATION));
            return Ok(Reply::Watch(WatchSpec {
                watched,
                filter,
                format,
                since: query.since()?,
                timeout,
            }));
        }
        match kind {
            Kind::Pods => {
                let filter = Filter::new::<PodView>(namespace, None, query)?;
                let pods = self.pods.read(status);
                let items = pods.list().filter(|p| filter.matches(*p));
                answer(items, name, Some(pods.version()), format, now)
            }
            Kind::Events => {
                let filter = Filter::new::<Event>(namespace, None, query)?;
                let (version, events) = events_now(&self.events);
                let items = events.iter().filter(|e| filter.matches(*e));
                answer(items, name, Some(version), format, now)
            }
            Kind::Nodes => {
                let filter = Filter::new::<NodeView>(None, None, query)?;
                let node = status.node.view(status.health(), now);
                let items = std::iter::once(&node).filter(|n| filter.matches(*n));
                answer(items, name, None, format, now)
            }
        }
    }

    /// `kubectl delete pod`: refused, saying how a static pod is removed; nothing changes.
    fn delete(
        &self,
        status: &Arc<NodeStatus>,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Reply, ApiError> {
        if kind != Kind::Pods {
            return Err(read_only(
                "delete",
                &Route::Object {
                    kind,
                    namespace,
                    name,
                },
            ));
        }
        let namespace = namespace.unwrap_or_default();
        let pods = self.pods.read(status);
        let pod = pods
            .get(namespace, name)
            .ok_or_else(|| ApiError::NotFound {
                resource: "pods",
                name: name.to_string(),
            })?;
        let key = format!("{namespace}/{name}");
        let source = status
            .manifests
            .iter()
            .find(|report| report.pods.contains(&key))
            .map(|report| report.file.display().to_string());
        let from_url = pod
            .metadata
            .annotations
            .get(CONFIG_SOURCE)
            .map(String::as_str)
            == Some("http");
        let why = match (source, from_url) {
            (Some(url), true) => {
                format!("static pods are removed by removing them from the manifest URL: {url}")
            }
            (Some(file), false) => {
                format!("static pods are removed by removing their manifest file: {file}")
            }
            (None, _) => "static pods are removed by removing their manifest".to_string(),
        };
        Err(ApiError::Forbidden {
            resource: "pods",
            name: name.to_string(),
            why,
        })
    }

    /// A pod's subresource: none is served yet.
    fn subresource(
        &self,
        status: &Arc<NodeStatus>,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        subresource: &str,
    ) -> Result<Reply, ApiError> {
        let resource = kind.plural();
        if kind == Kind::Pods
            && self
                .pods
                .read(status)
                .get(namespace.unwrap_or_default(), name)
                .is_none()
        {
            return Err(ApiError::NotFound {
                resource,
                name: name.to_string(),
            });
        }
        match (kind, subresource) {
            (Kind::Pods, "log") => Err(ApiError::NotServedYet {
                resource: "pods/log",
                why: "read the container's log with the runtime meanwhile (`docker logs <container id>`, the id is in `kubectl get pod -o yaml`)",
            }),
            (Kind::Pods, "exec" | "attach" | "portforward") => Err(ApiError::MethodNotAllowed {
                verb: subresource.to_string(),
                resource: "pods".to_string(),
                why: "the node's API is read-only: use the runtime (`docker exec`, `crictl exec`, `podman exec`)",
            }),
            _ => Err(ApiError::NoRoute {
                path: format!("{resource}/{name}/{subresource}"),
            }),
        }
    }
}

/// The verb of a request as kube-apiserver names it.
fn verb(method: &Method, route: &Route<'_>, query: &Query) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if query.watch => "watch",
        Method::GET | Method::HEAD if matches!(route, Route::Collection { .. }) => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

/// A write, refused: the node's API is read-only.
fn read_only(verb: &str, route: &Route<'_>) -> ApiError {
    let resource = match route {
        Route::Collection { kind, .. } | Route::Object { kind, .. } => kind.plural(),
        _ => "discovery",
    };
    ApiError::MethodNotAllowed {
        verb: verb.to_string(),
        resource: resource.to_string(),
        why: "the node's API is read-only: static pods change when their manifests change",
    }
}

/// The events with the version of the list: changes after it are what a watch from it
/// sees. Reading the version first and taking the newest event's if it is later keeps the
/// two consistent without a lock over both.
pub(crate) fn events_now(events: &Events) -> (u64, Vec<Event>) {
    let version = events.version();
    let list = events.list();
    let newest = list
        .iter()
        .filter_map(|e| e.metadata.resource_version.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    (version.max(newest), list)
}

/// A list of `items` (or the one named `name`) as objects or a Table.
fn answer<'a, R: Resource + 'a>(
    items: impl Iterator<Item = &'a R>,
    name: Option<&str>,
    version: Option<u64>,
    format: Format,
    now: SystemTime,
) -> Result<Reply, ApiError> {
    let mut items: Vec<&R> = items.collect();
    if let Some(name) = name {
        items.retain(|item| item.name() == name);
        let Some(item) = items.first() else {
            return Err(ApiError::NotFound {
                resource: R::NAMES.plural,
                name: name.to_string(),
            });
        };
        return Ok(match format {
            Format::Json => Reply::json(item),
            Format::Table(include) => {
                Reply::json(&Table::of(&items[..1], version, include, true, now))
            }
        });
    }
    Ok(match format {
        Format::Json => Reply::json(&List::new(items, version)),
        Format::Table(include) => Reply::json(&Table::of(&items, version, include, true, now)),
    })
}

fn pretty(value: &impl Serialize) -> Body {
    Body {
        code: StatusCode::OK,
        content_type: "application/json",
        body: serde_json::to_vec_pretty(value).expect("the agent's status serializes"),
    }
}

/// `GET /healthz`: `ok` once the runtime answers and every source has answered once.
pub fn healthz(status: &NodeStatus) -> Body {
    match status.health() {
        Ok(()) => Body::text(StatusCode::OK, "ok\n"),
        Err(why) => Body::text(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}\n")),
    }
}

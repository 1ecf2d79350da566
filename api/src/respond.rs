//! From one request to its answer, without I/O: the node's API over the agent's latest
//! status and events. Lists, objects and Tables are answered here; a watch is answered with
//! what to stream (`watch.rs` streams it); every refusal is a v1 `Status`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode};
use serde::Serialize;
use staticpod_core::agent::NodeStatus;
use staticpod_core::events::{Event, Events};
use staticpod_core::manifest::defaults::CONFIG_SOURCE_ANNOTATION;
use staticpod_core::metrics::{self, Metrics};
use staticpod_core::node::NodeView;
use staticpod_core::status::PodView;
use tokio::sync::watch;

use crate::discovery;
use crate::error::ApiError;
use crate::filter::Filter;
use crate::limits::MAX_WATCH_DURATION;
use crate::logs::{self, LogRequest};
use crate::negotiate::{AGGREGATED_DISCOVERY, Format, Query, Since, wants_aggregated_discovery};
use crate::resource::{List, Resource};
use crate::route::{Kind, Route, route};
use crate::table::Table;
use crate::versions::PodStore;

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

impl<'a> Request<'a> {
    /// A request for `target` as a request line gives it: the path, then the query after a
    /// `?`.
    pub fn new(method: &'a Method, target: &'a str, accept: &'a str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method,
            path,
            query,
            accept,
        }
    }
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

    /// Metrics as OpenMetrics text, with the content type Prometheus needs to read them.
    fn metrics(text: String) -> Body {
        Body {
            code: StatusCode::OK,
            content_type: metrics::CONTENT_TYPE,
            body: text.into_bytes(),
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
    /// A container's log, streamed from the runtime.
    Log(LogRequest),
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
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) pods: PodStore,
}

impl NodeApi {
    /// The API over the agent's `status` feed, `events` and `metrics`.
    pub fn new(
        status: watch::Receiver<Arc<NodeStatus>>,
        events: Arc<Events>,
        metrics: Arc<Metrics>,
    ) -> Self {
        NodeApi {
            status,
            events,
            metrics,
            pods: PodStore::default(),
        }
    }

    /// The agent's latest status.
    pub fn status(&self) -> Arc<NodeStatus> {
        self.status.borrow().clone()
    }

    /// The answer to `request` at `now`.
    pub fn respond(&self, request: &Request<'_>, now: SystemTime) -> Reply {
        self.dispatch(request, now)
            .unwrap_or_else(|error| Reply::Body(Body::error(&error)))
    }

    fn dispatch(&self, request: &Request<'_>, now: SystemTime) -> Result<Reply, ApiError> {
        let route = route(request.path)?;
        let status = self.status();
        let method = request.method;
        if let Route::KubeletPods
        | Route::Manifests
        | Route::Healthz
        | Route::Metrics
        | Route::ProbeMetrics = route
        {
            if method != Method::GET {
                return Ok(Reply::Body(Body::text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "only GET is served\n",
                )));
            }
            return Ok(Reply::Body(match route {
                Route::KubeletPods => pretty(&status.pods),
                Route::Manifests => pretty(&status.manifests),
                Route::Metrics => Body::metrics(self.metrics.encode()),
                Route::ProbeMetrics => Body::metrics(self.metrics.encode_probes()),
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
            let object = (kind, namespace, name);
            return self.subresource(&status, object, subresource, request, now);
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
            ("list" | "watch", Route::Collection { kind, namespace }) => {
                let format = query.format(request.accept);
                self.read(&status, (kind, namespace, None), &query, format, now)
            }
            (
                "get" | "watch",
                Route::Object {
                    kind,
                    namespace,
                    name,
                },
            ) => {
                let format = query.format(request.accept);
                self.read(&status, (kind, namespace, Some(name)), &query, format, now)
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

    /// A list, an object, or a watch of pods, events or the node: `what` is the kind, the
    /// namespace (all when `None`) and the name (every object when `None`).
    fn read(
        &self,
        status: &Arc<NodeStatus>,
        (kind, namespace, name): (Kind, Option<&str>, Option<&str>),
        query: &Query,
        format: Format,
        now: SystemTime,
    ) -> Result<Reply, ApiError> {
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
                listed(items, name, Some(pods.version()), format, now)
            }
            Kind::Events => {
                let filter = Filter::new::<Event>(namespace, None, query)?;
                let (version, events) = events_now(&self.events);
                let items = events.iter().filter(|e| filter.matches(*e));
                listed(items, name, Some(version), format, now)
            }
            Kind::Nodes => {
                let filter = Filter::new::<NodeView>(None, None, query)?;
                let node = status.node.view(status.health(), now);
                let items = std::iter::once(&node).filter(|n| filter.matches(*n));
                listed(items, name, None, format, now)
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
            .get(CONFIG_SOURCE_ANNOTATION)
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

    /// A pod's subresource: its log (`GET` alone); the others are refused.
    fn subresource(
        &self,
        status: &Arc<NodeStatus>,
        (kind, namespace, name): (Kind, Option<&str>, &str),
        subresource: &str,
        request: &Request<'_>,
        now: SystemTime,
    ) -> Result<Reply, ApiError> {
        let resource = kind.plural();
        let pods = self.pods.read(status);
        let pod = match kind {
            Kind::Pods => pods.get(namespace.unwrap_or_default(), name),
            _ => None,
        };
        let not_found = || ApiError::NotFound {
            resource,
            name: name.to_string(),
        };
        match (kind, subresource) {
            (Kind::Pods, "log") if *request.method == Method::GET => {
                let pod = pod.ok_or_else(not_found)?;
                Ok(Reply::Log(logs::request(pod, request.query, now)?))
            }
            (Kind::Pods, "log" | "exec" | "attach" | "portforward") => {
                pod.ok_or_else(not_found)?;
                Err(ApiError::MethodNotAllowed {
                    verb: subresource.to_string(),
                    resource: "pods".to_string(),
                    why: match subresource {
                        "log" => "a log is read with GET",
                        _ => {
                            "the node's API is read-only: use the runtime (`docker exec`, `crictl exec`, `podman exec`)"
                        }
                    },
                })
            }
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
fn listed<'a, R: Resource + 'a>(
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

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use expect_test::expect;
    use staticpod_core::events::{EventType, ObjectReference};
    use staticpod_core::ingest::ManifestReport;
    use staticpod_core::status::PodListView;

    use super::*;
    use crate::nodes::tests::facts;
    use crate::pods::tests::{at, pod};

    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    const DISCOVERY: &str =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

    /// A node running `web-node0` (from a file, labelled `app=web`) and `db-node0` (from the
    /// URL) in `default`, and `dns-node0` in `kube-system`, with `web`'s start as events.
    pub(crate) fn node() -> (watch::Sender<Arc<NodeStatus>>, Arc<NodeApi>) {
        let mut db = pod("default", "db-node0", &[("app", "db")]);
        db.metadata
            .annotations
            .insert(CONFIG_SOURCE_ANNOTATION.to_string(), "http".to_string());
        let status = NodeStatus {
            pods: PodListView {
                api_version: "v1".into(),
                kind: "PodList".into(),
                items: vec![
                    pod("default", "web-node0", &[("app", "web")]),
                    db,
                    pod("kube-system", "dns-node0", &[("app", "dns")]),
                ],
            },
            manifests: vec![
                ManifestReport {
                    file: PathBuf::from("/etc/kubernetes/manifests/web.yaml"),
                    pods: vec!["default/web-node0".into()],
                    stale: false,
                    diagnostics: Vec::new(),
                    poll: None,
                },
                ManifestReport {
                    file: PathBuf::from("http://config/pods.yaml"),
                    pods: vec!["default/db-node0".into()],
                    stale: false,
                    diagnostics: Vec::new(),
                    poll: None,
                },
            ],
            node: Arc::new(facts()),
            listed: true,
            ..NodeStatus::default()
        };
        let (sender, receiver) = watch::channel(Arc::new(status));
        let events = Arc::new(Events::new("node0"));
        let web =
            ObjectReference::pod("default", "web-node0", "uid-web-node0").container(false, "web");
        events.record(
            &web,
            EventType::Normal,
            "Created",
            "Created container web",
            at(1),
        );
        events.record(
            &web,
            EventType::Normal,
            "Started",
            "Started container web",
            at(2),
        );
        let db = ObjectReference::pod("default", "db-node0", "uid-db-node0");
        events.record(
            &db,
            EventType::Warning,
            "BackOff",
            "Back-off pulling image",
            at(3),
        );
        (
            sender,
            Arc::new(NodeApi::new(receiver, events, Arc::default())),
        )
    }

    /// `method path accept` answered, in one line: code, content type, and the body (a
    /// Table rendered, an object's kind and name, a Status's message).
    fn ask(api: &NodeApi, method: Method, target: &str, accept: &str) -> String {
        match api.respond(&Request::new(&method, target, accept), at(60)) {
            Reply::Watch(spec) => format!("watch {spec:?}"),
            Reply::Log(log) => format!("log {log:?}"),
            Reply::Body(Body {
                code,
                content_type,
                body,
            }) => {
                let head = format!("{} {content_type}", code.as_u16());
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return format!("{head}: {}", String::from_utf8_lossy(&body).trim());
                };
                let summary = match json["kind"].as_str().unwrap_or_default() {
                    "Table" => {
                        let table: Table = serde_json::from_value(json).unwrap();
                        format!("\n{}", table.render(false))
                    }
                    "Status" => format!("{} {}", json["reason"], json["message"]),
                    "" => format!("version {}", json["gitVersion"]),
                    kind if json["items"][0]["metadata"]["name"].is_string() => {
                        let names: Vec<&str> = json["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|item| item["metadata"]["name"].as_str().unwrap_or_default())
                            .collect();
                        format!(
                            "{kind} rv={} {names:?}",
                            json["metadata"]["resourceVersion"]
                        )
                    }
                    kind => match json["metadata"]["name"].as_str() {
                        Some(name) => format!("{kind} {name}"),
                        None => kind.to_string(),
                    },
                };
                format!("{head}: {summary}")
            }
        }
    }

    #[test]
    fn kubectl_gets_tables_objects_and_lists() {
        let (_status, api) = node();
        let answers = [
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods?limit=500",
                TABLE,
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/pods?labelSelector=app%20in%20(web,dns)",
                TABLE,
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/kube-system/pods/dns-node0",
                TABLE,
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods/web-node0",
                "application/json",
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Ddb-node0",
                "application/json",
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb-node0,involvedObject.namespace%3Ddefault,involvedObject.uid%3Duid-web-node0",
                TABLE,
            ),
            ask(&api, Method::GET, "/api/v1/nodes", TABLE),
            ask(&api, Method::GET, "/api/v1/nodes/node0", "application/json"),
        ];
        expect![[r#"
            200 application/json: 
            NAME        READY   STATUS    RESTARTS   AGE
            db-node0    1/1     Running   0          60s
            web-node0   1/1     Running   0          60s

            200 application/json: 
            NAME        READY   STATUS    RESTARTS   AGE
            web-node0   1/1     Running   0          60s
            dns-node0   1/1     Running   0          60s

            200 application/json: 
            NAME        READY   STATUS    RESTARTS   AGE
            dns-node0   1/1     Running   0          60s

            200 application/json: Pod web-node0
            200 application/json: PodList rv="3" ["db-node0"]
            200 application/json: 
            LAST SEEN   TYPE     REASON    OBJECT          MESSAGE
            59s         Normal   Created   pod/web-node0   Created container web
            58s         Normal   Started   pod/web-node0   Started container web

            200 application/json: 
            NAME    STATUS   ROLES    AGE   VERSION
            node0   Ready    <none>   60s   staticpod/v0.1.0

            200 application/json: Node node0"#]]
        .assert_eq(&answers.join("\n"));
    }

    #[test]
    fn discovery_answers_each_client_in_its_form() {
        let (_status, api) = node();
        let answers = [
            ask(&api, Method::GET, "/api", DISCOVERY),
            ask(&api, Method::GET, "/apis", DISCOVERY),
            ask(&api, Method::GET, "/api", "application/json"),
            ask(&api, Method::GET, "/apis", "application/json, */*"),
            ask(&api, Method::GET, "/api/v1", "application/json"),
            ask(&api, Method::GET, "/version", "application/json"),
        ];
        expect![[r#"
            200 application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList: APIGroupDiscoveryList
            200 application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList: APIGroupDiscoveryList
            200 application/json: APIVersions
            200 application/json: APIGroupList
            200 application/json: APIResourceList
            200 application/json: version "v1.32.0+staticpod.0.1.0""#]]
        .assert_eq(&answers.join("\n"));
    }

    #[test]
    fn every_refusal_is_a_status_that_says_what_to_do() {
        let (_status, api) = node();
        let answers = [
            ask(
                &api,
                Method::DELETE,
                "/api/v1/namespaces/default/pods/web-node0",
                "application/json",
            ),
            ask(
                &api,
                Method::DELETE,
                "/api/v1/namespaces/default/pods/db-node0",
                "application/json",
            ),
            ask(
                &api,
                Method::DELETE,
                "/api/v1/namespaces/default/pods/gone",
                "application/json",
            ),
            ask(
                &api,
                Method::DELETE,
                "/api/v1/namespaces/default/pods",
                "application/json",
            ),
            ask(
                &api,
                Method::POST,
                "/api/v1/namespaces/default/pods",
                "application/json",
            ),
            ask(
                &api,
                Method::PATCH,
                "/api/v1/nodes/node0",
                "application/json",
            ),
            ask(
                &api,
                Method::POST,
                "/api/v1/namespaces/default/pods/web-node0/exec?command=ls",
                "application/json",
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods/web-node0/log",
                "application/json",
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods/gone/log",
                "application/json",
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods/gone",
                TABLE,
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/pods?fieldSelector=spec.foo%3Dx",
                TABLE,
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/pods?labelSelector=app%20in%20(web",
                TABLE,
            ),
            ask(&api, Method::GET, "/api/v1/nodes?watch=true", TABLE),
            ask(&api, Method::GET, "/api/v1/secrets", "application/json"),
            ask(&api, Method::POST, "/pods", "application/json"),
        ];
        expect![[r#"
            403 application/json: "Forbidden" "pods \"web-node0\" is forbidden: static pods are removed by removing their manifest file: /etc/kubernetes/manifests/web.yaml"
            403 application/json: "Forbidden" "pods \"db-node0\" is forbidden: static pods are removed by removing them from the manifest URL: http://config/pods.yaml"
            404 application/json: "NotFound" "pods \"gone\" not found"
            405 application/json: "MethodNotAllowed" "deletecollection is not supported on pods: the node's API is read-only: static pods change when their manifests change"
            405 application/json: "MethodNotAllowed" "create is not supported on pods: the node's API is read-only: static pods change when their manifests change"
            405 application/json: "MethodNotAllowed" "patch is not supported on nodes: the node's API is read-only: static pods change when their manifests change"
            405 application/json: "MethodNotAllowed" "exec is not supported on pods: the node's API is read-only: use the runtime (`docker exec`, `crictl exec`, `podman exec`)"
            400 application/json: "BadRequest" "container \"web\" has no container ID yet"
            404 application/json: "NotFound" "pods \"gone\" not found"
            404 application/json: "NotFound" "pods \"gone\" not found"
            400 application/json: "BadRequest" "field label not supported: spec.foo"
            400 application/json: "BadRequest" "unable to parse requirement: expected ',' or ')' in a set in label selector \"app in (web\""
            405 application/json: "MethodNotAllowed" "watch is not supported on nodes: the node is listed, not watched: `kubectl get nodes` again"
            404 application/json: "NotFound" "the server could not find the requested resource (/api/v1/secrets)"
            405 text/plain; charset=utf-8: only GET is served"#]]
        .assert_eq(&answers.join("\n"));
    }

    #[test]
    fn a_watch_is_answered_with_what_to_stream() {
        let (_status, api) = node();
        let answers = [
            ask(
                &api,
                Method::GET,
                "/api/v1/namespaces/default/pods?resourceVersion=3&watch=true",
                TABLE,
            ),
            ask(
                &api,
                Method::GET,
                "/api/v1/events?watch=1&timeoutSeconds=5&fieldSelector=type%3DWarning",
                "application/json",
            ),
        ];
        expect![[r#"
            watch WatchSpec { watched: Pods, filter: Filter { namespace: Some("default"), name: None, labels: LabelSelector([]), fields: FieldSelector([]) }, format: Table(Metadata), since: Version(3), timeout: 1800s }
            watch WatchSpec { watched: Events, filter: Filter { namespace: None, name: None, labels: LabelSelector([]), fields: FieldSelector([FieldTerm { field: "type", equal: true, value: "Warning" }]) }, format: Json, since: Now, timeout: 5s }"#]]
        .assert_eq(&answers.join("\n"));
    }

    #[test]
    fn the_ports_own_endpoints_answer_as_before() {
        let (_status, api) = node();
        let pods = ask(&api, Method::GET, "/pods", "*/*");
        assert!(pods.starts_with("200 application/json: PodList"), "{pods}");
        assert_eq!(
            ask(&api, Method::GET, "/healthz", "*/*"),
            "200 text/plain; charset=utf-8: ok"
        );
        let metrics = ask(&api, Method::GET, "/metrics", "*/*");
        assert!(
            metrics.starts_with("200 application/openmetrics-text; version=1.0.0; charset=utf-8:"),
            "{metrics}"
        );
        assert!(metrics.contains("\nkubelet_running_pods 0\n"), "{metrics}");
        assert!(metrics.ends_with("# EOF"), "{metrics}");
        // No probe has run: a family without series is not written.
        let probes = ask(&api, Method::GET, "/metrics/probes", "*/*");
        assert!(probes.ends_with(": # EOF"), "{probes}");
        let manifests = api.respond(
            &Request {
                method: &Method::GET,
                path: "/manifests",
                query: "",
                accept: "*/*",
            },
            at(60),
        );
        let Reply::Body(Body { body, .. }) = manifests else {
            panic!("a body")
        };
        let reports: Vec<ManifestReport> = serde_json::from_slice(&body).unwrap();
        assert_eq!(reports.len(), 2);
    }
}

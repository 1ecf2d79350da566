//! Watches (`?watch=true`): a stream of newline-delimited watch events
//! (`{"type":"ADDED|MODIFIED|DELETED","object":...}`) for pods, from the agent's status feed,
//! and for events, from the event store's feed; each object is a one-row Table when a Table
//! was asked for (the columns in the first only, as kube-apiserver sends them). A watch from
//! a version whose changes are gone ends with an `ERROR` event carrying `410 Expired`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::Stream;
use hyper::body::Bytes;
use serde_json::json;
use staticpod_core::agent::NodeStatus;
use staticpod_core::events::Event;
use staticpod_core::status::PodView;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::filter::Filter;
use crate::negotiate::{Format, Since};
use crate::resource::Resource;
use crate::respond::{NodeApi, WatchSpec, Watched, events_now};
use crate::table::{Table, to_value};
use crate::versions::{ChangeKind, PodVersions};

/// What a watch has to send.
struct Out {
    filter: Filter,
    format: Format,
    /// The Table columns went out with the first event.
    columns_sent: bool,
    pending: VecDeque<Bytes>,
    /// Nothing follows what is pending.
    ended: bool,
}

impl Out {
    /// Queues `object`'s event if the watch selects it.
    fn send<R: Resource>(&mut self, kind: ChangeKind, object: &R, version: Option<u64>) {
        if !self.filter.matches(object) {
            return;
        }
        let object = match self.format {
            Format::Json => to_value(object),
            Format::Table(include) => {
                let table = Table::of(
                    &[object],
                    version,
                    include,
                    !self.columns_sent,
                    SystemTime::now(),
                );
                self.columns_sent = true;
                to_value(&table)
            }
        };
        self.line(&json!({"type": kind.as_str(), "object": object}));
    }

    /// Queues the `ERROR` event of `error`; the watch ends after it.
    fn fail(&mut self, error: &ApiError) {
        self.line(&json!({"type": "ERROR", "object": error.status()}));
        self.ended = true;
    }

    fn line(&mut self, event: &serde_json::Value) {
        let mut line = serde_json::to_vec(event).expect("watch events serialize");
        line.push(b'\n');
        self.pending.push_back(Bytes::from(line));
    }
}

/// Pod changes, from the agent's status feed.
struct PodFeed {
    api: Arc<NodeApi>,
    status: watch::Receiver<Arc<NodeStatus>>,
    /// The version sent up to.
    cursor: u64,
}

impl PodFeed {
    /// Queues the changes after the cursor, with the store brought up to `status`.
    fn catch_up(&mut self, status: &Arc<NodeStatus>, out: &mut Out) {
        let api = self.api.clone();
        let pods = api.pods.read(status);
        self.send_since(&pods, out);
    }

    fn send_since(&mut self, pods: &PodVersions, out: &mut Out) {
        match pods.since(self.cursor) {
            Ok(changes) => {
                for change in changes {
                    out.send(change.kind, &*change.pod, Some(change.version));
                    self.cursor = change.version;
                }
            }
            Err(error) => out.fail(&error),
        }
    }
}

/// Event changes, from the event store's feed.
struct EventFeed {
    changes: broadcast::Receiver<Event>,
    /// The version sent up to.
    cursor: u64,
}

/// A recorded event is new at its first occurrence and changed at every repeat.
fn event_change(event: &Event) -> ChangeKind {
    if event.count <= 1 {
        ChangeKind::Added
    } else {
        ChangeKind::Modified
    }
}

fn event_version(event: &Event) -> u64 {
    event.metadata.resource_version.parse().unwrap_or(0)
}

enum Feed {
    Pods(PodFeed),
    Events(EventFeed),
}

impl Feed {
    /// Waits for the next change and queues its events; false when the feed ended.
    async fn wait(&mut self, out: &mut Out) -> bool {
        match self {
            Feed::Pods(feed) => {
                if feed.status.changed().await.is_err() {
                    return false;
                }
                let status = feed.status.borrow_and_update().clone();
                feed.catch_up(&status, out);
                true
            }
            Feed::Events(feed) => match feed.changes.recv().await {
                Ok(event) => {
                    let version = event_version(&event);
                    if version > feed.cursor {
                        feed.cursor = version;
                        out.send(event_change(&event), &event, Some(version));
                    }
                    true
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    out.fail(&ApiError::Expired {
                        requested: feed.cursor,
                        oldest: feed.cursor + 1,
                    });
                    true
                }
                Err(broadcast::error::RecvError::Closed) => false,
            },
        }
    }
}

struct Watch {
    feed: Feed,
    out: Out,
    deadline: Instant,
}

impl Watch {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.out.pending.pop_front() {
                return Some(line);
            }
            if self.out.ended {
                return None;
            }
            tokio::select! {
                more = self.feed.wait(&mut self.out) => if !more { return None },
                () = tokio::time::sleep_until(self.deadline) => return None,
            }
        }
    }
}

/// The watch events of `spec`, until its timeout, the client leaving, or the agent ending.
pub fn stream(api: Arc<NodeApi>, spec: WatchSpec) -> impl Stream<Item = Bytes> + Send {
    let mut out = Out {
        filter: spec.filter,
        format: spec.format,
        columns_sent: false,
        pending: VecDeque::new(),
        ended: false,
    };
    let feed = match spec.watched {
        Watched::Pods => Feed::Pods(start_pods(&api, spec.since, &mut out)),
        Watched::Events => Feed::Events(start_events(&api, spec.since, &mut out)),
    };
    let watch = Watch {
        feed,
        out,
        deadline: Instant::now() + spec.timeout,
    };
    futures_util::stream::unfold(watch, |mut watch| async move {
        let line = watch.next().await?;
        Some((line, watch))
    })
}

fn start_pods(api: &Arc<NodeApi>, since: Since, out: &mut Out) -> PodFeed {
    let mut status = api.status.clone();
    let current = status.borrow_and_update().clone();
    let pods = api.pods.read(&current);
    let mut feed = PodFeed {
        api: api.clone(),
        status,
        cursor: pods.version(),
    };
    match since {
        Since::Now => {
            for pod in pods.list() {
                out.send(ChangeKind::Added, pod, pod_version(pod));
            }
        }
        Since::Version(version) => {
            feed.cursor = version;
            feed.send_since(&pods, out);
        }
    }
    feed
}

fn pod_version(pod: &PodView) -> Option<u64> {
    pod.metadata.resource_version.as_deref()?.parse().ok()
}

fn start_events(api: &NodeApi, since: Since, out: &mut Out) -> EventFeed {
    // Subscribed before the list is read, so nothing recorded in between is missed; what
    // both carry is sent once, by version.
    let changes = api.events.subscribe();
    let (version, events) = events_now(&api.events);
    let from = match since {
        Since::Now => None,
        Since::Version(asked) if asked > version => {
            out.fail(&ApiError::UnknownVersion {
                requested: asked,
                latest: version,
            });
            return EventFeed {
                changes,
                cursor: version,
            };
        }
        Since::Version(asked) => Some(asked),
    };
    for event in &events {
        let v = event_version(event);
        match from {
            None => out.send(ChangeKind::Added, event, Some(v)),
            Some(asked) if v > asked => out.send(event_change(event), event, Some(v)),
            Some(_) => {}
        }
    }
    EventFeed {
        changes,
        cursor: version,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use expect_test::expect;
    use futures_util::StreamExt;
    use staticpod_core::events::{EventType, ObjectReference};

    use super::*;
    use crate::negotiate::{IncludeObject, Query};
    use crate::pods::tests::{at, pod};
    use crate::respond::tests::node;

    fn spec(watched: Watched, filter: Filter, format: Format, since: Since) -> WatchSpec {
        WatchSpec {
            watched,
            filter,
            format,
            since,
            timeout: Duration::from_secs(30),
        }
    }

    /// A watch event in one line: its type, object kind and name, and resource version.
    fn line(bytes: &Bytes) -> String {
        let event: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'), "one event a line");
        let object = &event["object"];
        let (name, version) = match object["kind"].as_str() {
            Some("Table") => (
                format!(
                    "row of {} (columns: {})",
                    object["rows"][0]["object"]["metadata"]["name"],
                    object["columnDefinitions"].as_array().map_or(0, Vec::len)
                ),
                object["metadata"]["resourceVersion"].clone(),
            ),
            Some("Status") => (object["message"].to_string(), serde_json::Value::Null),
            _ => (
                object["metadata"]["name"].to_string(),
                object["metadata"]["resourceVersion"].clone(),
            ),
        };
        format!("{} {name} rv={version}", event["type"].as_str().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_pod_watch_from_the_lists_version_sees_what_changes_then_ends() {
        let (status, api) = node();
        let version = api.pods.read(&api.status()).version();
        let filter = Filter::new::<PodView>(Some("default"), None, &Query::default()).unwrap();
        let mut events = std::pin::pin!(stream(
            api.clone(),
            spec(Watched::Pods, filter, Format::Json, Since::Version(version)),
        ));
        let mut next = (*api.status()).clone();
        next.pods.items.push(pod("default", "new-node0", &[]));
        next.pods.items.push(pod("kube-system", "other-node0", &[]));
        status.send_replace(Arc::new(next.clone()));
        let added = events.next().await.unwrap();
        next.pods.items.retain(|p| p.metadata.name != "db-node0");
        let new = next
            .pods
            .items
            .iter_mut()
            .find(|p| p.metadata.name == "new-node0");
        new.unwrap().status.phase = "Succeeded".into();
        status.send_replace(Arc::new(next));
        let changed = [events.next().await.unwrap(), events.next().await.unwrap()];
        let started = tokio::time::Instant::now();
        assert!(
            events.next().await.is_none(),
            "the watch ends at its timeout"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        expect![[r#"
            ADDED "new-node0" rv="4"
            DELETED "db-node0" rv="6"
            MODIFIED "new-node0" rv="7""#]]
        .assert_eq(&[&added, &changed[0], &changed[1]].map(line).join("\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_from_now_adds_every_selected_pod_first_and_a_forgotten_version_expires() {
        let (_status, api) = node();
        let query = Query::parse("labelSelector=app%21%3Ddb").unwrap();
        let filter = Filter::new::<PodView>(None, None, &query).unwrap();
        let table = Format::Table(IncludeObject::Metadata);
        let events: Vec<String> =
            stream(api.clone(), spec(Watched::Pods, filter, table, Since::Now))
                .take(2)
                .map(|b| line(&b))
                .collect()
                .await;
        let expired: Vec<String> = stream(
            api.clone(),
            spec(
                Watched::Pods,
                Filter::default(),
                Format::Json,
                Since::Version(99),
            ),
        )
        .map(|b| line(&b))
        .collect()
        .await;
        expect![[r#"
            ADDED row of "web-node0" (columns: 9) rv="2"
            ADDED row of "dns-node0" (columns: 0) rv="3"
            ERROR "resource version 99 is newer than this node's latest (3): the agent restarted since; list again" rv=null"#]]
        .assert_eq(&[events, expired].concat().join("\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_watch_sees_new_events_and_repeats() {
        let (_status, api) = node();
        let (version, _) = events_now(&api.events);
        let query = Query::parse("fieldSelector=involvedObject.name%3Dweb-node0").unwrap();
        let filter = Filter::new::<Event>(Some("default"), None, &query).unwrap();
        let mut lines = std::pin::pin!(stream(
            api.clone(),
            spec(
                Watched::Events,
                filter,
                Format::Table(IncludeObject::Metadata),
                Since::Version(version - 1)
            ),
        ));
        let web = ObjectReference::pod("default", "web-node0", "uid-web-node0");
        let db = ObjectReference::pod("default", "db-node0", "uid-db-node0");
        api.events
            .record(&db, EventType::Normal, "Killing", "Stopping pod", at(9));
        api.events.record(
            &web,
            EventType::Warning,
            "Unhealthy",
            "Readiness probe failed",
            at(10),
        );
        api.events.record(
            &web,
            EventType::Warning,
            "Unhealthy",
            "Readiness probe failed",
            at(20),
        );
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(line(&lines.next().await.unwrap()));
        }
        expect![[r#"
            ADDED row of "web-node0.18fae278e7bfe400" (columns: 10) rv="5"
            MODIFIED row of "web-node0.18fae278e7bfe400" (columns: 0) rv="6""#]]
        .assert_eq(&seen.join("\n"));
    }
}

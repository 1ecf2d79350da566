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

fn pod_version(pod: &staticpod_core::status::PodView) -> Option<u64> {
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
            out.fail(&ApiError::Expired {
                requested: asked,
                oldest: version,
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

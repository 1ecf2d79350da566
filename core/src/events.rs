//! Events without an API server: what the kubelet would post (`Pulling`, `Started`,
//! `BackOff`, ...) plus ours about manifests, kept in memory as v1 `Event`s for `kubectl get
//! events` and `kubectl describe`. Repeats are aggregated as client-go's event correlator
//! aggregates them (one event whose `count` and `lastTimestamp` grow), and the store is
//! bounded in number and age, so memory stays bounded whatever happens on the node.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use staticpod_runtime::clock::Clock;
use tokio::sync::broadcast;

use crate::status::timestamp;

/// The most events kept; the oldest go first.
pub const MAX_EVENTS: usize = 1000;
/// Events not seen again for this long are dropped (the API server's default event TTL).
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// Something went as it should.
    Normal,
    /// Something went wrong.
    Warning,
}

/// What an event is about: a pod, or one of its containers (`fieldPath`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `Pod`.
    pub kind: String,
    /// `v1`.
    pub api_version: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's full name.
    pub name: String,
    /// The pod's UID.
    pub uid: String,
    /// `spec.containers{web}` for an event about a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

impl ObjectReference {
    /// A reference to pod `name` in `namespace` with `uid`.
    pub fn pod(namespace: &str, name: &str, uid: &str) -> Self {
        ObjectReference {
            kind: "Pod".to_string(),
            api_version: "v1".to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            field_path: None,
        }
    }

    /// The node `name` itself, for what is about no pod (a manifest that declares none).
    pub fn node(name: &str) -> Self {
        ObjectReference {
            kind: "Node".to_string(),
            api_version: "v1".to_string(),
            namespace: String::new(),
            name: name.to_string(),
            uid: name.to_string(),
            field_path: None,
        }
    }

    /// The same pod's container `container` (`spec.containers{web}`, or
    /// `spec.initContainers{init}`).
    pub fn container(&self, init: bool, container: &str) -> Self {
        let list = if init { "initContainers" } else { "containers" };
        ObjectReference {
            field_path: Some(format!("spec.{list}{{{container}}}")),
            ..self.clone()
        }
    }
}

/// An event's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMeta {
    /// `<pod>.<hex nanoseconds>`, as client-go names events.
    pub name: String,
    /// The involved object's namespace; `default` for the node's events.
    pub namespace: String,
    /// Grows with every change of any event, for watches.
    pub resource_version: String,
    /// When the event was first recorded.
    pub creation_timestamp: String,
}

/// Who reported an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSource {
    /// `kubelet`, as the kubelet reports (so tools that filter on it work).
    pub component: String,
    /// The node.
    pub host: String,
}

/// A v1 `Event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `v1`.
    pub api_version: String,
    /// `Event`.
    pub kind: String,
    /// Name, namespace, resource version.
    pub metadata: EventMeta,
    /// What it is about.
    pub involved_object: ObjectReference,
    /// The kubelet's word (`Started`, `BackOff`, ...).
    pub reason: String,
    /// In words.
    pub message: String,
    /// Who reported it.
    pub source: EventSource,
    /// First occurrence.
    pub first_timestamp: String,
    /// Latest occurrence.
    pub last_timestamp: String,
    /// How many times it happened.
    pub count: u32,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: EventType,
    /// `kubelet`.
    pub reporting_component: String,
    /// The node.
    pub reporting_instance: String,
}

/// One stored event and when it last happened, for ageing.
#[derive(Debug)]
struct Stored {
    event: Event,
    last: SystemTime,
    /// The hash of what makes it the same event ([`same_key`]).
    key: u64,
}

/// The events, by last change: the front is the least recently seen, so ageing and the
/// bound take from the front alone.
#[derive(Debug, Default)]
struct Store {
    events: VecDeque<Stored>,
    /// How many stored events have each key hash: a new event (most of them: 5 000 invalid
    /// manifests at start are 5 000) is known new without scanning the store.
    keys: HashMap<u64, usize>,
    version: u64,
}

/// The hash of what makes two events the same (client-go's correlator key here).
fn same_key(object: &ObjectReference, type_: EventType, reason: &str, message: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (object, type_, reason, message).hash(&mut hasher);
    hasher.finish()
}

/// The node's events, shared by everything that records or reads them.
#[derive(Debug)]
pub struct Events {
    node: String,
    store: Mutex<Store>,
    changes: broadcast::Sender<Event>,
}

impl Events {
    /// An empty store for node `node`.
    pub fn new(node: &str) -> Self {
        Events {
            node: node.to_string(),
            store: Mutex::default(),
            changes: broadcast::channel(64).0,
        }
    }

    /// Records that `reason` happened to `object` at `now`: a repeat of the same event (same
    /// object, type, reason and message) only counts up.
    pub fn record(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
        now: SystemTime,
    ) {
        let mut store = self.store.lock().expect("events lock");
        store.version += 1;
        let version = store.version.to_string();
        let at = timestamp(now);
        let key = same_key(object, type_, reason, message);
        let seen = store.keys.get(&key).is_some_and(|n| *n > 0);
        let same = seen
            .then(|| {
                store.events.iter().position(|stored| {
                    let e = &stored.event;
                    stored.key == key
                        && e.involved_object == *object
                        && e.type_ == type_
                        && e.reason == reason
                        && e.message == message
                })
            })
            .flatten();
        let event = match same {
            Some(index) => {
                let mut stored = store.events.remove(index).expect("the index was found");
                stored.event.count += 1;
                stored.event.last_timestamp = at;
                stored.event.metadata.resource_version = version;
                stored.last = now;
                let event = stored.event.clone();
                store.events.push_back(stored);
                event
            }
            None => {
                let nanos = now
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                let event = Event {
                    api_version: "v1".to_string(),
                    kind: "Event".to_string(),
                    metadata: EventMeta {
                        name: format!("{}.{nanos:x}", object.name),
                        // As client-go's recorder: an event about the node (which has no
                        // namespace) lives in `default`, where `kubectl get events` looks.
                        namespace: if object.namespace.is_empty() {
                            "default".to_string()
                        } else {
                            object.namespace.clone()
                        },
                        resource_version: version,
                        creation_timestamp: at.clone(),
                    },
                    involved_object: object.clone(),
                    reason: reason.to_string(),
                    message: message.to_string(),
                    source: EventSource {
                        component: "kubelet".to_string(),
                        host: self.node.clone(),
                    },
                    first_timestamp: at.clone(),
                    last_timestamp: at,
                    count: 1,
                    type_,
                    reporting_component: "kubelet".to_string(),
                    reporting_instance: self.node.clone(),
                };
                store.events.push_back(Stored {
                    event: event.clone(),
                    last: now,
                    key,
                });
                *store.keys.entry(key).or_default() += 1;
                event
            }
        };
        store.evict(now);
        drop(store);
        // Nobody watching is not an error.
        let _ = self.changes.send(event);
    }

    /// Every event kept, oldest change first.
    pub fn list(&self) -> Vec<Event> {
        let store = self.store.lock().expect("events lock");
        store.events.iter().map(|s| s.event.clone()).collect()
    }

    /// The resource version of the latest change.
    pub fn version(&self) -> u64 {
        self.store.lock().expect("events lock").version
    }

    /// Every event recorded or counted up from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.changes.subscribe()
    }
}

/// Records events at the agent's clock: what the executor, the prober and the agent loop
/// hold to tell what happened.
#[derive(Debug, Clone)]
pub struct Recorder {
    events: Arc<Events>,
    clock: Arc<dyn Clock>,
}

impl Recorder {
    /// Records into `events` at `clock`'s time.
    pub fn new(events: Arc<Events>, clock: Arc<dyn Clock>) -> Self {
        Recorder { events, clock }
    }

    /// A `Normal` event.
    pub fn normal(&self, object: &ObjectReference, reason: &str, message: &str) {
        self.events
            .record(object, EventType::Normal, reason, message, self.clock.now());
    }

    /// A `Warning` event.
    pub fn warning(&self, object: &ObjectReference, reason: &str, message: &str) {
        self.events.record(
            object,
            EventType::Warning,
            reason,
            message,
            self.clock.now(),
        );
    }

    /// The store recorded into.
    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }
}

impl Store {
    fn evict(&mut self, now: SystemTime) {
        let too_old = |stored: &Stored| {
            now.duration_since(stored.last)
                .is_ok_and(|age| age > MAX_AGE)
        };
        while self.events.len() > MAX_EVENTS || self.events.front().is_some_and(too_old) {
            let Some(gone) = self.events.pop_front() else {
                break;
            };
            if let Some(n) = self.keys.get_mut(&gone.key) {
                *n -= 1;
                if *n == 0 {
                    self.keys.remove(&gone.key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    fn web() -> ObjectReference {
        ObjectReference::pod("default", "web-node0", "d989").container(false, "web")
    }

    #[test]
    fn a_repeat_counts_up_one_event_and_a_new_message_is_a_new_event() {
        let events = Events::new("node0");
        let mut changes = events.subscribe();
        events.record(
            &web(),
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container web",
            at(0),
        );
        events.record(
            &web(),
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container web",
            at(30),
        );
        events.record(
            &web(),
            EventType::Normal,
            "Started",
            "Started container web",
            at(40),
        );
        let list = events.list();
        assert_eq!(list.len(), 2);
        let backoff = &list[0];
        assert_eq!(backoff.count, 2);
        assert_eq!(backoff.first_timestamp, timestamp(at(0)));
        assert_eq!(backoff.last_timestamp, timestamp(at(30)));
        assert_eq!(
            backoff.involved_object.field_path.as_deref(),
            Some("spec.containers{web}")
        );
        assert_eq!(backoff.source.component, "kubelet");
        assert_eq!(backoff.metadata.namespace, "default");
        events.record(
            &ObjectReference::node("node0"),
            EventType::Warning,
            "ManifestInvalid",
            "web.yaml: invalid",
            at(50),
        );
        let node_event = events.list().pop().unwrap();
        assert_eq!(node_event.metadata.namespace, "default");
        assert_eq!(node_event.involved_object.namespace, "");
        assert_eq!(events.version(), 4);
        let seen: Vec<u32> = std::iter::from_fn(|| changes.try_recv().ok())
            .map(|e| e.count)
            .collect();
        assert_eq!(seen, [1, 2, 1, 1], "every record is a change a watch sees");
    }

    #[test]
    fn the_store_is_bounded_in_number_and_age() {
        let events = Events::new("node0");
        for i in 0..(MAX_EVENTS + 10) {
            let message = format!("Started container web ({i})");
            events.record(&web(), EventType::Normal, "Started", &message, at(i as u64));
        }
        let list = events.list();
        assert_eq!(list.len(), MAX_EVENTS);
        assert_eq!(list[0].message, "Started container web (10)");
        let later = at(MAX_EVENTS as u64 + 10 + MAX_AGE.as_secs());
        events.record(
            &web(),
            EventType::Normal,
            "Killing",
            "Stopping container web",
            later,
        );
        let left: Vec<String> = events.list().into_iter().map(|e| e.reason).collect();
        assert!(
            left.len() < 10,
            "events older than an hour are gone: {left:?}"
        );
        assert_eq!(left.last().map(String::as_str), Some("Killing"));
    }

    /// Fault 4d of the matrix records one event per invalid file at start (thousands): each
    /// is known new by its key, and an event pushed out of the store is new again when it
    /// comes back, while a repeat of a kept one still counts up.
    #[test]
    fn thousands_of_distinct_events_stay_bounded_and_repeats_still_count_up() {
        let events = Events::new("node0");
        let record = |i: usize| {
            let message = format!("m{i:04}.yaml: invalid");
            let node = ObjectReference::node("node0");
            events.record(
                &node,
                EventType::Warning,
                "ManifestInvalid",
                &message,
                at(1),
            );
        };
        for i in 0..5000 {
            record(i);
        }
        assert_eq!(events.list().len(), MAX_EVENTS);
        record(4999);
        record(0);
        let list = events.list();
        assert_eq!(list.len(), MAX_EVENTS);
        let count = |message: &str| list.iter().find(|e| e.message == message).map(|e| e.count);
        assert_eq!(
            count("m4999.yaml: invalid"),
            Some(2),
            "a kept event counts up"
        );
        assert_eq!(
            count("m0000.yaml: invalid"),
            Some(1),
            "an evicted one is new"
        );
        assert_eq!(count("m4000.yaml: invalid"), None, "pushed out by m0000");
    }
}

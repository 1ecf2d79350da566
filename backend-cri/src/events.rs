//! The change feed behind `watch`, from the first of these the runtime serves:
//!
//! 1. CRI's `GetContainerEvents` (containerd 1.7+, CRI-O): one nudge per event;
//! 2. containerd's own event service on the same socket (`Events/Subscribe`, containerd 1.6,
//!    whose CRI has no events): one nudge per start, exit, OOM kill or removal of a container
//!    in CRI's namespace, and one more [`SETTLE`] after the last of a burst, because the CRI
//!    plugin updates the status it answers with only after it has handled the event;
//! 3. neither: a nudge every [`RELIST_WITHOUT_EVENTS`], the kubelet's PLEG period.
//!
//! A broken stream is reopened with capped back-off, and the agent is nudged once after each
//! reopening, since changes may have been missed meanwhile. Not the core's
//! [`staticpod_runtime::event_feed::follow`]: there is no ping to wait on, since opening the
//! gRPC stream is itself the check that the runtime answers (and resets the back-off), and a
//! runtime without the method gets no stream at all.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use prost::Message;
use staticpod_runtime::backoff::Backoff;
use staticpod_runtime::event_feed::{RECONNECT_INITIAL, RECONNECT_MAX, notify};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;
use tonic::transport::Channel;

use crate::api::containerd_events::events_client::EventsClient;
use crate::api::containerd_events::{Envelope, SubscribeRequest, TaskDelete, TaskExit};
use crate::api::v1::GetEventsRequest;
use crate::api::v1::runtime_service_client::RuntimeServiceClient;
use crate::error::{CallError, is_unimplemented};

/// How long after containerd's last event the runtime is relisted once more: by then the CRI
/// plugin has handled the exit (deleted the task, recorded the exit code), which the relist
/// made at the event itself may not show yet.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);

/// How often the agent is nudged when the runtime offers no events at all.
pub(crate) const RELIST_WITHOUT_EVENTS: Duration = Duration::from_secs(1);

/// The containerd namespace the CRI plugin keeps its containers and sandboxes in.
pub(crate) const CRI_NAMESPACE: &str = "k8s.io";

/// containerd's topics after which a relist may see something new: a task started, a
/// container's process exited (and its task was deleted), an OOM kill, a container removed.
/// Creations are left out: a container is of interest once it runs.
const TOPICS: [&str; 5] = [
    "/tasks/start",
    "/tasks/exit",
    "/tasks/delete",
    "/tasks/oom",
    "/containers/delete",
];

/// The clients a feed is opened with; they share the runtime's one connection.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    /// CRI's runtime service.
    pub runtime: RuntimeServiceClient<Channel>,
    /// containerd's event service.
    pub events: EventsClient<Channel>,
}

/// A source of change events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// CRI's `GetContainerEvents`.
    Cri,
    /// containerd's `Events/Subscribe`.
    Containerd,
}

/// An open feed: per message, whether it is a change the agent must see.
type Changes = Pin<Box<dyn Stream<Item = Result<bool, Status>> + Send>>;

impl Feed {
    /// The gRPC method, for errors and logs.
    fn method(self) -> &'static str {
        match self {
            Feed::Cri => "GetContainerEvents",
            Feed::Containerd => "containerd Events/Subscribe",
        }
    }

    /// The feed to try when the runtime lacks this one.
    fn fallback(self) -> Option<Feed> {
        match self {
            Feed::Cri => Some(Feed::Containerd),
            Feed::Containerd => None,
        }
    }

    /// When to relist once more after a change, if ever.
    fn settle(self) -> Option<Duration> {
        match self {
            Feed::Cri => None,
            Feed::Containerd => Some(SETTLE),
        }
    }

    async fn open(self, clients: &mut Clients) -> Result<Changes, Status> {
        Ok(match self {
            Feed::Cri => {
                let response = clients.runtime.get_container_events(GetEventsRequest {});
                Box::pin(
                    response
                        .await?
                        .into_inner()
                        .map(|event| event.map(|_| true)),
                )
            }
            Feed::Containerd => {
                let request = SubscribeRequest {
                    filters: subscription_filters(),
                };
                let response = clients.events.subscribe(request).await?;
                Box::pin(
                    response
                        .into_inner()
                        .map(|envelope| envelope.map(|e| is_change(&e))),
                )
            }
        })
    }
}

/// containerd's filters for [`TOPICS`] in CRI's namespace (any one of them matches).
pub(crate) fn subscription_filters() -> Vec<String> {
    TOPICS
        .iter()
        .map(|topic| format!("namespace==\"{CRI_NAMESPACE}\",topic==\"{topic}\""))
        .collect()
}

/// Whether `envelope` tells of a change to a container: every event subscribed to is, but
/// for the exit and deletion of an exec'd process (a probe's, say), which changes nothing
/// the agent lists.
pub(crate) fn is_change(envelope: &Envelope) -> bool {
    let value = envelope.event.as_ref().map(|any| any.value.as_slice());
    let init = |container_id: &str, id: &str| id.is_empty() || id == container_id;
    match (envelope.topic.as_str(), value) {
        ("/tasks/exit", Some(value)) => {
            TaskExit::decode(value).map_or(true, |exit| init(&exit.container_id, &exit.id))
        }
        ("/tasks/delete", Some(value)) => {
            TaskDelete::decode(value).map_or(true, |delete| init(&delete.container_id, &delete.id))
        }
        _ => true,
    }
}

/// How a followed stream ended.
enum Ended {
    /// The receiver was dropped.
    Closed,
    /// The runtime does not serve this feed.
    Unimplemented,
    /// The stream broke or ended.
    Failed(CallError),
}

/// Runs the feed until the receiver is dropped, sending `()` for every change (dropped when
/// one is already pending: the agent relists everything anyway).
pub(crate) async fn run(mut clients: Clients, endpoint: String, tx: mpsc::Sender<()>) {
    let mut feed = Feed::Cri;
    let mut backoff = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
    let mut connected_before = false;
    let mut failing = false;
    loop {
        let opened = tokio::select! {
            _ = tx.closed() => return,
            opened = feed.open(&mut clients) => opened,
        };
        let ended = match opened {
            Ok(stream) => {
                if connected_before && !notify(&tx) {
                    return;
                }
                if failing {
                    tracing::info!(%endpoint, feed = feed.method(), "event stream reopened");
                } else if !connected_before {
                    tracing::debug!(%endpoint, feed = feed.method(), "following runtime events");
                }
                connected_before = true;
                failing = false;
                backoff.reset();
                follow(feed, stream, &tx).await
            }
            Err(status) if is_unimplemented(&status) => Ended::Unimplemented,
            Err(status) => Ended::Failed(CallError::new(feed.method(), status)),
        };
        let failure = match ended {
            Ended::Closed => return,
            Ended::Unimplemented => match feed.fallback() {
                Some(next) => {
                    feed = next;
                    continue;
                }
                None => return without_events(&endpoint, &tx).await,
            },
            Ended::Failed(failure) => failure,
        };
        let delay = backoff.next_delay();
        if failing {
            tracing::debug!(%endpoint, error = %failure, ?delay, "event stream still down");
        } else {
            tracing::warn!(%endpoint, error = %failure, ?delay, "event stream broke; reopening");
            failing = true;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Nudges for each change `stream` brings, and once more [`Feed::settle`] after the last
/// change of a burst, until the stream ends or the receiver is dropped.
async fn follow(feed: Feed, mut stream: Changes, tx: &mpsc::Sender<()>) -> Ended {
    let mut settle_at: Option<Instant> = None;
    loop {
        let settled = async {
            match settle_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            _ = tx.closed() => return Ended::Closed,
            () = settled => {
                settle_at = None;
                if !notify(tx) {
                    return Ended::Closed;
                }
                continue;
            }
            next = stream.next() => next,
        };
        match next {
            Some(Ok(false)) => {}
            Some(Ok(true)) => {
                if !notify(tx) {
                    return Ended::Closed;
                }
                settle_at = feed.settle().map(|after| Instant::now() + after);
            }
            Some(Err(status)) if is_unimplemented(&status) => return Ended::Unimplemented,
            Some(Err(status)) => return Ended::Failed(CallError::new(feed.method(), status)),
            None => {
                let ended = Status::unavailable("the runtime ended the event stream");
                return Ended::Failed(CallError::new(feed.method(), ended));
            }
        }
    }
}

/// Nudges every [`RELIST_WITHOUT_EVENTS`] until the receiver is dropped.
async fn without_events(endpoint: &str, tx: &mpsc::Sender<()>) {
    tracing::info!(
        %endpoint,
        every = ?RELIST_WITHOUT_EVENTS,
        "runtime has neither CRI container events nor containerd's event service: relisting periodically"
    );
    let mut every = tokio::time::interval_at(
        Instant::now() + RELIST_WITHOUT_EVENTS,
        RELIST_WITHOUT_EVENTS,
    );
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = every.tick() => {
                if !notify(tx) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::containerd_events::Any;

    fn envelope(topic: &str, event: Option<Vec<u8>>) -> Envelope {
        Envelope {
            namespace: CRI_NAMESPACE.to_owned(),
            topic: topic.to_owned(),
            event: event.map(|value| Any {
                type_url: String::new(),
                value,
            }),
        }
    }

    #[test]
    fn the_subscription_asks_for_each_topic_in_cris_namespace() {
        assert_eq!(
            subscription_filters(),
            [
                r#"namespace=="k8s.io",topic=="/tasks/start""#,
                r#"namespace=="k8s.io",topic=="/tasks/exit""#,
                r#"namespace=="k8s.io",topic=="/tasks/delete""#,
                r#"namespace=="k8s.io",topic=="/tasks/oom""#,
                r#"namespace=="k8s.io",topic=="/containers/delete""#,
            ]
        );
    }

    #[test]
    fn an_exec_process_ending_is_no_change_and_the_containers_own_is() {
        let exit = |id: &str| TaskExit {
            container_id: "c1".into(),
            id: id.into(),
            pid: 7,
            exit_status: 1,
        };
        let delete = |id: &str| TaskDelete {
            container_id: "c1".into(),
            id: id.into(),
            ..Default::default()
        };
        let exited = |e: TaskExit| is_change(&envelope("/tasks/exit", Some(e.encode_to_vec())));
        let deleted =
            |d: TaskDelete| is_change(&envelope("/tasks/delete", Some(d.encode_to_vec())));
        assert!(exited(exit("c1")), "the container's init process");
        assert!(!exited(exit("probe-exec-1")), "an exec'd process");
        assert!(deleted(delete("")), "an empty id is the init process");
        assert!(!deleted(delete("probe-exec-1")));
        assert!(is_change(&envelope("/tasks/start", None)));
        assert!(
            is_change(&envelope("/tasks/exit", Some(vec![0xff]))),
            "an event that cannot be read is taken as a change"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_nudges_at_once_and_again_once_the_burst_has_settled() {
        let (tx, mut rx) = mpsc::channel(1);
        let (events, stream) = mpsc::unbounded_channel::<Result<bool, Status>>();
        let stream: Changes = Box::pin(tokio_stream_of(stream));
        let started = Instant::now();
        let task = tokio::spawn(async move { follow(Feed::Containerd, stream, &tx).await });
        events.send(Ok(true)).unwrap();
        rx.recv().await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO, "at once");
        tokio::time::sleep(Duration::from_millis(400)).await;
        events.send(Ok(false)).unwrap();
        events.send(Ok(true)).unwrap();
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(400) + SETTLE,
            "once more, SETTLE after the last change"
        );
        drop(events);
        assert!(matches!(task.await.unwrap(), Ended::Failed(_)));
        assert!(rx.recv().await.is_none(), "nothing after the stream ended");
    }

    #[tokio::test(start_paused = true)]
    async fn without_events_the_agent_is_nudged_every_period() {
        let (tx, mut rx) = mpsc::channel(1);
        let started = Instant::now();
        let task = tokio::spawn(async move { without_events("unix:///x.sock", &tx).await });
        for n in 1..=3 {
            rx.recv().await.unwrap();
            assert_eq!(started.elapsed(), RELIST_WITHOUT_EVENTS * n);
        }
        drop(rx);
        task.await.unwrap();
    }

    /// A stream of what `rx` receives.
    fn tokio_stream_of<T: Send + 'static>(
        mut rx: mpsc::UnboundedReceiver<T>,
    ) -> impl Stream<Item = T> + Send {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}

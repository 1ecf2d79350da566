//! The change feed behind `watch`: a background task that follows libpod's `/events` for the
//! objects we manage and nudges the agent to relist, reconnecting with capped exponential
//! back-off when the service goes away.
//!
//! Pod events carry no labels, so the label filter lets only container events through; a
//! pod's infra container carries the pod's labels, so its start, death and removal stand for
//! the pod's. This works with `events_logger = "file"` (no journald): libpod follows its
//! events file for the stream.

use std::time::Duration;

use futures_util::StreamExt;
use podman_api::Podman;
use podman_api::opts::EventsOpts;
use staticpod_core::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Events after which the agent's view is stale (`died` is libpod's name for an exit).
const EVENTS: [&str; 3] = ["start", "died", "remove"];
/// A stream that stayed up this long counts as healthy: the next failure starts the
/// back-off afresh.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Doubling delays between reconnection attempts, from `initial` up to `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay to wait now; the one after is twice as long, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to the initial delay.
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// The event filter: our label, containers and pods, the events in [`EVENTS`].
pub(crate) fn events_opts() -> EventsOpts {
    EventsOpts::builder()
        .stream(true)
        .filters([
            (
                "label".to_owned(),
                vec![format!("{MANAGED_BY}={MANAGED_BY_VALUE}")],
            ),
            (
                "type".to_owned(),
                vec!["container".to_owned(), "pod".to_owned()],
            ),
            (
                "event".to_owned(),
                EVENTS.iter().map(|e| (*e).to_owned()).collect(),
            ),
        ])
        .build()
}

/// Starts the watch task; it ends when the receiver is dropped.
pub(crate) fn spawn_watch(podman: Podman, endpoint: String) -> mpsc::Receiver<()> {
    // One slot: a pending `()` already means "relist", more would add nothing.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        run(
            &podman,
            &endpoint,
            &tx,
            Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
        )
        .await;
        tracing::debug!(endpoint, "Podman event watch ended: receiver dropped");
    });
    rx
}

/// Sends one nudge; `false` once nobody listens any more.
fn notify(tx: &mpsc::Sender<()>) -> bool {
    !matches!(tx.try_send(()), Err(TrySendError::Closed(())))
}

async fn run(podman: &Podman, endpoint: &str, tx: &mpsc::Sender<()>, mut backoff: Backoff) {
    let opts = events_opts();
    let mut reconnecting = false;
    loop {
        if reconnecting {
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let ping = tokio::select! {
                _ = tx.closed() => return,
                ping = podman.ping() => ping,
            };
            if let Err(err) = ping {
                tracing::debug!(endpoint, error = %err, ?delay, "Podman still unreachable");
                continue;
            }
            tracing::info!(endpoint, "Podman event stream reconnected");
            // Whatever changed while we were away is in the relist.
            if !notify(tx) {
                return;
            }
        }

        let mut stream = podman.events(&opts);
        let connected_at = tokio::time::Instant::now();
        let mut received = false;
        loop {
            let item = tokio::select! {
                _ = tx.closed() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(event)) => {
                    received = true;
                    tracing::trace!(action = %event.action, id = %event.actor.id, "Podman event");
                    if !notify(tx) {
                        return;
                    }
                }
                // Every line of this filtered stream is one of our events, even one whose
                // shape podman-api's model does not expect.
                Some(Err(podman_api::Error::SerdeJsonError(err))) => {
                    received = true;
                    tracing::debug!(error = %err, "unexpected Podman event shape");
                    if !notify(tx) {
                        return;
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(endpoint, error = %err, "Podman event stream failed; reconnecting");
                    break;
                }
                None => {
                    tracing::warn!(endpoint, "Podman event stream ended; reconnecting");
                    break;
                }
            }
        }
        if received || connected_at.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        reconnecting = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_libpod::FakeLibpod;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<u128> = (0..9).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn filter_names_our_label_and_the_events_that_matter() {
        let query = events_opts().serialize().expect("a query string");
        let query: String = query.replace("%22", "\"");
        assert!(query.contains("stream=true"), "{query}");
        for needle in [
            "io.staticpod.managed-by%3Dstaticpod",
            "\"start\"",
            "\"died\"",
            "\"remove\"",
            "\"container\"",
            "\"pod\"",
        ] {
            assert!(query.contains(needle), "{needle} missing from {query}");
        }
    }

    #[tokio::test]
    async fn notify_coalesces_and_reports_a_dropped_receiver() {
        let (tx, mut rx) = mpsc::channel(1);
        assert!(notify(&tx));
        assert!(
            notify(&tx),
            "a full channel is a pending relist, not an error"
        );
        assert_eq!(rx.try_recv(), Ok(()));
        assert!(rx.try_recv().is_err(), "two nudges coalesce into one");
        drop(rx);
        assert!(!notify(&tx));
    }

    /// A `died` event as libpod 4.3 streams it.
    const DIED: &str = r#"{"status":"died","id":"c1","from":"docker.io/library/busybox:1.36","Type":"container","Action":"died","Actor":{"ID":"c1","Attributes":{"containerExitCode":"3","image":"docker.io/library/busybox:1.36","name":"k8s_c_p_default_u_0","io.staticpod.managed-by":"staticpod"}},"scope":"local","time":1795817595,"timeNano":1795817595123456789}"#;

    #[tokio::test]
    async fn an_event_nudges_and_a_broken_stream_reconnects_with_one_nudge() {
        // The first stream carries one event, then breaks; the second stays quiet.
        let fake = FakeLibpod::start("4.3.1", vec![(vec![DIED], true), (vec![], false)]);
        let mut rx = spawn_watch(Podman::unix(&fake.socket), fake.endpoint());
        let five_seconds = Duration::from_secs(5);
        let event = tokio::time::timeout(five_seconds, rx.recv()).await;
        assert_eq!(event, Ok(Some(())), "the event");
        let reconnection = tokio::time::timeout(five_seconds, rx.recv()).await;
        assert_eq!(reconnection, Ok(Some(())), "the reconnection");
        let query = fake.requests.lock().unwrap()[0].clone();
        assert!(query.contains("filters="), "{query}");
        assert!(
            tokio::time::timeout(Duration::from_millis(700), rx.recv())
                .await
                .is_err(),
            "nothing more while the stream is quiet"
        );
        assert_eq!(fake.count("/events"), 2, "the stream was opened again");
        assert!(fake.count("/_ping") >= 1, "the service is pinged first");
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_ends_when_the_receiver_is_dropped_even_while_the_service_is_down() {
        let podman = Podman::unix("/nonexistent/staticpod/podman.sock");
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            run(
                &podman,
                "unix:///nonexistent",
                &tx,
                Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            )
            .await
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(rx);
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the task ends")
            .unwrap();
    }
}

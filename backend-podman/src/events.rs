//! The change feed behind `watch`: a background task that follows libpod's `/events` for the
//! objects we manage and nudges the agent to relist, reconnecting with capped exponential
//! back-off when the service goes away (the core's [`event_feed`]).
//!
//! Pod events carry no labels, so the label filter lets only container events through; a
//! pod's infra container carries the pod's labels, so its start, death and removal stand for
//! the pod's. This works with `events_logger = "file"` (no journald): libpod follows its
//! events file for the stream.

use futures_util::{StreamExt, TryFutureExt};
use podman_api::Podman;
use podman_api::opts::EventsOpts;
use staticpod_runtime::backoff::Backoff;
use staticpod_runtime::event_feed::{self, RECONNECT_INITIAL, RECONNECT_MAX, Source};
use staticpod_runtime::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use tokio::sync::mpsc;

/// Events after which the agent's view is stale (`died` is libpod's name for an exit).
const EVENTS: [&str; 3] = ["start", "died", "remove"];

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
        run(&podman, &endpoint, &tx).await;
        tracing::debug!(endpoint, "Podman event watch ended: receiver dropped");
    });
    rx
}

async fn run(podman: &Podman, endpoint: &str, tx: &mpsc::Sender<()>) {
    let opts = events_opts();
    let source = Source {
        runtime: "Podman",
        endpoint,
    };
    // Opened without `since`: what changed while the stream was down is in the relist that
    // follows the reconnection.
    let open = |_since| {
        podman.events(&opts).map(|event| match event {
            Ok(event) => {
                tracing::trace!(action = %event.action, id = %event.actor.id, "Podman event");
                Ok(())
            }
            // Every line of this filtered stream is one of our events, even one whose
            // shape podman-api's model does not expect.
            Err(podman_api::Error::SerdeJsonError(err)) => {
                tracing::debug!(error = %err, "unexpected Podman event shape");
                Ok(())
            }
            Err(err) => Err(err),
        })
    };
    let backoff = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
    event_feed::follow(source, tx, backoff, || podman.ping().map_ok(drop), open).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fake_libpod::FakeLibpod;

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

    /// A `died` event as libpod 4.3 streams it.
    const DIED: &str = r#"{"status":"died","id":"c1","from":"docker.io/library/busybox:1.36","Type":"container","Action":"died","Actor":{"ID":"c1","Attributes":{"containerExitCode":"3","image":"docker.io/library/busybox:1.36","name":"k8s_c_p_default_u_0","io.staticpod.managed-by":"staticpod"}},"scope":"local","time":1795817595,"timeNano":1795817595123456789}"#;

    #[tokio::test]
    async fn an_event_nudges_and_a_broken_stream_reconnects_with_one_nudge() {
        // The first stream carries one event, then breaks; the second stays quiet.
        let fake = FakeLibpod::start("4.3.1", vec![(vec![DIED], true), (vec![], false)]);
        let mut rx = spawn_watch(Podman::unix(&fake.socket), fake.endpoint().to_string());
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
}

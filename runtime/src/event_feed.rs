//! The reconnecting change feed behind a backend's `watch`: follows a runtime's event stream
//! and nudges the agent to relist at every event; when the stream breaks, it waits with
//! capped back-off, pings until the runtime answers, reopens the stream and nudges once for
//! whatever changed meanwhile.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::backoff::Backoff;

/// First wait after a stream broke.
pub const RECONNECT_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait between two attempts to reach the runtime again.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// A stream that stayed up this long counts as healthy: the next failure starts the
/// back-off afresh.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Sends one nudge; `false` once nobody listens any more. A full channel already holds a
/// pending relist, and more would add nothing.
pub fn notify(tx: &mpsc::Sender<()>) -> bool {
    !matches!(tx.try_send(()), Err(TrySendError::Closed(())))
}

/// The runtime a feed follows, for its log lines.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The runtime's name as logs show it: "Docker", "Podman".
    pub runtime: &'a str,
    /// The endpoint it is reached at.
    pub endpoint: &'a str,
}

/// Follows the runtime's events until `tx`'s receiver is dropped, nudging `tx` for each item
/// `open` streams. `open(since)` opens the stream; `since` is when the previous stream ended
/// (or when the feed started), for a runtime that can replay events from then on. A stream
/// ends at its first error or at its end; `ping` then tells when the runtime answers again,
/// between waits from `backoff`.
pub async fn follow<E, P, S>(
    source: Source<'_>,
    tx: &mpsc::Sender<()>,
    mut backoff: Backoff,
    mut ping: impl FnMut() -> P,
    mut open: impl FnMut(SystemTime) -> S,
) where
    E: Display,
    P: Future<Output = Result<(), E>>,
    S: Stream<Item = Result<(), E>>,
{
    let Source { runtime, endpoint } = source;
    let mut since = SystemTime::now();
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
                ping = ping() => ping,
            };
            if let Err(err) = ping {
                tracing::debug!(endpoint, error = %err, ?delay, "{runtime} still unreachable");
                continue;
            }
            tracing::info!(endpoint, "{runtime} event stream reconnected");
            // Whatever changed while we were away is in the relist.
            if !notify(tx) {
                return;
            }
        }

        let mut stream = std::pin::pin!(open(since));
        let connected_at = tokio::time::Instant::now();
        let mut received = false;
        loop {
            let item = tokio::select! {
                _ = tx.closed() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(())) => {
                    received = true;
                    if !notify(tx) {
                        return;
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(endpoint, error = %err, "{runtime} event stream failed; reconnecting");
                    break;
                }
                None => {
                    tracing::warn!(endpoint, "{runtime} event stream ended; reconnecting");
                    break;
                }
            }
        }
        if received || connected_at.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        since = SystemTime::now();
        reconnecting = true;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use futures_util::stream;

    use super::*;

    const SOURCE: Source<'static> = Source {
        runtime: "Fake",
        endpoint: "unix:///fake.sock",
    };

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

    type Item = Result<(), &'static str>;

    /// A runtime whose streams and pings answer from a script (then stay open and quiet,
    /// and answer); `None` streams stay open and quiet.
    #[derive(Clone, Default)]
    struct Script {
        streams: Arc<Mutex<VecDeque<Option<Vec<Item>>>>>,
        pings: Arc<Mutex<VecDeque<Item>>>,
        opened: Arc<Mutex<Vec<SystemTime>>>,
    }

    impl Script {
        fn new(
            streams: impl IntoIterator<Item = Option<Vec<Item>>>,
            pings: impl IntoIterator<Item = Item>,
        ) -> Self {
            let script = Script::default();
            script.streams.lock().unwrap().extend(streams);
            script.pings.lock().unwrap().extend(pings);
            script
        }

        fn ping(&self) -> std::future::Ready<Item> {
            std::future::ready(self.pings.lock().unwrap().pop_front().unwrap_or(Ok(())))
        }

        fn open(&self, since: SystemTime) -> stream::BoxStream<'static, Item> {
            self.opened.lock().unwrap().push(since);
            match self.streams.lock().unwrap().pop_front().flatten() {
                Some(items) => stream::iter(items).boxed(),
                None => stream::pending().boxed(),
            }
        }

        /// Follows this runtime in a task of its own.
        fn follow(&self) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<()>) {
            let (tx, rx) = mpsc::channel(1);
            let feed = self.clone();
            let task = tokio::spawn(async move {
                let backoff = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
                follow(
                    SOURCE,
                    &tx,
                    backoff,
                    || feed.ping(),
                    |since| feed.open(since),
                )
                .await;
            });
            (task, rx)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn events_nudge_and_a_broken_stream_reconnects_after_the_runtime_answers() {
        let script = Script::new(
            [Some(vec![Ok(()), Err("broken pipe")]), None],
            [Err("refused")],
        );
        let (task, mut rx) = script.follow();
        assert_eq!(rx.recv().await, Some(()), "the event");
        let before = tokio::time::Instant::now();
        assert_eq!(rx.recv().await, Some(()), "the reconnection");
        // One failed ping after 0.5 s, then a good one after 1 s more.
        assert_eq!(before.elapsed(), Duration::from_millis(1500));
        assert_eq!(script.opened.lock().unwrap().len(), 2);
        assert!(
            tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .is_err(),
            "nothing more while the stream is quiet"
        );
        drop(rx);
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_feed_ends_when_the_receiver_is_dropped_even_while_the_runtime_is_down() {
        let script = Script::new(
            [Some(vec![Err("refused")])],
            std::iter::repeat_n(Err("refused"), 100),
        );
        let (task, rx) = script.follow();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(rx);
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the feed ends")
            .unwrap();
    }
}

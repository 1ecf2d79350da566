//! The change feed behind `watch`: a background task that follows Docker's `/events` for the
//! containers we manage and nudges the agent to relist, reconnecting with capped exponential
//! back-off when the daemon goes away.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use staticpod_core::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Container events after which the agent's view is stale.
const ACTIONS: [&str; 5] = ["create", "start", "die", "oom", "destroy"];
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

    /// The delay to wait now; the following one is twice as long, up to the cap.
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

/// Starts the watch task; it ends when the receiver is dropped.
pub(crate) fn spawn_watch(docker: Docker, endpoint: String) -> mpsc::Receiver<()> {
    // One slot: a pending `()` already means "relist", more would add nothing.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        run(
            docker,
            &endpoint,
            &tx,
            Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
        )
        .await;
        tracing::debug!(endpoint, "Docker event watch ended: receiver dropped");
    });
    rx
}

/// Sends one nudge; `false` once nobody listens any more.
fn notify(tx: &mpsc::Sender<()>) -> bool {
    !matches!(tx.try_send(()), Err(TrySendError::Closed(())))
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

async fn run(docker: Docker, endpoint: &str, tx: &mpsc::Sender<()>, mut backoff: Backoff) {
    // Docker replays its recent events from `since`, so what happens between this call and
    // the request reaching the daemon (or during an outage) is not lost. A second of overlap
    // costs at most one extra relist.
    let mut since = unix_seconds(SystemTime::now()).saturating_sub(1);
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
                ping = docker.ping() => ping,
            };
            if let Err(err) = ping {
                tracing::debug!(endpoint, error = %err, ?delay, "Docker still unreachable");
                continue;
            }
            tracing::info!(endpoint, "Docker event stream reconnected");
            // Whatever changed while we were away is in the relist.
            if !notify(tx) {
                return;
            }
        }

        let filters = HashMap::from([
            ("type", vec!["container".to_owned()]),
            ("label", vec![format!("{MANAGED_BY}={MANAGED_BY_VALUE}")]),
            ("event", ACTIONS.iter().map(|a| (*a).to_owned()).collect()),
        ]);
        let options = EventsOptionsBuilder::new()
            .since(&since.to_string())
            .filters(&filters)
            .build();
        let mut stream = docker.events(Some(options));
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
                    tracing::trace!(action = ?event.action, "Docker event");
                    if !notify(tx) {
                        return;
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(endpoint, error = %err, "Docker event stream failed; reconnecting");
                    break;
                }
                None => {
                    tracing::warn!(endpoint, "Docker event stream ended; reconnecting");
                    break;
                }
            }
        }
        if received || connected_at.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        since = unix_seconds(SystemTime::now()).saturating_sub(1);
        reconnecting = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<u64> = (0..9)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(500));
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
}

//! The change feed behind `watch`: CRI's `GetContainerEvents` stream (containerd 1.7+),
//! reopened with capped back-off when it breaks.

use std::time::Duration;

use k8s_cri::v1::GetEventsRequest;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::error::{CallError, is_unimplemented};

/// First wait after the stream broke.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Doubling back-off between `min` and `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            next: min,
            min,
            max,
        }
    }

    /// The wait before the next attempt; each call doubles the following one, up to `max`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to `min` once an attempt worked.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Runs the feed until the receiver is dropped. Sends `()` for every event (dropped when one
/// is already pending: the agent relists everything anyway) and once after each reconnect,
/// since changes may have been missed while the stream was down. A runtime without the method
/// (containerd 1.6) gets no stream at all: the task then only waits for the receiver to go, so
/// the receiver never yields and the agent's periodic resync does the work.
pub(crate) async fn run(
    mut client: RuntimeServiceClient<Channel>,
    endpoint: String,
    tx: mpsc::Sender<()>,
) {
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut connected_before = false;
    let mut failing = false;
    loop {
        let opened = tokio::select! {
            _ = tx.closed() => return,
            opened = client.get_container_events(GetEventsRequest {}) => opened,
        };
        let failure = match opened {
            Ok(response) => {
                let mut stream = response.into_inner();
                if connected_before && tx.try_send(()).is_err() && tx.is_closed() {
                    return;
                }
                if failing {
                    tracing::info!(%endpoint, "CRI event stream reopened");
                }
                connected_before = true;
                failing = false;
                backoff.reset();
                loop {
                    let next = tokio::select! {
                        _ = tx.closed() => return,
                        next = stream.message() => next,
                    };
                    match next {
                        Ok(Some(_event)) => {
                            if let Err(mpsc::error::TrySendError::Closed(())) = tx.try_send(()) {
                                return;
                            }
                        }
                        Ok(None) => {
                            break CallError::new(
                                "GetContainerEvents",
                                tonic::Status::unavailable("the runtime ended the event stream"),
                            );
                        }
                        Err(status) if is_unimplemented(&status) => {
                            return unsupported(&endpoint, &tx).await;
                        }
                        Err(status) => break CallError::new("GetContainerEvents", status),
                    }
                }
            }
            Err(status) if is_unimplemented(&status) => return unsupported(&endpoint, &tx).await,
            Err(status) => CallError::new("GetContainerEvents", status),
        };
        let delay = backoff.next_delay();
        if failing {
            tracing::debug!(%endpoint, error = %failure, ?delay, "CRI event stream still down");
        } else {
            tracing::warn!(%endpoint, error = %failure, ?delay, "CRI event stream broke; reopening");
            failing = true;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Holds the sender, without ever sending, until the receiver is dropped.
async fn unsupported(endpoint: &str, tx: &mpsc::Sender<()>) {
    tracing::info!(
        %endpoint,
        "runtime has no CRI container events (containerd before 1.7): \
         changes are seen at the periodic resync"
    );
    tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(3));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }
}

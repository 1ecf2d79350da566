//! The change feed behind `watch`: CRI's `GetContainerEvents` stream (containerd 1.7+),
//! reopened with capped back-off when it breaks.
//!
//! Not the core's [`staticpod_runtime::event_feed::follow`]: there is no ping to wait on, since opening the
//! gRPC stream is itself the check that the runtime answers (and resets the back-off), and a
//! runtime without the method gets no stream at all.

use staticpod_runtime::backoff::Backoff;
use staticpod_runtime::event_feed::{RECONNECT_INITIAL, RECONNECT_MAX, notify};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::api::v1::GetEventsRequest;
use crate::api::v1::runtime_service_client::RuntimeServiceClient;
use crate::error::{CallError, is_unimplemented};

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
    let mut backoff = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
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
                if connected_before && !notify(&tx) {
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
                            if !notify(&tx) {
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

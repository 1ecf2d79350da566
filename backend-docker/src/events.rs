//! The change feed behind `watch`: a background task that follows Docker's `/events` for the
//! containers we manage and nudges the agent to relist, reconnecting with capped exponential
//! back-off when the daemon goes away (the core's [`event_feed`]).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{StreamExt, TryFutureExt};
use staticpod_runtime::backoff::Backoff;
use staticpod_runtime::event_feed::{self, RECONNECT_INITIAL, RECONNECT_MAX, Source};
use staticpod_runtime::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use tokio::sync::mpsc;

/// Container events after which the agent's view is stale.
const ACTIONS: [&str; 5] = ["create", "start", "die", "oom", "destroy"];

/// Starts the watch task; it ends when the receiver is dropped.
pub(crate) fn spawn_watch(docker: Docker, endpoint: String) -> mpsc::Receiver<()> {
    // One slot: a pending `()` already means "relist", more would add nothing.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let source = Source {
            runtime: "Docker",
            endpoint: &endpoint,
        };
        event_feed::follow(
            source,
            &tx,
            Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX),
            || docker.ping().map_ok(drop),
            |since| {
                docker.events(Some(options(since))).map(|event| {
                    let event = event?;
                    tracing::trace!(action = ?event.action, "Docker event");
                    Ok(())
                })
            },
        )
        .await;
        tracing::debug!(endpoint, "Docker event watch ended: receiver dropped");
    });
    rx
}

/// Our containers' events from `since` on. Docker replays its recent events from `since`, so
/// what happens between this call and the request reaching the daemon (or during an outage)
/// is not lost. A second of overlap costs at most one extra relist.
fn options(since: SystemTime) -> bollard::query_parameters::EventsOptions {
    let since = unix_seconds(since).saturating_sub(1);
    let filters = HashMap::from([
        ("type", vec!["container".to_owned()]),
        ("label", vec![format!("{MANAGED_BY}={MANAGED_BY_VALUE}")]),
        ("event", ACTIONS.iter().map(|a| (*a).to_owned()).collect()),
    ]);
    EventsOptionsBuilder::new()
        .since(&since.to_string())
        .filters(&filters)
        .build()
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

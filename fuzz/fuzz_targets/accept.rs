//! The `Accept` header, any text, as `negotiate` reads it and as the answers follow it: a pod
//! list is a `meta.k8s.io/v1` Table exactly when `wants_table`, `/api` is aggregated
//! discovery exactly when `wants_aggregated_discovery`. Neither decision depends on the order
//! of a range's parameters or on spaces around `;` and `,`, and a range added after the
//! others takes no shape away.

#![no_main]

use std::sync::LazyLock;

use hyper::Method;
use libfuzzer_sys::fuzz_target;
use staticpod_api::NodeApi;
use staticpod_api::negotiate::{AGGREGATED_DISCOVERY, wants_aggregated_discovery, wants_table};
use staticpod_api::respond::{Body, Reply, Request};
use staticpod_fuzz::{assert_well_formed, node_api, now};

static API: LazyLock<NodeApi> = LazyLock::new(node_api);

/// Both decisions about `accept`.
fn decisions(accept: &str) -> (bool, bool) {
    (wants_table(accept), wants_aggregated_discovery(accept))
}

/// `accept` with each range's parameters in the opposite order.
fn parameters_reversed(accept: &str) -> String {
    let ranges: Vec<String> = accept
        .split(',')
        .map(|range| {
            let mut parts: Vec<&str> = range.split(';').collect();
            parts[1..].reverse();
            parts.join(";")
        })
        .collect();
    ranges.join(",")
}

fn ask(path: &str, accept: &str) -> (Reply, Option<serde_json::Value>) {
    let request = Request {
        method: &Method::GET,
        path,
        query: "",
        accept,
    };
    let reply = API.respond(&request, now());
    let json = assert_well_formed(&request, &reply);
    (reply, json)
}

fuzz_target!(|data: &[u8]| {
    let Ok(accept) = std::str::from_utf8(data) else {
        return;
    };
    let (table, aggregated) = decisions(accept);

    let spaced = accept.replace(';', " ; ").replace(',', " , ");
    assert_eq!(decisions(&spaced), (table, aggregated), "{spaced:?}");
    let reversed = parameters_reversed(accept);
    assert_eq!(decisions(&reversed), (table, aggregated), "{reversed:?}");
    let widened = format!("{accept},application/json");
    let (wide_table, wide_aggregated) = decisions(&widened);
    assert!(
        wide_table >= table && wide_aggregated >= aggregated,
        "{widened:?}"
    );

    let (_, pods) = ask("/api/v1/namespaces/default/pods", accept);
    let kind = pods.as_ref().map(|json| json["kind"].clone());
    let expected = if table { "Table" } else { "PodList" };
    assert_eq!(kind, Some(expected.into()), "{accept:?}");

    let (reply, _) = ask("/api", accept);
    let Reply::Body(Body { content_type, .. }) = reply else {
        panic!("/api answered {reply:?}");
    };
    assert_eq!(
        content_type == AGGREGATED_DISCOVERY,
        aggregated,
        "{accept:?}"
    );
});

//! The read-only port's answer to any request line (`METHOD /path?query`, then the `Accept`
//! header on the next line), through `NodeApi::respond`: path routing, the query (`watch`,
//! `resourceVersion`, `timeoutSeconds`, `labelSelector`, `fieldSelector`, `includeObject`,
//! and the log's `PodLogOptions`) and the selectors. Every answer is well formed: a JSON body
//! is JSON, a refusal a v1 `Status` with its code, a watch within the port's limit.

#![no_main]

use std::sync::LazyLock;

use hyper::Method;
use libfuzzer_sys::fuzz_target;
use staticpod_api::NodeApi;
use staticpod_api::respond::Request;
use staticpod_fuzz::{assert_well_formed, node_api, now};

static API: LazyLock<NodeApi> = LazyLock::new(node_api);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (line, accept) = text.split_once('\n').unwrap_or((text, ""));
    let Some((method, target)) = line.split_once(' ') else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let request = Request::new(&method, target, accept);
    let reply = API.respond(&request, now());
    assert_well_formed(&request, &reply);
});

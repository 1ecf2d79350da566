//! What the fuzz targets share: the property every reader of a file must keep (each finding
//! placed inside the text it was given), and the node the API targets ask.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use staticpod_api::NodeApi;
use staticpod_api::respond::{Body, Reply, Request};
use staticpod_core::agent::NodeStatus;
use staticpod_core::diagnostic::{Diagnostic, Position};
use staticpod_core::events::{EventType, Events, ObjectReference};
use staticpod_core::manifest;
use staticpod_core::node::NodeFacts;
use staticpod_core::reconcile::history::History;
use staticpod_core::source::SourceKind;
use staticpod_core::status::{self, StatusInputs};

/// The node the targets read manifests for.
pub const NODE: &str = "node0";
/// The time a pod is first seen, as the agent annotates it.
pub const SEEN: &str = "2026-12-01T08:00:00Z";

/// The lines of `text` as YAML counts them: a line ends at `\n`, `\r\n` or a lone `\r`.
fn yaml_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(['\n', '\r']) {
        lines.push(&rest[..end]);
        let width = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + width..];
    }
    lines.push(rest);
    lines
}

/// The rest of `text`'s line from `at`: `None` when `at` is not on one of its lines or is
/// more than one past the line's end.
fn text_at(lines: &[&str], at: Position) -> Option<String> {
    let index = usize::try_from(at.line).ok()?.checked_sub(1)?;
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let line = lines.get(index)?;
    (column <= line.chars().count()).then(|| line.chars().skip(column).collect())
}

/// Panics unless every diagnostic is about `file` and names a field, when it names one, that
/// is not empty; and, when it has a position, is placed in `text`: on one of its lines, at a
/// column from 1 to one past the line's last character (where a parser stops at the end of
/// a line). A type error that quotes what it found (`invalid i32, found eighty`) has it in
/// the text at that place, after any blanks.
pub fn assert_placed_inside(diagnostics: &[Diagnostic], file: &Path, text: &str) {
    let lines = yaml_lines(text);
    for diagnostic in diagnostics {
        assert_eq!(diagnostic.file, file, "{diagnostic}");
        if let Some(field) = &diagnostic.field {
            assert!(!field.is_empty(), "an empty field name: {diagnostic:?}");
        }
        let Some(at) = diagnostic.position else {
            continue;
        };
        let Some(there) = text_at(&lines, at) else {
            panic!(
                "{diagnostic}: {}:{} is not in the text ({} lines)",
                at.line,
                at.column,
                lines.len()
            );
        };
        // Ours is a terse message and what was found (`invalid i32, found eighty`); the
        // parser's own words may say `found` too (`while scanning a directive, found ...`).
        let quoted = diagnostic
            .message
            .split_once(", found ")
            .filter(|(terse, _)| terse.split_whitespace().count() <= 3);
        if let Some((_, found)) = quoted {
            assert!(
                there.trim_start().starts_with(found),
                "{diagnostic}: the text has {there:?} there"
            );
        }
    }
}

/// A real manifest, kubelet's own example static pod, that the API's node runs.
const STATIC_WEB: &str = include_str!("../../examples/manifests/static-web.yaml");

/// The node the API targets ask: the pods of `examples/manifests/static-web.yaml`, as the
/// agent lists them before their containers start, and two events about them.
pub fn node_api() -> NodeApi {
    let file = Path::new("/etc/kubernetes/manifests/static-web.yaml");
    let loaded = manifest::load(file, SourceKind::File, STATIC_WEB, NODE, SEEN);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let desired: Vec<_> = loaded.pods.into_iter().map(Arc::new).collect();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_576_000);
    let pods = status::pod_list(
        &desired,
        &BTreeMap::new(),
        &StatusInputs {
            history: &History::default(),
            verdicts: &BTreeMap::new(),
            messages: &BTreeMap::new(),
            host_ip: "192.0.2.10",
            runtime_name: "containerd",
            now,
            previous_pass: None,
            backoff: Default::default(),
        },
    );
    let status = NodeStatus {
        pods,
        node: Arc::new(NodeFacts {
            name: NODE.to_string(),
            address: "192.0.2.10".to_string(),
            started_at: Some(now),
            ..NodeFacts::default()
        }),
        ..NodeStatus::default()
    };
    let events = Arc::new(Events::new(NODE));
    for pod in &desired {
        let reference = ObjectReference::pod(pod.namespace(), pod.full_name(), pod.uid());
        events.record(&reference, EventType::Normal, "Scheduled", "Seen", now);
        events.record(&reference, EventType::Warning, "BackOff", "Back-off", now);
    }
    let (_, receiver) = tokio::sync::watch::channel(Arc::new(status));
    NodeApi::new(receiver, events, Arc::default())
}

/// The time the API targets ask at: a minute after the node's pods were seen.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_576_060)
}

/// Panics unless `reply` is a well-formed answer: a body in JSON is JSON, a refusal in JSON
/// is a v1 `Status` carrying the same code, and a watch lasts at most the port's limit.
pub fn assert_well_formed(request: &Request<'_>, reply: &Reply) -> Option<serde_json::Value> {
    match reply {
        Reply::Body(Body {
            code,
            content_type,
            body,
        }) => {
            if !content_type.starts_with("application/json") {
                assert!(
                    std::str::from_utf8(body).is_ok(),
                    "{request:?}: a {content_type} body that is not text"
                );
                return None;
            }
            let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|error| {
                panic!("{request:?}: a JSON body that is not JSON: {error}")
            });
            if !code.is_success() {
                assert_eq!(json["kind"], "Status", "{request:?}: {json}");
                assert_eq!(json["status"], "Failure", "{request:?}: {json}");
                assert_eq!(json["code"], code.as_u16(), "{request:?}: {json}");
            }
            Some(json)
        }
        Reply::Watch(spec) => {
            assert!(
                spec.timeout <= staticpod_api::limits::MAX_WATCH_DURATION,
                "{request:?}: a watch of {:?}",
                spec.timeout
            );
            None
        }
        Reply::Log(_) => None,
    }
}

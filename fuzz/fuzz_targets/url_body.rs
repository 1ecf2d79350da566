//! The manifest URL's answer body, any bytes, as the agent takes it in
//! (`source::http::body_scan`, then `ingest::Manifests`): the desired pods are those of
//! `manifest::load` of the body, each name once; the URL's report says whether the body was
//! used; and the same body again, a `304`, or a failed poll change nothing.

#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use staticpod_core::ingest::Manifests;
use staticpod_core::manifest;
use staticpod_core::source::http::body_scan;
use staticpod_core::source::{HttpAnswer, ReadError, Reading, Snapshot, SourceKind};
use staticpod_fuzz::{NODE, SEEN, assert_placed_inside};

const URL: &str = "http://192.0.2.1/pods.yaml";

fn snapshot(reading: Reading) -> Snapshot {
    Snapshot {
        kind: SourceKind::Http,
        location: URL.to_string(),
        reading,
        answer: Some(HttpAnswer {
            status: 200,
            etag: Some("\"v1\"".to_string()),
            last_modified: None,
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut manifests = Manifests::new(NODE);
    let changed = manifests.update(
        snapshot(Reading::Complete(body_scan(URL, data.to_vec()))),
        SEEN,
    );
    let desired = manifests.desired().to_vec();
    assert_eq!(changed, !desired.is_empty());

    let reports = manifests.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report.file, Path::new(URL));
    assert!(
        report
            .poll
            .as_ref()
            .is_some_and(|poll| poll.error.is_none()),
        "{report:?}"
    );
    match std::str::from_utf8(data) {
        Err(_) => {
            assert!(report.stale && desired.is_empty(), "{report:?}");
        }
        Ok(text) => {
            let loaded = manifest::load(Path::new(URL), SourceKind::Http, text, NODE, SEEN);
            assert_placed_inside(&report.diagnostics, Path::new(URL), text);
            assert_eq!(report.stale, loaded.has_errors(), "{report:?}");
            // The first declaration of each name runs; a later one is refused.
            let mut names = BTreeSet::new();
            let expected: Vec<_> = loaded
                .pods
                .iter()
                .filter(|pod| names.insert((pod.namespace(), pod.full_name())))
                .collect();
            let got: Vec<_> = desired.iter().map(|pod| &**pod).collect();
            assert_eq!(got, expected);
        }
    }
    for pod in &desired {
        assert_eq!(pod.kind, SourceKind::Http);
        assert_eq!(pod.source, Path::new(URL));
    }

    let again = [
        Reading::Complete(body_scan(URL, data.to_vec())),
        Reading::Unchanged,
        Reading::Failed(ReadError::TooLarge { limit: 1 }),
    ];
    for reading in again {
        let what = format!("{reading:?}");
        assert!(
            !manifests.update(snapshot(reading), SEEN),
            "{what} changed the pods"
        );
        assert_eq!(manifests.desired(), desired, "{what} changed the pods");
    }
});

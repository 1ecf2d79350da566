//! `manifest::load` over any text: every finding is placed inside the text, a file with an
//! error yields no pod, and the pods of a good file, written back as YAML (one `PodList`),
//! load to the same pods.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use staticpod_core::manifest::{self, decode};
use staticpod_core::model::PodList;
use staticpod_core::source::SourceKind;
use staticpod_fuzz::{NODE, SEEN, assert_placed_inside};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/etc/kubernetes/manifests/fuzz.yaml");
    let loaded = manifest::load(file, SourceKind::File, text, NODE, SEEN);
    assert_placed_inside(&loaded.diagnostics, file, text);
    if loaded.has_errors() {
        assert!(loaded.pods.is_empty(), "a file with errors yielded pods");
        return;
    }
    let list = PodList {
        api_version: "v1".to_string(),
        kind: "PodList".to_string(),
        metadata: None,
        items: decode::decode(file, text)
            .pods
            .into_iter()
            .map(|decoded| decoded.pod)
            .collect(),
    };
    let yaml = serde_saphyr::to_string(&list).expect("a pod list serializes as YAML");
    let again = manifest::load(file, SourceKind::File, &yaml, NODE, SEEN);
    assert!(
        !again.has_errors(),
        "the pods of a good file, written back, do not load:\n{yaml}\n{:?}",
        again.diagnostics
    );
    assert_eq!(again.pods, loaded.pods, "written back as\n{yaml}");
});

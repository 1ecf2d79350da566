//! `kubelet_config::load` over any text: every finding is placed inside the text, and a file
//! with an error sets nothing (the flags and defaults apply, never half a file).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use staticpod_core::kubelet_config::{self, KubeletConfig};
use staticpod_fuzz::assert_placed_inside;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/var/lib/kubelet/config.yaml");
    let loaded = kubelet_config::load(file, text);
    assert_placed_inside(&loaded.diagnostics, file, text);
    if loaded.has_errors() {
        assert_eq!(
            loaded.config,
            KubeletConfig::default(),
            "{:?}",
            loaded.diagnostics
        );
    }
});

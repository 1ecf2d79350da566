//! The behaviour suite: what a user sees, checked against a real `staticpod run` on each real
//! runtime. The cases are written once, in `behaviour/cases.rs`, and mounted here once per
//! backend, as modules named after the backends (`cargo xtask test` counts the results by
//! those names). Each needs the runtime's endpoint in the environment, so all are ignored by
//! a plain `cargo test`; `cargo xtask test` starts the runtimes and runs them.

// `behaviour/cases.rs` is mounted once per backend on purpose.
#![allow(clippy::duplicate_mod)]

mod support;

use staticpod_runtime::backend::Backend;

#[path = "behaviour/cases.rs"]
mod docker;

#[path = "behaviour/cases.rs"]
mod cri;

#[path = "behaviour/cases.rs"]
mod podman;

#[test]
fn each_copy_of_the_suite_runs_on_the_backend_it_is_named_after() {
    assert_eq!(docker::backend(), Backend::Docker);
    assert_eq!(cri::backend(), Backend::Cri);
    assert_eq!(podman::backend(), Backend::Podman);
}

//! The fault matrix (issue 14, RELIABILITY.md): each fault a node can throw at the agent,
//! made real against a real `staticpod run` on each real runtime, with what it cost counted
//! (pods lost, pods doubled, leftovers, agent restarts and exits). The cases are written
//! once, in `faults/cases.rs`, and mounted here once per backend, as modules named after the
//! backends; each appends its row to `$STATICPOD_FAULTS_REPORT`, which `cargo xtask test
//! --faults` prints as the table. All are ignored by a plain `cargo test`.

// `faults/cases.rs` is mounted once per backend on purpose.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)] // This suite uses only part of the behaviour suite's harness.
mod support;

#[path = "faults/harness.rs"]
mod harness;

#[path = "faults/matrix.rs"]
mod matrix;

#[test]
fn each_copy_of_the_matrix_runs_on_the_backend_it_is_named_after() {
    use staticpod_runtime::backend::Backend;
    assert_eq!(matrix::docker::backend(), Backend::Docker);
    assert_eq!(matrix::cri::backend(), Backend::Cri);
    assert_eq!(matrix::podman::backend(), Backend::Podman);
}

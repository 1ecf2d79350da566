//! The copies of the matrix, one per backend, under `matrix::` so that the integration
//! tests' run of every ignored test (`cargo xtask test`'s) leaves them to the fault phase
//! (`--skip matrix::`).

#[path = "cases.rs"]
pub mod docker;

#[path = "cases.rs"]
pub mod cri;

#[path = "cases.rs"]
pub mod podman;

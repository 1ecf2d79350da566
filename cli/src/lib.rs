//! The library of the `staticpod` binary: what its commands share with the behaviour suite
//! and the agent benchmark, so that both drive the backends exactly as `staticpod run` does.

pub mod runtimes;

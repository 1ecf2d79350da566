//! Runtime-agnostic heart of staticpod: the Pod model, manifest sources, validation and
//! defaulting, and the reconciler that drives a [`runtime::ContainerRuntime`].

pub mod agent;
pub mod backoff;
pub mod call_error;
pub mod cpu;
pub mod diagnostic;
pub mod event_feed;
pub mod exec_output;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod ingest;
pub mod inspect;
pub mod labels;
pub mod manifest;
pub mod model;
pub mod naming;
pub mod probe;
pub mod quantity;
pub mod reconcile;
pub mod runtime;
pub mod source;
pub mod status;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

//! Runtime-agnostic heart of staticpod: the Pod model, manifest sources, validation and
//! defaulting, and the reconciler that drives a [`staticpod_runtime::ContainerRuntime`].

pub mod agent;
pub mod diagnostic;
pub mod error_chain;
pub mod events;
pub mod handler;
pub mod ingest;
pub mod kubelet_config;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod node;
pub mod probe;
pub mod quantity;
pub mod reconcile;
pub mod source;
pub mod status;
pub mod termination;
pub mod verdicts;

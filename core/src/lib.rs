//! Runtime-agnostic heart of staticpod: the Pod model, manifest sources, validation and
//! defaulting, and the reconciler that drives a [`runtime::ContainerRuntime`].

pub mod labels;
pub mod naming;
pub mod runtime;

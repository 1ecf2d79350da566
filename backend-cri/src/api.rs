//! The gRPC APIs this backend speaks, generated from their .protos and committed (`cargo
//! xtask codegen` regenerates them), so that building needs no protobuf compiler: CRI v1, the
//! part of containerd's own event service that tells the backend when to relist, and the part
//! of its task service that clears a task CRI cannot.

pub(crate) mod containerd_events;
pub(crate) mod containerd_tasks;
pub(crate) mod v1;

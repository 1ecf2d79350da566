//! The CRI API this backend speaks, generated from its .proto and committed (`cargo xtask
//! codegen` regenerates it), so that building needs no protobuf compiler.

pub(crate) mod v1;

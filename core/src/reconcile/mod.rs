//! Reconciling: read the runtime, plan, apply. The planner is pure; the executor and the
//! agent loop are the only parts that touch the runtime.

pub mod history;
pub mod observe;
pub mod plan;
pub mod configs;
pub mod expand;
pub mod volumes;
pub mod execute;

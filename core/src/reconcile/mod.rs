//! Reconciling: read the runtime, plan, apply. The planner is pure; the executor and the
//! agent loop are the only parts that touch the runtime.

pub mod admission;
pub mod configs;
pub mod dns;
pub mod downward;
pub mod env_file;
pub mod execute;
pub mod expand;
pub mod history;
pub mod hooks;
pub mod hostname;
pub mod hosts;
pub mod init;
pub mod observe;
pub mod ownership;
pub mod plan;
pub mod security;
#[cfg(test)]
mod tests;
pub mod volumes;

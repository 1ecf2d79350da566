//! The test kit of staticpod (for tests, and for xtask that runs them; no shipped crate
//! depends on it): the in-memory fake runtime for the engine's unit tests, and for tests
//! against real runtimes the fixtures, the clean-up guard, polling helpers, the integration
//! cases every backend runs (the log rotation's among them), and which backend a test runs on.

pub mod backend;
pub mod cases;
pub mod fake;
pub mod fixtures;
pub mod guard;
pub mod log_rotation;
pub mod net;
pub mod servers;
pub mod wait;

pub use fixtures::{container_config, sandbox_config, test_node};
pub use guard::{TestPod, block_on_thread, containers_of, remove_pod, sandboxes_of};
pub use net::{host_port, http_get};
pub use wait::eventually;

//! Which runtime a test against real daemons talks to: `cargo xtask test` starts each
//! runtime and hands its endpoint to the tests in an environment variable.

use staticpod_runtime::backend::Backend;

/// The environment variable through which a test receives `backend`'s endpoint.
pub fn endpoint_var(backend: Backend) -> &'static str {
    match backend {
        Backend::Docker => "STATICPOD_TEST_DOCKER_ENDPOINT",
        Backend::Cri => "STATICPOD_TEST_CRI_ENDPOINT",
        Backend::Podman => "STATICPOD_TEST_PODMAN_ENDPOINT",
    }
}

/// `backend`'s endpoint as `cargo xtask test` (or `bench`) set it, or `None` when it is not
/// set: the test is not run against a real daemon.
pub fn endpoint(backend: Backend) -> Option<String> {
    std::env::var(endpoint_var(backend)).ok()
}

/// `backend`'s endpoint; panics, saying how to run the test, when it is not set.
pub fn require_endpoint(backend: Backend) -> String {
    endpoint(backend).unwrap_or_else(|| {
        panic!(
            "{} is not set: run this test through `cargo xtask test`, which starts the runtime and sets it",
            endpoint_var(backend)
        )
    })
}

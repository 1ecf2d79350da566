//! The gRPC channel to the runtime's unix socket: endpoint parsing and a lazily connecting,
//! self-reconnecting tonic channel.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::CriError;

/// How long opening the socket may take; a unix socket answers at once or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket path of an endpoint: `unix:///path` or a bare path, as the kubelet's
/// `--container-runtime-endpoint` takes it.
pub(crate) fn socket_path(endpoint: &str) -> Result<PathBuf, CriError> {
    let unsupported = || CriError::UnsupportedEndpoint {
        endpoint: endpoint.to_owned(),
    };
    let path = match endpoint.split_once("://") {
        Some(("unix", path)) => path,
        Some(_) => return Err(unsupported()),
        None => endpoint,
    };
    if path.is_empty() {
        return Err(unsupported());
    }
    Ok(PathBuf::from(path))
}

/// A channel that opens the socket on first use and opens it again after the connection
/// breaks (tonic's channel reconnects on the next request), so a runtime that restarts is
/// reached again without a new `CriRuntime`.
pub(crate) fn channel(path: PathBuf) -> Channel {
    // The URI only fills the `:authority` header: the connector ignores it.
    Endpoint::from_static("http://localhost")
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_urls_and_bare_paths_name_the_socket() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            PathBuf::from("/run/containerd/containerd.sock")
        );
        assert_eq!(
            socket_path("/tmp/c.sock").unwrap(),
            PathBuf::from("/tmp/c.sock")
        );
        assert_eq!(
            socket_path("target/runtimes/containerd/containerd.sock").unwrap(),
            PathBuf::from("target/runtimes/containerd/containerd.sock")
        );
    }

    #[test]
    fn other_schemes_are_refused() {
        let err = socket_path("tcp://127.0.0.1:1234").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported endpoint \"tcp://127.0.0.1:1234\": only unix sockets (unix:///path) are supported"
        );
        assert!(socket_path("unix://").is_err());
        assert!(socket_path("").is_err());
    }
}

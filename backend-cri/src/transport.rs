//! The gRPC channel to the runtime's unix socket: a lazily connecting, self-reconnecting
//! tonic channel.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long opening the socket may take; a unix socket answers at once or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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

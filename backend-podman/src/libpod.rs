//! The few libpod REST calls made directly over the unix socket rather than through
//! podman-api, each because the crate gets that call wrong for us:
//!
//! - container create: podman-api 0.11's builder spells `no_new_privileges` as
//!   `no_new_privilages`, which libpod silently ignores, so `allowPrivilegeEscalation: false`
//!   would be lost; here the body is our own typed spec ([`crate::container`]);
//! - container stop: its options send `Timeout`, which libpod ignores (it reads `timeout`),
//!   so every stop would wait Podman's default 10 s instead of the pod's grace period;
//! - pod start: on failure libpod answers 409 with a report of per-container errors, which
//!   podman-api reduces to "Conflict"; we keep the messages (say, a hostPort in use);
//! - container inspect: it always asks for `size=true` (Podman then walks the container's
//!   filesystem on every relist) and decodes into models whose field types follow one Podman
//!   release; we read the handful of fields we need, tolerant of the rest.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A failed direct call to libpod.
#[derive(Debug, thiserror::Error)]
pub enum LibpodError {
    /// The socket could not be connected to.
    #[error("cannot connect to {}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange broke off.
    #[error("the HTTP exchange with libpod failed")]
    Http(#[source] hyper::Error),
    /// A request path that is not a valid URI (an id with odd characters).
    #[error("invalid request path {path}")]
    InvalidPath {
        /// The path.
        path: String,
    },
    /// libpod answered with an error status.
    #[error("libpod answered {status}: {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// libpod's `message` (or the raw body when it is not libpod's error JSON).
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("unreadable answer from libpod")]
    Decode(#[source] serde_json::Error),
}

/// libpod's error body: `message` for most calls, `Errs` for the pod reports (a pod start
/// that failed for some of its containers answers 409 with one message per container).
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "Errs")]
    errs: Option<Vec<String>>,
}

/// A libpod endpoint on a unix socket, speaking one API version.
#[derive(Debug, Clone)]
pub(crate) struct Libpod {
    socket: PathBuf,
    /// `/v4.3.1/libpod`.
    prefix: String,
}

impl Libpod {
    /// Calls to `socket`, with paths under `/v<api_version>/libpod`.
    pub(crate) fn new(socket: &Path, api_version: &str) -> Self {
        Self {
            socket: socket.to_owned(),
            prefix: format!("/v{api_version}/libpod"),
        }
    }

    /// POSTs `body` as JSON to `path` (under `/libpod`) and decodes the JSON answer.
    pub(crate) async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, LibpodError> {
        let body = serde_json::to_vec(body).map_err(LibpodError::Decode)?;
        let answer = self.send(Method::POST, path, body).await?;
        serde_json::from_slice(&answer).map_err(LibpodError::Decode)
    }

    /// POSTs without a body to `path`, ignoring any answer body.
    pub(crate) async fn post(&self, path: &str) -> Result<(), LibpodError> {
        self.send(Method::POST, path, Vec::new()).await.map(drop)
    }

    /// GETs `path` and decodes the JSON answer.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, LibpodError> {
        let answer = self.send(Method::GET, path, Vec::new()).await?;
        serde_json::from_slice(&answer).map_err(LibpodError::Decode)
    }

    /// One request on a connection of its own (libpod keeps none idle for us anyway); any
    /// status other than 2xx is [`LibpodError::Status`].
    async fn send(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Bytes, LibpodError> {
        // The origin form (`/v4.3.1/libpod/...`), never the absolute one (`http://d/v4...`):
        // libpod tells its own requests from Docker-compatible ones by the second segment of
        // the whole URL, so an absolute URL is served as a Docker call, whose stop reads `t`
        // and ignores `timeout` (every stop then waited Podman's default 10 s).
        let uri = format!("{}{path}", self.prefix);
        let uri: hyper::Uri = uri.parse().map_err(|_| LibpodError::InvalidPath {
            path: path.to_owned(),
        })?;
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| LibpodError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(LibpodError::Http)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "libpod connection ended with an error");
            }
        });
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(HOST, hyper::header::HeaderValue::from_static("d"));
        headers.insert(
            CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        let response = sender
            .send_request(request)
            .await
            .map_err(LibpodError::Http)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(LibpodError::Http)?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(status_error(status.as_u16(), &body))
        }
    }
}

/// The error for a non-2xx answer: libpod's `message` (or its pod report's `Errs`) when the
/// body is its error JSON, the body itself otherwise.
fn status_error(status: u16, body: &[u8]) -> LibpodError {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) if !error.message.is_empty() => error.message,
        Ok(ErrorBody {
            errs: Some(errs), ..
        }) if !errs.is_empty() => errs.join("; "),
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    LibpodError::Status { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_carry_libpods_message() {
        let err = status_error(
            404,
            br#"{"cause":"no such container","message":"no container with name or ID \"x\" found: no such container","response":404}"#,
        );
        assert_eq!(
            err.to_string(),
            r#"libpod answered 404: no container with name or ID "x" found: no such container"#
        );
        let err = status_error(
            409,
            br#"{"Errs":["starting container 16f8: cannot listen on the TCP port: listen tcp4 :28111: bind: address already in use"],"Id":"8bbe"}"#,
        );
        assert_eq!(
            err.to_string(),
            "libpod answered 409: starting container 16f8: cannot listen on the TCP port: listen tcp4 :28111: bind: address already in use"
        );
        let err = status_error(500, b"plain text\n");
        assert_eq!(err.to_string(), "libpod answered 500: plain text");
    }

    #[tokio::test]
    async fn requests_name_their_path_in_the_origin_form_that_libpod_recognises() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(request).unwrap()
        });
        let libpod = Libpod::new(&socket, "4.3.1");
        libpod.post("/containers/c1/stop?timeout=29").await.unwrap();
        let request = server.await.unwrap();
        let first = request.lines().next().unwrap();
        assert_eq!(
            first,
            "POST /v4.3.1/libpod/containers/c1/stop?timeout=29 HTTP/1.1"
        );
        assert!(request.contains("host: d\r\n"), "{request}");
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_connect_error() {
        let libpod = Libpod::new(Path::new("/nonexistent/staticpod/podman.sock"), "4.3.1");
        let err = libpod
            .get_json::<serde_json::Value>("/_ping")
            .await
            .expect_err("no socket");
        assert!(matches!(err, LibpodError::Connect { .. }), "{err:?}");
    }
}

//! A scripted stand-in for the libpod service on a unix socket, for unit tests of what the
//! real one cannot be made to do on demand: an old API version, an event stream that breaks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use staticpod_runtime::endpoint::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// How the fake answers `/events`: the event lines of each successive connection, and
/// whether it then ends the stream (`true`) or holds it open.
pub(crate) type EventScript = Vec<(Vec<&'static str>, bool)>;

/// A fake libpod listening on a socket in a temporary directory.
pub(crate) struct FakeLibpod {
    /// The socket.
    pub socket: PathBuf,
    /// The request lines received, in order (`GET /v4.3.1/libpod/_ping HTTP/1.1`).
    pub requests: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl FakeLibpod {
    /// Starts serving: `/_ping` answers with `libpod_api_version`, `/events` follows
    /// `events`, anything else is a 404.
    pub(crate) fn start(libpod_api_version: &'static str, events: EventScript) -> FakeLibpod {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = requests.clone();
        let events = Arc::new(Mutex::new(events.into_iter()));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                let events = events.clone();
                tokio::spawn(async move {
                    serve(stream, libpod_api_version, &seen, &events).await;
                });
            }
        });
        FakeLibpod {
            socket,
            requests,
            _dir: dir,
        }
    }

    /// The endpoint to connect to.
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::Unix(self.socket.clone())
    }

    /// How many requests for `path` (a substring of the request line) came in.
    pub(crate) fn count(&self, path: &str) -> usize {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|line| line.contains(path)).count()
    }
}

async fn serve(
    mut stream: UnixStream,
    libpod_api_version: &str,
    seen: &Mutex<Vec<String>>,
    events: &Mutex<std::vec::IntoIter<(Vec<&'static str>, bool)>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let line = head.lines().next().unwrap_or_default().to_owned();
    seen.lock().unwrap().push(line.clone());
    if line.contains("/_ping") {
        let answer = format!(
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: {libpod_api_version}\r\n\
             Libpod-Buildah-Version: 1.28.2\r\nDocker-Experimental: true\r\n\
             Cache-Control: no-cache\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nOK"
        );
        let _ = stream.write_all(answer.as_bytes()).await;
    } else if line.contains("/events") {
        let next = events.lock().unwrap().next();
        let (lines, end) = next.unwrap_or((vec![], false));
        let mut answer = String::from(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for event in lines {
            let chunk = format!("{event}\n");
            answer.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        if end {
            answer.push_str("0\r\n\r\n");
        }
        let _ = stream.write_all(answer.as_bytes()).await;
        if !end {
            // Hold the stream open until the client goes away.
            let _ = stream.read(&mut byte).await;
        }
    } else {
        let body = r#"{"cause":"no such object","message":"not scripted","response":404}"#;
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
    }
}

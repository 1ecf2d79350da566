//! The read-only port and the health port over HTTP/1.1 (hyper): the thin layer between
//! sockets and [`NodeApi::respond`], where the limits of `limits.rs` are applied: connections
//! and watches beyond their bound are refused with `429`, a body over its bound with `413`,
//! and slow headers are cut off. It listens only where it is given a listener.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use staticpod_core::agent::NodeStatus;
use staticpod_core::error_chain;
use staticpod_runtime::ContainerRuntime;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};

use crate::error::ApiError;
use crate::limits::{
    FIRST_LISTING_WAIT, HEADER_TIMEOUT, MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_HEADER_BYTES,
    MAX_WATCHES,
};
use crate::logs::LogRequest;
use crate::respond::{self, Body as Whole, NodeApi, Reply};
use crate::route::{Route, route};
use crate::watch::stream as watch_stream;

/// A response body: whole, or a watch's stream.
type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// What a port answers.
#[derive(Clone)]
enum Port {
    /// The read-only port: the node's API.
    ReadOnly {
        api: Arc<NodeApi>,
        watches: Arc<Semaphore>,
        runtime: Arc<dyn ContainerRuntime>,
    },
    /// The health port: `GET /healthz` alone.
    Health(watch::Receiver<Arc<NodeStatus>>),
}

/// Serves the read-only port on `listener` until the process ends; containers' logs are
/// read from `runtime`.
pub async fn serve(listener: TcpListener, api: NodeApi, runtime: Arc<dyn ContainerRuntime>) {
    let port = Port::ReadOnly {
        api: Arc::new(api),
        watches: Arc::new(Semaphore::new(MAX_WATCHES)),
        runtime,
    };
    accept(listener, port).await
}

/// Serves the health endpoint on `listener` until the process ends.
pub async fn serve_health(listener: TcpListener, status: watch::Receiver<Arc<NodeStatus>>) {
    accept(listener, Port::Health(status)).await
}

/// Holds a request that reads pods back until the agent's first complete listing (a
/// pass after every source answered), for at most [`FIRST_LISTING_WAIT`]: right after a
/// restart `kubectl get pods` then shows the pods, not an empty list. Health and metrics
/// answer at once.
async fn first_listing(api: &NodeApi, path: &str) {
    // The router's own reading of the path, so `/healthz/` and the like answer at once too.
    if matches!(
        route(path),
        Ok(Route::Healthz | Route::Metrics | Route::ProbeMetrics)
    ) {
        return;
    }
    let mut status = api.status.clone();
    let _ = tokio::time::timeout(FIRST_LISTING_WAIT, status.wait_for(|s| s.listed)).await;
}

async fn accept(listener: TcpListener, port: Port) {
    let connections = Arc::new(Connections::default());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "status endpoint: accept failed");
                continue;
            }
        };
        let Some(mut admitted) = connections.admit() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let port = port.clone();
        tokio::spawn(async move {
            let busy = admitted.busy.clone();
            let service = hyper::service::service_fn(move |request| {
                let port = port.clone();
                let answering = Answering::begin(&busy);
                async move {
                    let response = port.handle(request).await;
                    Ok::<_, Infallible>(response.map(|body| {
                        // Answering until the body is sent (or the client goes): a watch
                        // or a log stream is never closed to make room.
                        body.map_frame(move |frame| {
                            let _answering = &answering;
                            frame
                        })
                        .boxed_unsync()
                    }))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => if let Err(error) = result {
                    tracing::debug!(%error, "status endpoint: connection ended");
                },
                _ = &mut admitted.closed => {
                    tracing::debug!("status endpoint: closed a connection answering nothing to make room");
                }
            }
            // Its place is given back.
            drop(admitted);
        });
    }
}

/// The connections a port holds open, at most [`MAX_CONNECTIONS`], oldest first. A
/// connection that answers no request (its client has not finished a request's headers,
/// or is idle between requests) is the cheapest for a client to hold and the cheapest to
/// lose: when every place is taken, the oldest such one is closed for the newcomer, so a
/// flood of unfinished headers or a slow loris delays no other client (each newcomer
/// displaces the flood's oldest), while requests being answered (a watch, a log stream)
/// keep their connection. Only when every connection is answering is a newcomer refused
/// with `429`.
#[derive(Default)]
struct Connections {
    open: std::sync::Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next: u64,
    /// By age: the id of each connection, how many requests it is answering, and how to
    /// close it.
    by_age: std::collections::BTreeMap<u64, (Arc<AtomicUsize>, oneshot::Sender<()>)>,
}

/// A connection's place, given back when it is dropped.
struct Admitted {
    connections: Arc<Connections>,
    id: u64,
    /// How many of its requests are being answered.
    busy: Arc<AtomicUsize>,
    /// Resolves when the port closes it to make room.
    closed: oneshot::Receiver<()>,
}

impl Connections {
    /// A place for a new connection: a free one, or that of the oldest connection answering
    /// nothing, which is closed. `None` when every connection is answering a request.
    fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.open.lock().expect("connections lock");
        if open.by_age.len() >= MAX_CONNECTIONS {
            let idle = open
                .by_age
                .iter()
                .find(|(_, (busy, _))| busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some((_, close)) = open.by_age.remove(&idle) {
                let _ = close.send(());
            }
        }
        let id = open.next;
        open.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let (close, closed) = oneshot::channel();
        open.by_age.insert(id, (busy.clone(), close));
        Some(Admitted {
            connections: self.clone(),
            id,
            busy,
            closed,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().expect("connections lock");
        open.by_age.remove(&self.id);
    }
}

/// One request being answered on a connection, until dropped with its response's body.
struct Answering(Arc<AtomicUsize>);

impl Answering {
    fn begin(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Answering(busy.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a connection over the limit with `429` and closes it, without reading it.
async fn refuse(mut stream: TcpStream) {
    let body = serde_json::to_vec(
        &ApiError::TooManyRequests {
            what: "connections",
            limit: MAX_CONNECTIONS,
        }
        .status(),
    )
    .expect("a Status serializes");
    let head = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(HEADER_TIMEOUT, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    })
    .await;
}

impl Port {
    async fn handle(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        match self {
            Port::Health(status) => whole(match (request.method(), request.uri().path()) {
                (&Method::GET, "/healthz") => respond::healthz(&status.borrow()),
                _ => Whole::text(StatusCode::NOT_FOUND, "not found: try GET /healthz\n"),
            }),
            Port::ReadOnly {
                api,
                watches,
                runtime,
            } => {
                let (parts, body) = request.into_parts();
                if let Err(error) = read_body(body).await {
                    return whole(Whole::error(&error));
                }
                first_listing(api, parts.uri.path()).await;
                let accept = parts
                    .headers
                    .get(hyper::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/json");
                let reply = api.respond(
                    &respond::Request {
                        method: &parts.method,
                        path: parts.uri.path(),
                        query: parts.uri.query().unwrap_or_default(),
                        accept,
                    },
                    SystemTime::now(),
                );
                match reply {
                    Reply::Watch(spec) => {
                        let Ok(permit) = watches.clone().try_acquire_owned() else {
                            return whole(Whole::error(&ApiError::TooManyRequests {
                                what: "watches",
                                limit: MAX_WATCHES,
                            }));
                        };
                        let events = watch_stream(api.clone(), spec).map(move |line| {
                            // The watch counts against the limit until its body is dropped.
                            let _open = &permit;
                            Ok::<_, Infallible>(Frame::data(line))
                        });
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(UnsyncBoxBody::new(StreamBody::new(events)))
                            .expect("a watch response is valid")
                    }
                    Reply::Log(log) => container_log(runtime.as_ref(), log).await,
                    Reply::Body(body) => whole(body),
                }
            }
        }
    }
}

/// A container's log as the kubelet answers it: plain text, streamed as the runtime gives
/// it. An error once the stream has begun ends it (the status line is sent by then), and is
/// logged.
async fn container_log(runtime: &dyn ContainerRuntime, log: LogRequest) -> Response<ResponseBody> {
    let stream = match runtime.logs(&log.container_id, &log.options).await {
        Ok(stream) => stream,
        Err(error) => {
            return whole(Whole::error(&ApiError::Runtime {
                message: error_chain::describe(&error),
            }));
        }
    };
    let id = log.container_id;
    let frames = stream.scan((), move |(), chunk| {
        std::future::ready(match chunk {
            Ok(bytes) => Some(Ok::<_, Infallible>(Frame::data(bytes))),
            Err(error) => {
                let error = error_chain::describe(&error);
                tracing::warn!(container = %id, %error, "container log: reading ended");
                None
            }
        })
    });
    Response::builder()
        .header("content-type", "text/plain")
        .body(UnsyncBoxBody::new(StreamBody::new(frames)))
        .expect("a log response is valid")
}

/// Reads and drops a request's body (a `DELETE`'s options are not acted on), refusing one
/// over [`MAX_BODY_BYTES`].
async fn read_body(body: Incoming) -> Result<(), ApiError> {
    let too_large = ApiError::TooLarge {
        limit: MAX_BODY_BYTES,
    };
    if body
        .size_hint()
        .exact()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large);
    }
    Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map(drop)
        .map_err(|_| too_large)
}

fn whole(
    Whole {
        code,
        content_type,
        body,
    }: Whole,
) -> Response<ResponseBody> {
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .body(UnsyncBoxBody::new(Full::new(Bytes::from(body))))
        .expect("a whole response is valid")
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::respond::tests::node;

    /// Sends `request` on a new connection to `port` and returns the status line of the
    /// answer, and the connection (a watch stays open).
    async fn ask(port: u16, request: &str) -> (String, TcpStream) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n") {
            let mut byte = [0];
            stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        (String::from_utf8(head).unwrap().trim().to_string(), stream)
    }

    async fn started() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (status, api) = node();
        // The status feed stays open for the test's length.
        std::mem::forget(status);
        let api = Arc::into_inner(api).expect("the only reference");
        let runtime = Arc::new(staticpod_testkit::fake::FakeRuntime::default());
        tokio::spawn(serve(listener, api, runtime));
        port
    }

    /// A port whose agent has not listed its pods yet: the port, the status feed, and the
    /// listed status to send on it.
    async fn started_unlisted() -> (u16, watch::Sender<Arc<NodeStatus>>, Arc<NodeStatus>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (status, api) = node();
        let complete = status.borrow().clone();
        status.send_modify(|s| *s = Arc::new(NodeStatus::default()));
        let api = Arc::into_inner(api).expect("the only reference");
        let runtime = Arc::new(staticpod_testkit::fake::FakeRuntime::default());
        tokio::spawn(serve(listener, api, runtime));
        (port, status, complete)
    }

    const WATCH: &str = "GET /api/v1/pods?watch=true HTTP/1.1\r\nhost: node\r\n\r\n";

    #[tokio::test]
    async fn a_pod_list_asked_before_the_first_listing_waits_for_it() {
        let (port, status, complete) = started_unlisted().await;
        let health = "GET /healthz HTTP/1.1\r\nhost: node\r\nconnection: close\r\n\r\n";
        let (line, _) = ask(port, health).await;
        assert_eq!(line, "HTTP/1.1 200 OK", "health answers at once");
        let pods = "GET /pods HTTP/1.1\r\nhost: node\r\nconnection: close\r\n\r\n";
        let asked = tokio::spawn(async move {
            let (_, mut stream) = ask(port, pods).await;
            let mut rest = String::new();
            stream.read_to_string(&mut rest).await.unwrap();
            rest
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!asked.is_finished(), "no answer before the first listing");
        status.send_replace(complete);
        let body = asked.await.unwrap();
        assert!(body.contains("web-node0"), "{body}");
    }

    #[tokio::test]
    async fn watches_beyond_the_limit_are_refused_and_a_closed_one_frees_its_place() {
        let port = started().await;
        let mut open = Vec::new();
        for _ in 0..MAX_WATCHES {
            let (status, stream) = ask(port, WATCH).await;
            assert_eq!(status, "HTTP/1.1 200 OK");
            open.push(stream);
        }
        let (status, _) = ask(port, WATCH).await;
        assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
        drop(open.pop());
        let mut freed = false;
        for _ in 0..50 {
            if ask(port, WATCH).await.0 == "HTTP/1.1 200 OK" {
                freed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(freed, "a closed watch's place is taken again");
    }

    #[tokio::test]
    async fn bodies_beyond_the_limit_are_refused() {
        let port = started().await;
        let large = format!(
            "DELETE /api/v1/namespaces/default/pods/web-node0 HTTP/1.1\r\nhost: node\r\ncontent-length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(ask(port, &large).await.0, "HTTP/1.1 413 Payload Too Large");
        let delete = "DELETE /api/v1/namespaces/default/pods/web-node0 HTTP/1.1\r\nhost: node\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(ask(port, delete).await.0, "HTTP/1.1 403 Forbidden");
    }

    /// Fault 5 of the matrix: connections holding unfinished headers (a flood, a slow loris)
    /// delay no other client: each newcomer takes the oldest one's place.
    #[tokio::test]
    async fn a_flood_of_unfinished_headers_gives_way_to_each_new_client() {
        let port = started().await;
        let mut flood = Vec::new();
        for _ in 0..3 * MAX_CONNECTIONS {
            let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            held.write_all(b"GET /pods HTTP/1.1\r\nhost: x\r\n")
                .await
                .unwrap();
            flood.push(held);
        }
        for _ in 0..10 {
            let (status, _) = ask(port, "GET /version HTTP/1.1\r\nhost: node\r\n\r\n").await;
            assert_eq!(status, "HTTP/1.1 200 OK");
        }
        // The oldest of the flood were closed to make room; the port read nothing from them.
        let mut byte = [0];
        assert_eq!(flood[0].read(&mut byte).await.unwrap(), 0, "closed");
    }

    /// Only when every connection is answering a request is a newcomer refused: here the
    /// pod lists held for the first listing, which never comes.
    #[tokio::test]
    async fn connections_beyond_the_limit_all_answering_are_refused() {
        let (port, _feed, _) = started_unlisted().await;
        let mut waiting = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut asking = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            asking
                .write_all(b"GET /pods HTTP/1.1\r\nhost: node\r\n\r\n")
                .await
                .unwrap();
            waiting.push(asking);
        }
        // Every request has reached the port before the newcomer comes.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (status, _) = ask(port, "GET /version HTTP/1.1\r\nhost: node\r\n\r\n").await;
        assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
    }
}

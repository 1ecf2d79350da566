//! The read-only port, like the kubelet's: `GET /pods` (a v1 `PodList`), `GET /manifests`
//! (each manifest file's pods, errors and warnings, and the URL's last poll) and `GET
//! /healthz`; and the health endpoint (`--healthz-port`), which serves `/healthz` alone.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use staticpod_core::agent::NodeStatus;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A handler of one request, from the node's latest status.
type Handler = fn(&Request<Incoming>, &NodeStatus) -> Response<Full<Bytes>>;

/// Serves the read-only port until the process ends.
pub async fn serve(listener: TcpListener, status: watch::Receiver<Arc<NodeStatus>>) {
    serve_with(listener, status, respond).await
}

/// Serves the health endpoint until the process ends.
pub async fn serve_health(listener: TcpListener, status: watch::Receiver<Arc<NodeStatus>>) {
    serve_with(listener, status, health_only).await
}

async fn serve_with(
    listener: TcpListener,
    status: watch::Receiver<Arc<NodeStatus>>,
    handler: Handler,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "status endpoint: accept failed");
                continue;
            }
        };
        let status = status.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let snapshot = status.borrow().clone();
                async move { Ok::<_, Infallible>(handler(&request, &snapshot)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "status endpoint: connection ended");
            }
        });
    }
}

fn respond(request: &Request<Incoming>, status: &NodeStatus) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
    }
    match request.uri().path() {
        "/pods" | "/pods/" => json(&status.pods),
        "/manifests" => json(&status.manifests),
        "/healthz" => healthz(status),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /pods, /manifests or /healthz\n",
        ),
    }
}

fn health_only(request: &Request<Incoming>, status: &NodeStatus) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => healthz(status),
        _ => text(StatusCode::NOT_FOUND, "not found: try GET /healthz\n"),
    }
}

/// `GET /healthz`: `ok` once the runtime answers and every source has answered once.
fn healthz(status: &NodeStatus) -> Response<Full<Bytes>> {
    match status.health() {
        Ok(()) => text(StatusCode::OK, "ok\n"),
        Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}\n")),
    }
}

fn json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a static response is valid"),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

fn text(code: StatusCode, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a static response is valid")
}

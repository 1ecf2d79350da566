//! The status endpoint, like the kubelet's read-only port: `GET /pods` (a v1 `PodList`),
//! `GET /manifests` (each manifest file's pods, errors and warnings) and `GET /healthz`.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use staticpod_core::agent::NodeStatus;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves until the process ends.
pub async fn serve(listener: TcpListener, status: watch::Receiver<Arc<NodeStatus>>) {
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
                async move { Ok::<_, Infallible>(respond(&request, &snapshot)) }
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
        "/healthz" => match &status.runtime_error {
            None => text(StatusCode::OK, "ok\n"),
            Some(error) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("container runtime: {error}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /pods, /manifests or /healthz\n",
        ),
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

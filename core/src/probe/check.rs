//! One probe attempt, made by the agent itself — never inside the container, so an image
//! without `curl` or `wget` is probed like any other: an HTTP GET or a TCP connect from the
//! node to the pod's address, or a command run in the container through the runtime.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::model::HttpHeader;

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The probe passed.
    Success,
    /// The probe failed, and why (the kubelet's words where it has them).
    Failure(String),
}

/// `User-Agent` the kubelet sends, so servers that special-case probes recognise ours.
const USER_AGENT: &str = "kube-probe/1.30";

/// An HTTP GET to `host:port` + `path`: success for a status from 200 to 399.
pub async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[HttpHeader],
    limit: Duration,
) -> Outcome {
    let attempt = async {
        let mut stream = TcpStream::connect((host, port)).await?;
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
        let has = |name: &str| headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
        if !has("User-Agent") {
            request.push_str(&format!("User-Agent: {USER_AGENT}\r\n"));
        }
        if !has("Accept") {
            request.push_str("Accept: */*\r\n");
        }
        for header in headers {
            request.push_str(&format!("{}: {}\r\n", header.name, header.value));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        // The status line is all we need; read until its end or 1 KiB.
        let mut head = Vec::with_capacity(256);
        let mut buffer = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        Ok::<_, std::io::Error>(
            String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        )
    };
    match timeout(limit, attempt).await {
        Err(_) => Outcome::Failure(format!(
            "Get \"http://{host}:{port}{path}\": timeout after {}s",
            limit.as_secs()
        )),
        Ok(Err(error)) => Outcome::Failure(format!("Get \"http://{host}:{port}{path}\": {error}")),
        Ok(Ok(status_line)) => {
            let code: Option<u16> = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok());
            match code {
                Some(code) if (200..400).contains(&code) => Outcome::Success,
                Some(code) => {
                    Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
                }
                None => Outcome::Failure(format!("not an HTTP answer: {status_line:?}")),
            }
        }
    }
}

/// A TCP connect to `host:port`.
pub async fn tcp(host: &str, port: u16, limit: Duration) -> Outcome {
    match timeout(limit, TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(error)) => Outcome::Failure(format!("dial tcp {host}:{port}: {error}")),
        Err(_) => Outcome::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn server(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 1024];
            let read = stream.read(&mut request).await.unwrap();
            stream.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&request[..read]).to_string()
        });
        (port, task)
    }

    #[tokio::test]
    async fn http_success_sends_the_kubelets_headers_and_the_manifests() {
        let (port, request) = server("HTTP/1.1 204 No Content\r\n\r\n").await;
        let headers = [HttpHeader {
            name: "X-Check".into(),
            value: "1".into(),
        }];
        assert_eq!(
            http_get(
                "127.0.0.1",
                port,
                "/healthz",
                &headers,
                Duration::from_secs(5)
            )
            .await,
            Outcome::Success
        );
        let request = request.await.unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("User-Agent: kube-probe/"), "{request}");
        assert!(request.contains("X-Check: 1\r\n"), "{request}");
    }

    #[tokio::test]
    async fn http_failure_names_the_status() {
        let (port, _) = server("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        assert_eq!(
            http_get("127.0.0.1", port, "/", &[], Duration::from_secs(5)).await,
            Outcome::Failure("HTTP probe failed with statuscode: 503".into())
        );
    }

    #[tokio::test]
    async fn tcp_succeeds_on_an_open_port_and_fails_on_a_closed_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            tcp("127.0.0.1", port, Duration::from_secs(5)).await,
            Outcome::Success
        );
        drop(listener);
        assert!(matches!(
            tcp("127.0.0.1", port, Duration::from_secs(5)).await,
            Outcome::Failure(_)
        ));
    }
}

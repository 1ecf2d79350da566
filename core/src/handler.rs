//! What a probe or a hook does from the node, made by the agent itself — never inside the
//! container, so an image without `curl` or `grpc_health_probe` is probed like any other: an
//! HTTP GET, a TCP connect or a gRPC health check from the node to the pod's address, with
//! the kubelet's client settings and words. (An `exec` runs in the container, through the
//! runtime.) A leaf: probes and hooks both use it.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::error_chain::describe;
use crate::model::HttpHeader;

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The probe passed.
    Success,
    /// The probe passed with a warning (the kubelet's `probe.Warning`, told in a
    /// `ProbeWarning` event): an HTTP redirect to another host, not followed.
    Warning(String),
    /// The probe failed, and why (the kubelet's words where it has them).
    Failure(String),
}

/// `User-Agent` the kubelet sends (`kube-probe/<major>.<minor>`), so servers that
/// special-case probes recognise ours.
const USER_AGENT: &str = "kube-probe/1.32";
/// The most of a probe's answer that is read, as the kubelet's `maxRespBodyLength`.
const MAX_BODY: usize = 10 * 1024;
/// The most redirects followed, as Go's HTTP client.
const MAX_REDIRECTS: usize = 10;

/// The HTTP client of every probe, built as the kubelet's: certificates are not verified
/// (`InsecureSkipVerify`), no proxy, no connection kept, and redirects followed only while
/// they stay on the same host (a redirect elsewhere ends the probe with its 3xx answer, a
/// success with a warning, as the kubelet's `followNonLocalRedirects=false`).
pub fn client() -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let first_host = attempt
            .previous()
            .first()
            .and_then(|u| u.host_str().map(str::to_owned));
        if attempt.url().host_str().map(str::to_owned) != first_host {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .redirect(redirects)
        .build()
        .expect("the probe client's settings are valid")
}

/// Where an HTTP probe goes.
#[derive(Debug, Clone)]
pub struct HttpTarget<'a> {
    /// `http` or `https`.
    pub https: bool,
    /// The address (an IPv6 address is bracketed in the URL).
    pub host: &'a str,
    /// The port.
    pub port: u16,
    /// The path (and query).
    pub path: &'a str,
    /// The probe's `httpHeaders`; a `Host` header replaces the default one.
    pub headers: &'a [HttpHeader],
}

impl HttpTarget<'_> {
    fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.to_string()
        };
        let slash = if self.path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{host}:{}{slash}{}", self.port, self.path)
    }
}

/// What an HTTP GET got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub code: u16,
    /// The start of the body: the kubelet reads at most 10 KiB of it (`maxRespBodyLength`).
    pub body: String,
}

/// An HTTP GET of `target` with the kubelet's headers: its answer, or why none came (in
/// the words of Go's HTTP client).
pub async fn get(
    client: &reqwest::Client,
    target: &HttpTarget<'_>,
    limit: Duration,
) -> Result<Answer, String> {
    let url = target.url();
    let mut request = client.get(&url).timeout(limit);
    let has = |name: &str| {
        target
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    if !has("User-Agent") {
        request = request.header(reqwest::header::USER_AGENT, USER_AGENT);
    }
    if !has("Accept") {
        request = request.header(reqwest::header::ACCEPT, "*/*");
    }
    for header in target.headers {
        request = request.header(header.name.as_str(), header.value.as_str());
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return Err(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ));
        }
        Err(error) => return Err(format!("Get \"{url}\": {}", describe(&error))),
    };
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(MAX_BODY - body.len())])
            }
            Ok(None) | Err(_) => break,
        }
    }
    Ok(Answer {
        code: response.status().as_u16(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// An HTTP probe of `target`, as the kubelet's: success for a status from 200 to 299; a
/// 3xx is a redirect that was not followed (to another host), a success with a warning
/// holding the body; any other status fails.
pub async fn http_get(
    client: &reqwest::Client,
    target: &HttpTarget<'_>,
    limit: Duration,
) -> Outcome {
    match get(client, target, limit).await {
        Err(message) => Outcome::Failure(message),
        Ok(Answer {
            code: 200..=299, ..
        }) => Outcome::Success,
        Ok(Answer {
            code: 300..=399,
            body,
        }) => Outcome::Warning(format!("Probe terminated redirects, Response body: {body}")),
        Ok(Answer { code, .. }) => {
            Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
        }
    }
}

/// A `grpc.health.v1.Health/Check` of `service` at `host:port`, without TLS, as the
/// kubelet's gRPC probe: success when the answer is `SERVING`, and the kubelet's words for
/// every other case.
pub async fn grpc(host: &str, port: u16, service: &str, limit: Duration) -> Outcome {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let target = format!("{host}:{port}");
    let seconds = limit.as_secs();
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{target}")) else {
        return Outcome::Failure(format!("invalid gRPC target {target:?}"));
    };
    let channel = match timeout(limit, endpoint.connect_timeout(limit).connect()).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(error)) => {
            return Outcome::Failure(format!(
                "timeout: failed to connect service {target:?} within {seconds}s: {}",
                describe(&error)
            ));
        }
        Err(_) => {
            return Outcome::Failure(format!(
                "timeout: failed to connect service {target:?} within {seconds}s"
            ));
        }
    };
    let request = HealthCheckRequest {
        service: service.to_string(),
    };
    match timeout(limit, HealthClient::new(channel).check(request)).await {
        Err(_) => Outcome::Failure(format!(
            "timeout: health rpc did not complete within {seconds}s"
        )),
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
            Outcome::Failure(format!(
                "this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                status.message()
            ))
        }
        Ok(Err(status)) => Outcome::Failure(format!("health rpc probe failed: {status}")),
        Ok(Ok(answer)) => match answer.into_inner().status() {
            ServingStatus::Serving => Outcome::Success,
            other => Outcome::Failure(format!(
                "service unhealthy (responded with {:?})",
                other.as_str_name()
            )),
        },
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server on `host` answering each connection with the next of `answers` (over TLS,
    /// with a self-signed certificate, when `tls`); returns its port and the requests' heads.
    async fn server(
        host: &str,
        tls: bool,
        answers: Vec<String>,
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind((host, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tls.then(staticpod_testkit::servers::self_signed_acceptor);
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().await.unwrap();
                let mut stream: Box<dyn Stream> = match &acceptor {
                    Some(acceptor) => Box::new(acceptor.accept(stream).await.unwrap()),
                    None => Box::new(stream),
                };
                let mut request = vec![0u8; 4096];
                let read = stream.read(&mut request).await.unwrap();
                requests.push(String::from_utf8_lossy(&request[..read]).to_string());
                stream.write_all(answer.as_bytes()).await.unwrap();
                stream.shutdown().await.unwrap();
            }
            requests
        });
        (port, task)
    }

    trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
    impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

    fn answer(status: &str, extra: &str) -> String {
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n")
    }

    async fn probe(
        host: &str,
        port: u16,
        https: bool,
        path: &str,
        headers: &[HttpHeader],
    ) -> Outcome {
        let target = HttpTarget {
            https,
            host,
            port,
            path,
            headers,
        };
        http_get(&client(), &target, Duration::from_secs(5)).await
    }

    fn header(name: &str, value: &str) -> HttpHeader {
        HttpHeader {
            name: name.into(),
            value: value.into(),
        }
    }

    #[tokio::test]
    async fn http_sends_the_kubelets_headers_and_a_host_header_replaces_the_default() {
        let (port, requests) = server("127.0.0.1", false, vec![answer("204 No Content", "")]).await;
        let headers = [header("X-Check", "1"), header("Host", "api.example")];
        let outcome = probe("127.0.0.1", port, false, "/healthz", &headers).await;
        assert_eq!(outcome, Outcome::Success);
        let request = requests.await.unwrap().remove(0).to_ascii_lowercase();
        assert!(
            request.starts_with("get /healthz http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("user-agent: kube-probe/1.32\r\n"),
            "{request}"
        );
        assert!(request.contains("x-check: 1\r\n"), "{request}");
        let hosts: Vec<&str> = request.lines().filter(|l| l.starts_with("host:")).collect();
        assert_eq!(hosts, ["host: api.example"], "one Host header, the probe's");
    }

    #[tokio::test]
    async fn http_failure_names_the_status() {
        let (port, _) = server(
            "127.0.0.1",
            false,
            vec![answer("503 Service Unavailable", "")],
        )
        .await;
        assert_eq!(
            probe("127.0.0.1", port, false, "/", &[]).await,
            Outcome::Failure("HTTP probe failed with statuscode: 503".into())
        );
    }

    #[tokio::test]
    async fn redirects_are_followed_on_the_same_host_only() {
        let (port, requests) = server(
            "127.0.0.1",
            false,
            vec![
                answer("302 Found", "Location: /ready\r\n"),
                answer("500 Internal Server Error", ""),
            ],
        )
        .await;
        assert_eq!(
            probe("127.0.0.1", port, false, "/", &[]).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into()),
            "the redirect on the same host is followed"
        );
        assert!(requests.await.unwrap()[1].starts_with("GET /ready "));
        let elsewhere = "HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1/\r\nContent-Length: 40\r\n\
                         Connection: close\r\n\r\n<a href=\"http://192.0.2.1/\">Found</a>.\n\n";
        let (port, _) = server("127.0.0.1", false, vec![elsewhere.to_string()]).await;
        assert_eq!(
            probe("127.0.0.1", port, false, "/", &[]).await,
            Outcome::Warning(
                "Probe terminated redirects, Response body: <a href=\"http://192.0.2.1/\">Found</a>.\n\n"
                    .into()
            ),
            "a redirect to another host ends the probe with its 3xx: a success with a warning \
             and the body, as the kubelet's"
        );
    }

    #[tokio::test]
    async fn https_does_not_verify_the_certificate_and_reads_the_status() {
        let (port, _) = server(
            "127.0.0.1",
            true,
            vec![
                answer("200 OK", ""),
                answer("500 Internal Server Error", ""),
            ],
        )
        .await;
        assert_eq!(
            probe("127.0.0.1", port, true, "/readyz", &[]).await,
            Outcome::Success
        );
        assert_eq!(
            probe("127.0.0.1", port, true, "/readyz", &[]).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
    }

    #[tokio::test]
    async fn an_ipv6_address_is_probed() {
        let (port, _) = server("::1", false, vec![answer("200 OK", "")]).await;
        assert_eq!(probe("::1", port, false, "/", &[]).await, Outcome::Success);
    }

    #[tokio::test]
    async fn a_grpc_probe_asks_the_health_service_and_reads_its_status() {
        use tonic_health::ServingStatus;
        let (port, reporter) = staticpod_testkit::servers::grpc_health_server(0).await;
        reporter
            .set_service_status("etcd", ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("apiserver", ServingStatus::NotServing)
            .await;
        let limit = Duration::from_secs(5);
        assert_eq!(
            grpc("127.0.0.1", port, "etcd", limit).await,
            Outcome::Success
        );
        assert_eq!(
            grpc("127.0.0.1", port, "apiserver", limit).await,
            Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
        );
        let unknown = grpc("127.0.0.1", port, "nothing", limit).await;
        assert!(
            matches!(&unknown, Outcome::Failure(m) if m.starts_with("health rpc probe failed: ")),
            "{unknown:?}"
        );
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = grpc("127.0.0.1", closed_port, "", limit).await;
        assert!(
            matches!(&refused, Outcome::Failure(m) if m.starts_with("timeout: failed to connect service")),
            "{refused:?}"
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

//! Servers a probe test talks to: an HTTP server over TLS with a self-signed certificate,
//! answering with a status the test can change, and a `grpc.health.v1` server whose
//! services' statuses the test sets. They listen on every address, so a host-network pod's
//! probe (made from the node to the node's address) reaches them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTPS server answering every request with the status it holds.
#[derive(Debug, Clone)]
pub struct HttpsServer {
    /// Its port.
    pub port: u16,
    status: Arc<AtomicU16>,
}

impl HttpsServer {
    /// Starts one on `port` (0 for any) of every address, answering 200; runs until the
    /// test's runtime ends.
    pub async fn start(port: u16) -> HttpsServer {
        let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let acceptor = self_signed_acceptor();
        let status = Arc::new(AtomicU16::new(200));
        let answer = status.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, answer) = (acceptor.clone(), answer.clone());
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let code = answer.load(Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 {code} Probe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        HttpsServer { port, status }
    }

    /// Answers `code` from now on.
    pub fn answer(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost`: what a probe that
/// does not verify certificates, as the kubelet's, must accept.
pub fn self_signed_acceptor() -> tokio_rustls::TlsAcceptor {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("a self-signed certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A gRPC health server on `port` (0 for any) of every address; returns its port and the
/// reporter that sets its services' statuses. Runs until the test's runtime ends.
pub async fn grpc_health_server(port: u16) -> (u16, tonic_health::server::HealthReporter) {
    let listener = TcpListener::bind(("0.0.0.0", port)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (reporter, service) = tonic_health::server::health_reporter();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (port, reporter)
}

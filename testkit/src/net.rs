//! The network side of a test: a hostPort of this test process and a plain HTTP GET.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A hostPort for this test process: `base` plus an offset from the pid (0 to 899), so two
/// runs of a suite at once (a developer's and CI's) do not fight over one port.
pub fn host_port(base: u16) -> u16 {
    base + (std::process::id() % 900) as u16
}

/// A plain HTTP/1.0 `GET /` on 127.0.0.1:`port`; the whole response as text.
pub fn http_get(port: u16) -> std::io::Result<String> {
    request(port, "/")
}

/// A plain HTTP/1.0 `GET path` on 127.0.0.1:`port`; the body of a 200 answer, else what
/// went wrong (the connection's error, or the answer's status line).
pub fn http_get_body(port: u16, path: &str) -> Result<String, String> {
    let response = request(port, path).map_err(|error| error.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
        Ok(body.to_string())
    } else {
        Err(head.lines().next().unwrap_or_default().to_string())
    }
}

fn request(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

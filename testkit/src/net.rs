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
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

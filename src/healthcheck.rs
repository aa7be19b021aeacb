//! `open-webui healthcheck`: asks a running server on this machine whether it
//! is up, for container HEALTHCHECKs that have no shell or curl.
//!
//! One plain HTTP/1.0 request to `/health` with short timeouts, std only (no
//! runtime to start): healthy means the status line says 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The longest answer read; the status line comes first.
const MAX_ANSWER: usize = 4096;

/// Whether `GET http://{host}:{port}/health` answers 200 within `timeout`
/// (connect, send and receive each bounded by it). The error says why not.
pub fn check(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("no address for {host}");
    for addr in addrs {
        match ask(addr, host, timeout) {
            Ok(200) => return Ok(()),
            Ok(status) => last = format!("{addr} answered {status}"),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn ask(addr: SocketAddr, host: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET /health HTTP/1.0\r\nHost: {host}\r\nUser-Agent: open-webui-healthcheck\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    // Read until the status line is complete (or the peer closes).
    while !answer.contains(&b'\n') && answer.len() < MAX_ANSWER {
        match stream.read(&mut buf)? {
            0 => break,
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
    status_of(&answer)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer"))
}

/// The status code of an `HTTP/1.x NNN ...` status line.
fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then_some(())?;
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_of(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(status_of(b""), None);
    }
}

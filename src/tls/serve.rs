//! The HTTPS accept loop and the plain-HTTP redirect.
//!
//! Each accepted connection gets a bounded TLS handshake, then HTTP/2 or
//! HTTP/1.1 as ALPN decided (HTTP/1.1 keeps upgrades, so WebSockets work).
//! On shutdown the listener closes, open connections are asked to finish
//! (HTTP/2 GOAWAY, HTTP/1.1 closes after the current response) and are given
//! a bounded time to do so.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (HTTP/1.1).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long open connections get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTPS on `listener` until `stop` is cancelled. `make` builds the
/// service for one connection from the client's address.
pub async fn serve_tls<M, S, B>(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    make: M,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    M: Fn(SocketAddr) -> S,
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let acceptor = TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // A client gets this long to send its request headers (no slow drip
    // holding a connection open forever).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait instead of spinning.
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(make(remote));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake with {remote} failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!("connection from {remote} ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some HTTPS connections did not finish in time");
    }
    Ok(())
}

/// Answers every plain-HTTP request with a 308 to the same path on HTTPS at
/// `https_port`, until `stop` is cancelled.
pub async fn serve_redirect(
    listener: TcpListener,
    https_port: u16,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    loop {
        let (tcp, _) = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let builder = builder.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                Ok::<_, Infallible>(redirect_response(&req, https_port))
            });
            let conn = builder.serve_connection(TokioIo::new(tcp), svc);
            tokio::select! {
                _ = conn => {},
                _ = stop.cancelled() => {},
                _ = tokio::time::sleep(Duration::from_secs(30)) => {},
            }
        });
    }
}

fn redirect_response(req: &Request<Incoming>, https_port: u16) -> Response<Full<Bytes>> {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host());
    let Some(name) = host.and_then(host_without_port) else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"a Host header is needed\n")));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = if https_port == 443 {
        format!("https://{name}{path}")
    } else {
        format!("https://{name}:{https_port}{path}")
    };
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&location) {
        r.headers_mut().insert(hyper::header::LOCATION, v);
    }
    r
}

/// The host part of a Host header (`name`, `name:port`, `[v6]:port`), only
/// when it is made of characters a host name or address can have.
fn host_without_port(host: &str) -> Option<&str> {
    let host = host.trim();
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    ok.then_some(name)
}

/// Runs `fut` and cancels `stop` when it completes (the process's shutdown
/// signal drives both listeners).
pub async fn cancel_on(fut: impl Future<Output = ()>, stop: CancellationToken) {
    fut.await;
    stop.cancel();
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn host_header_forms() {
        assert_eq!(host_without_port("example.org:8080"), Some("example.org"));
        assert_eq!(host_without_port("example.org"), Some("example.org"));
        assert_eq!(host_without_port("[::1]:80"), Some("[::1]"));
        assert_eq!(host_without_port("evil.org/x"), None);
        assert_eq!(host_without_port("a b"), None);
        assert_eq!(host_without_port(""), None);
    }
}

//! A small Socket.IO (v5 over Engine.IO v4, WebSocket only) client for the
//! one namespace an app serves: calls with acknowledgements both ways, text
//! packets only, pings answered. We dial the app; the app never dials us.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};

/// Largest packet read or sent.
pub const MAX_PACKET: usize = 16 * 1024 * 1024;

/// Answers an event the server calls us with (the ack's payload).
pub type Handler = Arc<dyn Fn(String, Value) -> BoxFuture<'static, Value> + Send + Sync>;

/// An open connection to one namespace.
pub struct Client {
    ns: String,
    out: mpsc::Sender<String>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next: AtomicU64,
    closed: CancellationToken,
}

impl Client {
    /// Dials `ws_url` (already vetted, resolved to `addr`) with `headers`,
    /// opens `ns` and serves `handler` until the connection ends.
    pub async fn connect(
        ws_url: &str,
        addr: std::net::SocketAddr,
        bearer: &str,
        ns: &str,
        handler: Handler,
    ) -> ApiResult<Arc<Client>> {
        let fail = || ApiError::BadGateway("Could not open the app's Socket.IO endpoint.".into());
        let mut req = ws_url.into_client_request().map_err(|_| fail())?;
        req.headers_mut().insert(
            "Authorization",
            format!("Bearer {bearer}").parse().map_err(|_| fail())?,
        );
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| fail())?;
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(MAX_PACKET))
            .max_frame_size(Some(MAX_PACKET));
        let (ws, _) = tokio_tungstenite::client_async_tls_with_config(req, tcp, Some(cfg), None)
            .await
            .map_err(|_| fail())?;
        let (mut sink, mut stream) = ws.split();
        // Engine.IO open packet, then the namespace connect.
        let open = next_text(&mut stream).await.ok_or_else(fail)?;
        if !open.starts_with('0') {
            return Err(fail());
        }
        let prefix = if ns == "/" {
            String::new()
        } else {
            format!("{ns},")
        };
        sink.send(Message::text(format!("40{prefix}")))
            .await
            .map_err(|_| fail())?;
        loop {
            let p = next_text(&mut stream).await.ok_or_else(fail)?;
            if p == "2" {
                sink.send(Message::text("3")).await.map_err(|_| fail())?;
                continue;
            }
            if p.starts_with(&format!("40{prefix}")) {
                break;
            }
            return Err(ApiError::forbidden("The app refused the connection."));
        }
        let (out, mut out_rx) = mpsc::channel::<String>(64);
        let client = Arc::new(Client {
            ns: ns.to_string(),
            out,
            pending: Default::default(),
            next: AtomicU64::new(1),
            closed: CancellationToken::new(),
        });
        let closed = client.closed.clone();
        tokio::spawn({
            let closed = closed.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = closed.cancelled() => break,
                        m = out_rx.recv() => match m {
                            Some(t) => if sink.send(Message::text(t)).await.is_err() { break },
                            None => break,
                        },
                    }
                }
                let _ = sink.close().await;
                closed.cancel();
            }
        });
        let weak = Arc::downgrade(&client);
        tokio::spawn(async move {
            loop {
                let p = tokio::select! {
                    _ = closed.cancelled() => break,
                    p = next_text(&mut stream) => p,
                };
                let Some(p) = p else { break };
                let Some(c) = weak.upgrade() else { break };
                if p == "2" {
                    let _ = c.out.send("3".into()).await;
                    continue;
                }
                if p == "1" || p.starts_with(&format!("41{prefix}")) {
                    break;
                }
                if let Some((kind, id, args)) = parse(&p, &prefix) {
                    match kind {
                        Kind::Ack => {
                            let waiter = c.pending.lock().unwrap().remove(&id.unwrap_or(0));
                            if let Some(w) = waiter {
                                let _ = w.send(args.into_iter().next().unwrap_or(Value::Null));
                            }
                        }
                        Kind::Event => {
                            let mut args = args.into_iter();
                            let name = args.next().and_then(|v| v.as_str().map(str::to_string));
                            let (Some(name), Some(id)) = (name, id) else {
                                continue;
                            };
                            let data = args.next().unwrap_or(Value::Null);
                            let h = handler.clone();
                            let out = c.out.clone();
                            let prefix = prefix.clone();
                            tokio::spawn(async move {
                                let answer = h(name, data).await;
                                let text = format!("43{prefix}{id}{}", Value::Array(vec![answer]));
                                if text.len() <= MAX_PACKET {
                                    let _ = out.send(text).await;
                                }
                            });
                        }
                    }
                }
            }
            closed.cancel();
        });
        Ok(client)
    }

    /// Emits `event` with `data` and waits up to `timeout` for the ack.
    pub async fn call(&self, event: &str, data: &Value, timeout: Duration) -> ApiResult<Value> {
        let lost = || {
            ApiError::GatewayTimeout(
                "The app connection was lost or timed out; the outcome is unknown.".into(),
            )
        };
        if self.closed.is_cancelled() {
            return Err(lost());
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let prefix = if self.ns == "/" {
            String::new()
        } else {
            format!("{},", self.ns)
        };
        let text = format!("42{prefix}{id}{}", serde_json::json!([event, data]));
        let sent = self.out.send(text).await.is_ok();
        let got = if sent {
            tokio::select! {
                r = tokio::time::timeout(timeout, rx) => r.ok().and_then(Result::ok),
                _ = self.closed.cancelled() => None,
            }
        } else {
            None
        };
        self.pending.lock().unwrap().remove(&id);
        got.ok_or_else(lost)
    }

    pub fn is_open(&self) -> bool {
        !self.closed.is_cancelled()
    }

    /// Resolves when the connection has ended.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    pub fn close(&self) {
        if !self.closed.is_cancelled() {
            let _ = self.out.try_send(format!("41{},", self.ns));
        }
        self.closed.cancel();
    }
}

enum Kind {
    Event,
    Ack,
}

/// `42<ns>,<id>[...]` or `43<ns>,<id>[...]` in our namespace.
fn parse(p: &str, prefix: &str) -> Option<(Kind, Option<u64>, Vec<Value>)> {
    let kind = match p.get(..2)? {
        "42" => Kind::Event,
        "43" => Kind::Ack,
        _ => return None,
    };
    let rest = p[2..].strip_prefix(prefix)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = rest[..digits].parse().ok();
    let args: Vec<Value> = serde_json::from_str(&rest[digits..]).ok()?;
    Some((kind, id, args))
}

async fn next_text<S>(stream: &mut S) -> Option<String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
            // Binary packets are not part of the app protocol.
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets() {
        let (k, id, a) = parse(r#"42/apps,7["app:request",{"x":1}]"#, "/apps,").unwrap();
        assert!(matches!(k, Kind::Event));
        assert_eq!(id, Some(7));
        assert_eq!(a[0], "app:request");
        let (k, id, _) = parse(r#"43/apps,12[{"status":200}]"#, "/apps,").unwrap();
        assert!(matches!(k, Kind::Ack));
        assert_eq!(id, Some(12));
        assert!(parse(r#"42/other,1["x"]"#, "/apps,").is_none());
        assert!(parse("42/apps,1not json", "/apps,").is_none());
    }
}

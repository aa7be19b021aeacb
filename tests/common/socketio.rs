//! A Socket.IO client for the tests: WebSocket transport, no reconnects,
//! and `connect` returns only once the server has answered the CONNECT
//! packet (this client does not queue emits until then, the browser's does).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use rust_socketio::asynchronous::{Client as SioClient, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::Value;

/// Connects to `url` (`…/ws/socket.io/`) with `auth`. Each payload of the
/// named `events` goes to `on_event` with its event name; `closed` turns true
/// when the server closes the socket or the connection fails.
pub async fn connect<F>(
    url: &str,
    auth: Option<Value>,
    events: &[&'static str],
    on_event: F,
    closed: Arc<AtomicBool>,
) -> SioClient
where
    F: Fn(&'static str, Vec<Value>) + Clone + Send + Sync + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let on_closed = closed.clone();
    let mut b = ClientBuilder::new(url.to_string())
        .on(
            rust_socketio::Event::Connect,
            move |_p: Payload, _c: SioClient| {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                async {}.boxed()
            },
        )
        .on(
            rust_socketio::Event::Close,
            move |_p: Payload, _c: SioClient| {
                on_closed.store(true, Ordering::SeqCst);
                async {}.boxed()
            },
        )
        .on(
            rust_socketio::Event::Error,
            move |_p: Payload, _c: SioClient| {
                closed.store(true, Ordering::SeqCst);
                async {}.boxed()
            },
        )
        .namespace("/")
        .transport_type(TransportType::Websocket)
        .reconnect(false);
    if let Some(a) = auth {
        b = b.auth(a);
    }
    for &ev in events {
        let on_event = on_event.clone();
        b = b.on(ev, move |payload: Payload, _c: SioClient| {
            if let Payload::Text(values) = payload {
                on_event(ev, values);
            }
            async {}.boxed()
        });
    }
    let client = b.connect().await.expect("socket connects");
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("CONNECT answered")
        .unwrap();
    client
}

/// Payloads as they arrive, without their event names.
pub type Seen = Arc<Mutex<Vec<Value>>>;

/// [`connect`] with a token, recording the payloads of `events` in `seen`.
pub async fn connect_recording(
    base: &str,
    token: &str,
    events: &[&'static str],
    seen: Seen,
) -> SioClient {
    let url = format!("{base}/ws/socket.io/");
    let auth = Some(serde_json::json!({"token": token}));
    let record = move |_: &'static str, values: Vec<Value>| seen.lock().unwrap().extend(values);
    connect(&url, auth, events, record, Arc::default()).await
}

//! The provider's side of a Realtime session: one WebSocket (tungstenite on
//! rustls) opened with the admin's credential header, JSON events each way,
//! every message bounded. Protocol noise (pings, pongs, raw frames) never
//! reaches the caller; everything the provider sends that is not a text
//! event ends the session.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The provider answered the handshake with this HTTP status.
    Refused(u16),
    /// No connection (address, network, TLS, a malformed header value).
    Unreachable,
    TimedOut,
}

/// What the provider sent next.
#[derive(Debug)]
pub enum Incoming {
    Text(String),
    /// A binary message: not part of the Realtime protocol.
    Binary,
    /// The connection closed, broke, or sent more than the size limit.
    Closed,
}

/// Sending failed: the connection is gone, or it did not take the event in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    Closed,
    TimedOut,
}

pub struct Provider {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// When anything (pongs included) last came from the provider.
    last_heard: Instant,
}

/// Opens `url` with `headers` (name, value), waiting at most `timeout` for
/// the connection and the handshake. Messages above `max_message` bytes
/// close the session.
pub async fn open(
    url: &str,
    headers: &[(&'static str, String)],
    max_message: usize,
    timeout: Duration,
) -> Result<Provider, OpenError> {
    let mut request = url
        .into_client_request()
        .map_err(|_| OpenError::Unreachable)?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).map_err(|_| OpenError::Unreachable)?;
        request
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, None);
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(OpenError::TimedOut),
        Ok(Err(WsError::Http(response))) => Err(OpenError::Refused(response.status().as_u16())),
        Ok(Err(_)) => Err(OpenError::Unreachable),
        Ok(Ok((ws, _))) => Ok(Provider {
            ws,
            last_heard: Instant::now(),
        }),
    }
}

impl Provider {
    /// The next event; pings are answered and skipped.
    pub async fn next(&mut self) -> Incoming {
        loop {
            let message = self.ws.next().await;
            if matches!(message, Some(Ok(_))) {
                self.last_heard = Instant::now();
            }
            match message {
                Some(Ok(Message::Text(text))) => return Incoming::Text(text.as_str().to_owned()),
                Some(Ok(Message::Binary(_))) => return Incoming::Binary,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Incoming::Closed,
            }
        }
    }

    /// How long the provider has been silent (pongs count as speech).
    pub fn silent_for(&self) -> Duration {
        self.last_heard.elapsed()
    }

    /// Sends one event, giving up after `timeout`.
    pub async fn send(&mut self, event: &Value, timeout: Duration) -> Result<(), SendError> {
        let message = Message::text(event.to_string());
        match tokio::time::timeout(timeout, self.ws.send(message)).await {
            Err(_) => Err(SendError::TimedOut),
            Ok(Err(_)) => Err(SendError::Closed),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// A keep-alive ping; the pong shows up as activity in [`Provider::next`].
    pub async fn ping(&mut self, timeout: Duration) -> Result<(), SendError> {
        let ping = Message::Ping(Vec::new().into());
        match tokio::time::timeout(timeout, self.ws.send(ping)).await {
            Err(_) => Err(SendError::TimedOut),
            Ok(Err(_)) => Err(SendError::Closed),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Closes the session, waiting briefly for the provider to agree.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

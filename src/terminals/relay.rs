//! Interactive terminal sessions: the browser's WebSocket relayed to the
//! terminal server's. The browser signs in with its first message
//! (`{"type": "auth", "token": …, "chat_id": …}`); the terminal server gets
//! its own first message with the credential the connection's auth type
//! calls for. Access is checked again every ten seconds, so a revoked
//! grant or a disabled server ends the session.

use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest message either side may send.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How long the browser has for its sign-in message.
const SIGN_IN_WITHIN: Duration = Duration::from_secs(10);
/// How often access is checked again during a session.
const RECHECK_EVERY: Duration = Duration::from_secs(10);
/// How long opening the terminal server's socket may take.
const OPEN_WITHIN: Duration = Duration::from_secs(30);

/// One WebSocket message, on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// Closing, with a code and a reason.
    Close(u16, String),
}

/// Why a session was refused, as a close code and reason.
fn close(code: u16, reason: &str) -> Frame {
    Frame::Close(code, reason.to_string())
}

/// The signed-in user and the connection, when both still hold: the
/// credential is valid for a `user` or `admin`, the server exists, is on,
/// is shared with them and is offered in chats.
async fn access(state: &AppState, server_id: &str, token: &str) -> Result<(Caller, Value), Frame> {
    if !state.settings.env_flags.enable_tool_servers {
        return Err(close(4003, "Tool servers are disabled"));
    }
    let path = format!("/api/v1/terminals/{server_id}/api/terminals");
    let caller = match crate::auth::credentials::resolve(state, token, &path).await {
        Ok(c) if matches!(c.user.role.as_str(), "user" | "admin") => c,
        _ => return Err(close(4001, "Invalid token")),
    };
    match super::usable(state, &caller, server_id).await {
        Ok(conn) if super::in_chats(&conn) => Ok((caller, conn)),
        Ok(_) => Err(close(4003, "Terminal server is not offered in chats")),
        Err(ApiError::NotFound(_)) => Err(close(4004, "Terminal server not found")),
        Err(ApiError::Forbidden(m)) => Err(Frame::Close(4003, m)),
        Err(_) => Err(close(4003, "Access denied")),
    }
}

/// The sign-in message: its token and chat, or the close frame refusing it.
fn read_sign_in(first: Option<Frame>) -> Result<(String, String), Frame> {
    let Some(Frame::Text(text)) = first else {
        return Err(close(4001, "Expected an auth message"));
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return Err(close(4001, "Auth message is not JSON"));
    };
    if v.get("type").and_then(Value::as_str) != Some("auth") {
        return Err(close(4001, "Expected an auth message"));
    }
    let token = v.get("token").and_then(Value::as_str).unwrap_or("");
    let chat = v.get("chat_id").and_then(Value::as_str).unwrap_or("");
    Ok((token.to_string(), chat.to_string()))
}

type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the terminal server's socket for session `session_id`.
async fn open(
    conn: &Value,
    caller: &Caller,
    session_id: &str,
    chat_id: &str,
) -> Result<Upstream, Frame> {
    let base = super::server_url(conn);
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(close(4003, "Terminal server URL not configured"));
    };
    let context = super::chat_context_id(conn, chat_id);
    if super::per_chat(conn) && context.is_none() {
        return Err(close(4003, "This terminal needs a saved chat"));
    }
    let url = format!(
        "{ws_base}/api/terminals/{}?user_id={}",
        super::encode_segment(session_id),
        super::encode_segment(caller.id())
    );
    let mut request = url
        .into_client_request()
        .map_err(|_| close(1011, "Terminal server URL is not valid"))?;
    let mut headers = vec![
        ("x-user-id", caller.id().to_string()),
        ("x-session-id", chat_id.to_string()),
    ];
    if let Some(c) = context {
        headers.push((super::CONTEXT_HEADER, c));
    }
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            request
                .headers_mut()
                .insert(HeaderName::from_static(name), v);
        }
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), false, None);
    match tokio::time::timeout(OPEN_WITHIN, connecting).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "terminal server socket could not be opened");
            Err(close(1011, "The terminal server could not be reached"))
        }
        Err(_) => Err(close(1011, "The terminal server did not answer in time")),
    }
}

/// The token the terminal server's own sign-in message carries: the
/// connection's key for `bearer`, the browser's credential for an
/// orchestrator with `session` auth, else nothing.
fn upstream_token(conn: &Value, browser_token: &str) -> String {
    match conn
        .get("auth_type")
        .and_then(Value::as_str)
        .unwrap_or("bearer")
    {
        "bearer" => conn
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string(),
        "session" if super::is_orchestrator(conn) => browser_token.to_string(),
        _ => String::new(),
    }
}

/// Runs one session between the browser (`from`, `to`) and terminal server
/// `server_id`, until either side closes or access ends.
pub async fn run<S, K>(
    state: AppState,
    server_id: String,
    session_id: String,
    mut from: S,
    mut to: K,
) where
    S: Stream<Item = Frame> + Unpin + Send,
    K: Sink<Frame> + Unpin + Send,
{
    let first = tokio::time::timeout(SIGN_IN_WITHIN, from.next())
        .await
        .ok()
        .flatten();
    let opened = async {
        let (token, chat_id) = read_sign_in(first)?;
        let (caller, conn) = access(&state, &server_id, &token).await?;
        let mut upstream = open(&conn, &caller, &session_id, &chat_id).await?;
        let hello = json!({"type": "auth", "token": upstream_token(&conn, &token)});
        upstream
            .send(Message::text(hello.to_string()))
            .await
            .map_err(|_| close(1011, "The terminal server closed the session"))?;
        Ok::<_, Frame>((caller, token, upstream))
    }
    .await;
    let (caller, token, upstream) = match opened {
        Ok(o) => o,
        Err(frame) => {
            let _ = to.send(frame).await;
            return;
        }
    };
    publish(
        &state,
        "terminal.session.opened",
        &caller,
        &session_id,
        &server_id,
    );
    let ended = pump(&state, &server_id, &token, &mut from, &mut to, upstream).await;
    let _ = to.send(ended).await;
    publish(
        &state,
        "terminal.session.closed",
        &caller,
        &session_id,
        &server_id,
    );
}

/// Relays messages both ways; the close frame for the browser when done.
async fn pump<S, K>(
    state: &AppState,
    server_id: &str,
    token: &str,
    from: &mut S,
    to: &mut K,
    upstream: Upstream,
) -> Frame
where
    S: Stream<Item = Frame> + Unpin + Send,
    K: Sink<Frame> + Unpin + Send,
{
    let (mut up_tx, mut up_rx) = upstream.split();
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.tick().await;
    loop {
        tokio::select! {
            m = from.next() => {
                let out = match m {
                    Some(Frame::Text(t)) => Message::text(t),
                    Some(Frame::Binary(b)) => Message::binary(b),
                    Some(Frame::Close(..)) | None => {
                        let _ = up_tx.close().await;
                        return close(1000, "");
                    }
                };
                if up_tx.send(out).await.is_err() {
                    return close(1011, "The terminal server closed the session");
                }
            }
            m = up_rx.next() => {
                let out = match m {
                    Some(Ok(Message::Text(t))) => Frame::Text(t.as_str().to_owned()),
                    Some(Ok(Message::Binary(b))) => Frame::Binary(b.to_vec()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return close(1000, ""),
                };
                if to.send(out).await.is_err() {
                    let _ = up_tx.close().await;
                    return close(1000, "");
                }
            }
            _ = recheck.tick() => {
                if let Err(frame) = access(state, server_id, token).await {
                    let _ = up_tx.close().await;
                    return frame;
                }
            }
        }
    }
}

/// Announces a session to the admin's event webhooks.
fn publish(
    state: &AppState,
    name: &'static str,
    caller: &Caller,
    session_id: &str,
    server_id: &str,
) {
    let e = crate::notify::Event::new(name, Some(&caller.user))
        .subject("terminal.session", session_id)
        .data(json!({ "server_id": server_id }));
    crate::notify::publish(state, e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_messages() {
        let ok = read_sign_in(Some(Frame::Text(
            r#"{"type":"auth","token":"t","chat_id":"c"}"#.into(),
        )));
        assert_eq!(ok, Ok(("t".into(), "c".into())));
        assert!(read_sign_in(None).is_err());
        assert!(read_sign_in(Some(Frame::Text("nope".into()))).is_err());
        assert!(read_sign_in(Some(Frame::Text(r#"{"type":"resize"}"#.into()))).is_err());
        assert!(read_sign_in(Some(Frame::Binary(vec![1]))).is_err());
    }

    #[test]
    fn upstream_tokens() {
        let bearer = json!({"auth_type": "bearer", "key": " k "});
        assert_eq!(upstream_token(&bearer, "browser"), "k");
        let session_plain = json!({"auth_type": "session"});
        assert_eq!(upstream_token(&session_plain, "browser"), "");
        let session_orch = json!({"auth_type": "session", "server_type": "orchestrator"});
        assert_eq!(upstream_token(&session_orch, "browser"), "browser");
        assert_eq!(
            upstream_token(&json!({"auth_type": "none", "key": "k"}), "b"),
            ""
        );
    }
}

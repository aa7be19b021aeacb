//! Pushing events to browsers: the Socket.IO room names and a few emit
//! helpers for domain code. The socket server itself (src/socket) puts sockets
//! into these rooms; everything else only sends to them, through the
//! `SocketIo` handle kept in [`AppState`].

use serde::Serialize;

use crate::state::AppState;

/// Who a socket belongs to, kept in the socket's extensions.
#[derive(Clone, Debug)]
pub struct SocketUser {
    pub id: String,
    pub name: String,
    pub role: String,
}

/// Every signed-in tab of one user.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Everyone looking at one chat (the owner's tabs and shared viewers).
pub fn chat_room(chat_id: &str) -> String {
    format!("chat:{chat_id}")
}

/// Everyone in one channel.
pub fn channel_room(channel_id: &str) -> String {
    format!("channel:{channel_id}")
}

/// Sends an `events:channel` payload to everyone in the channel.
pub async fn to_channel(state: &AppState, channel_id: &str, payload: &serde_json::Value) {
    if let Some(io) = state.io() {
        let _ = io
            .to(channel_room(channel_id))
            .emit("events:channel", payload)
            .await;
    }
}

/// Sends `event` to every tab of `user_id`. Does nothing while the socket
/// server is not running; delivery failures are not the sender's concern.
pub async fn to_user<T: Serialize + ?Sized>(
    state: &AppState,
    user_id: &str,
    event: &str,
    payload: &T,
) {
    if let Some(io) = state.io() {
        let _ = io.to(user_room(user_id)).emit(event, payload).await;
    }
}

/// One browser tab of a user, asked about one message of a chat.
pub struct TabTarget<'a> {
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub chat_id: &'a str,
    pub message_id: &'a str,
}

/// How long a tab may take to answer a call that runs something there (code,
/// a tool): `WEBSOCKET_EVENT_CALLER_TIMEOUT` seconds, 300 when unset (the tab
/// itself gives up on a Python run after a minute), at most an hour.
pub fn tab_run_timeout() -> std::time::Duration {
    std::env::var("WEBSOCKET_EVENT_CALLER_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(|s| std::time::Duration::from_secs_f64(s.min(3600.0)))
        .unwrap_or(std::time::Duration::from_secs(300))
}

/// Why a call to one browser tab got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum TabCallError {
    /// The session is unknown, closed, or belongs to someone else.
    Gone,
    /// The tab did not acknowledge within the time allowed.
    Timeout,
}

/// Sends `payload` on event `events` to the one tab `session_id` of
/// `user_id` and waits up to `timeout` for its acknowledgement (what the
/// tab's callback was given). Only the caller's own live tab is ever asked;
/// a tab that disconnects while asked ends the wait at once.
pub async fn call_tab(
    state: &AppState,
    user_id: &str,
    session_id: Option<&str>,
    payload: &serde_json::Value,
    timeout: std::time::Duration,
) -> Result<serde_json::Value, TabCallError> {
    use std::str::FromStr;
    let session_id = session_id.ok_or(TabCallError::Gone)?;
    let io = state.io().ok_or(TabCallError::Gone)?;
    let sid = socketioxide::socket::Sid::from_str(session_id).map_err(|_| TabCallError::Gone)?;
    let socket = io.get_socket(sid).ok_or(TabCallError::Gone)?;
    if socket.extensions.get::<SocketUser>().map(|u| u.id) != Some(user_id.to_string()) {
        return Err(TabCallError::Gone);
    }
    let ack = socket
        .timeout(timeout)
        .emit_with_ack::<_, serde_json::Value>("events", payload)
        .map_err(|_| TabCallError::Gone)?;
    // The pending acknowledgement outlives a closed socket (it only times
    // out), so the socket's state is watched alongside it.
    let gone = async {
        while socket.connected() {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        answer = ack => answer.map_err(|e| match e {
            socketioxide::AckError::Timeout => TabCallError::Timeout,
            _ => TabCallError::Gone,
        }),
        _ = gone => Err(TabCallError::Gone),
    }
}

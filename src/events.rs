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

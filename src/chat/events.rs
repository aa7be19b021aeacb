//! Emitting the `events` envelope the chat UI listens to.

use serde_json::{json, Value};

use crate::events::{chat_room, user_room};
use crate::state::AppState;

/// Sends events about one message of one chat to every tab of its user, and
/// copies of the shareable ones to other viewers of the chat.
#[derive(Clone)]
pub struct Emitter {
    state: AppState,
    user_id: String,
    chat_id: String,
    message_id: String,
    session_id: Option<String>,
}

impl Emitter {
    pub fn new(
        state: &AppState,
        user_id: &str,
        chat_id: &str,
        message_id: &str,
        session_id: Option<&str>,
    ) -> Emitter {
        Emitter {
            state: state.clone(),
            user_id: user_id.to_string(),
            chat_id: chat_id.to_string(),
            message_id: message_id.to_string(),
            session_id: session_id.map(str::to_string),
        }
    }

    pub fn for_message(&self, message_id: &str) -> Emitter {
        Emitter {
            message_id: message_id.to_string(),
            ..self.clone()
        }
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    pub async fn emit(&self, kind: &str, data: Value) {
        let Some(io) = self.state.io() else { return };
        let payload = json!({
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "data": {"type": kind, "data": data},
        });
        let _ = io
            .to(user_room(&self.user_id))
            .emit("events", &payload)
            .await;
    }

    /// A copy for other viewers of the chat (room `chat:<id>`), never back to the
    /// tab that sent the request.
    pub async fn emit_shared(&self, kind: &str, data: Value) {
        let Some(io) = self.state.io() else { return };
        let payload = json!({
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "user_id": self.user_id,
            "shared": true,
            "data": {"type": kind, "data": data},
        });
        let op = io.to(chat_room(&self.chat_id));
        let sid = self
            .session_id
            .as_deref()
            .and_then(|s| s.parse::<socketioxide::socket::Sid>().ok());
        let _ = match sid {
            Some(sid) => op.except(sid).emit("events", &payload).await,
            None => op.emit("events", &payload).await,
        };
    }
}

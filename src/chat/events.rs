//! Emitting the `events` envelope the chat UI listens to.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::channel_sink::ChannelSink;
use crate::events::{chat_room, user_room};
use crate::state::AppState;

/// Events other viewers of a stored chat see as they are.
const SHARED_KINDS: &[&str] = &[
    "chat:active",
    "status",
    "source",
    "citation",
    "files",
    "embeds",
    "chat:message:error",
    "chat:tasks:cancel",
    "chat:message:follow_ups",
];

/// The keys of a `chat:completion` other viewers get.
const SHARED_COMPLETION_KEYS: &[&str] = &[
    "done",
    "error",
    "usage",
    "finish_reason",
    "content",
    "selected_model_id",
    "sources",
    "output",
];

/// What other viewers of the chat get of an event, if anything.
fn shared_copy(kind: &str, data: &Value) -> Option<Value> {
    if SHARED_KINDS.contains(&kind) {
        return Some(data.clone());
    }
    if kind == "chat:completion" {
        let o = data.as_object()?;
        let kept: serde_json::Map<String, Value> = o
            .iter()
            .filter(|(k, _)| SHARED_COMPLETION_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return (!kept.is_empty()).then_some(Value::Object(kept));
    }
    None
}

/// Sends events about one message of one chat to every tab of its user, and
/// copies of the shareable ones to other viewers of the chat.
#[derive(Clone)]
pub struct Emitter {
    state: AppState,
    user_id: String,
    chat_id: String,
    message_id: String,
    session_id: Option<String>,
    /// When a streaming `chat:completion` was last copied to other viewers.
    last_shared: Arc<Mutex<Option<Instant>>>,
    /// Set when the turn answers a channel message: events update it instead.
    channel: Option<Arc<ChannelSink>>,
}

/// Streaming updates reach other viewers at most this often (the last one,
/// `done`, always does).
const SHARE_EVERY: Duration = Duration::from_millis(150);

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
            last_shared: Arc::default(),
            channel: ChannelSink::for_chat(state, chat_id, message_id).map(Arc::new),
        }
    }

    /// `(user_id, chat_id, message_id, session_id)` of the turn.
    pub fn ids(&self) -> (&str, &str, &str, Option<&str>) {
        (
            &self.user_id,
            &self.chat_id,
            &self.message_id,
            self.session_id.as_deref(),
        )
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    fn share_due(&self) -> bool {
        let mut last = self.last_shared.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < SHARE_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    pub fn for_message(&self, message_id: &str) -> Emitter {
        Emitter {
            message_id: message_id.to_string(),
            last_shared: Arc::default(),
            channel: ChannelSink::for_chat(&self.state, &self.chat_id, message_id).map(Arc::new),
            ..self.clone()
        }
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    pub async fn emit(&self, kind: &str, data: Value) {
        if let Some(sink) = &self.channel {
            sink.handle(kind, &data).await;
            return;
        }
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
        if let Some(shared) = shared_copy(kind, &data) {
            if kind != "chat:completion" || shared.get("done").is_some() || self.share_due() {
                self.emit_shared(kind, shared).await;
            }
        }
    }

    /// A copy for other viewers of the chat (room `chat:<id>`), never back to the
    /// tab that sent the request.
    pub async fn emit_shared(&self, kind: &str, data: Value) {
        let Some(io) = self.state.io() else { return };
        // Temporary and channel "chats" have no room of viewers.
        if self.chat_id.contains(':') {
            return;
        }
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

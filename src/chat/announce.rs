//! A stored reply that finished or failed, announced to the event webhooks
//! and the user's notification targets (`chat.finished`, `chat.failed`).
//! Temporary chats are never announced.

use serde_json::{json, Value};

use super::turn::{Target, Turn};
use crate::notify::{publish, Event};
use crate::state::AppState;

fn chat_url(state: &AppState, chat_id: &str) -> String {
    let base = state.config.get_str("webui.url");
    format!("{}/c/{chat_id}", base.trim_end_matches('/'))
}

fn data(state: &AppState, turn: &Turn, target: &Target) -> Value {
    json!({
        "user_id": turn.caller.user.id,
        "chat_id": turn.chat_id,
        "message_id": target.message_id,
        "model_id": target.model_id,
        "url": chat_url(state, &turn.chat_id),
    })
}

/// The reply ended with `content`; `title` is a title generated this turn.
pub async fn finished(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    title: Option<&str>,
    content: &str,
) {
    if !turn.persist {
        return;
    }
    let title = match title {
        Some(t) => t.to_string(),
        None => {
            let id = turn.chat_id.clone();
            let row = state.db.read(move |c| crate::db::chats::get(c, &id)).await;
            row.ok().flatten().map(|c| c.title).unwrap_or_default()
        }
    };
    let mut d = data(state, turn, target);
    d["title"] = json!(title);
    d["message"] = json!(content);
    let message = if title.is_empty() {
        "Chat finished".to_string()
    } else {
        title
    };
    let event = Event::new("chat.finished", Some(&turn.caller.user))
        .subject("chat", &turn.chat_id)
        .data(d)
        .message(message);
    publish(state, event);
}

/// The reply failed with `error`.
pub fn failed(state: &AppState, turn: &Turn, target: &Target, error: &str) {
    if !turn.persist {
        return;
    }
    let mut d = data(state, turn, target);
    d["message"] = json!(error);
    let event = Event::new("chat.failed", Some(&turn.caller.user))
        .subject("chat", &turn.chat_id)
        .data(d)
        .message("Chat failed");
    publish(state, event);
}

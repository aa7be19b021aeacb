//! Text of generations still running, for readers that arrive mid-stream.
//!
//! The saved message stays a placeholder until the generation ends (tokens are
//! not written one by one), so a tab that reloads would otherwise show an empty
//! answer that only grows from the next delta on.

use serde_json::{json, Value};

use crate::state::AppState;

/// Puts the partial answers of running generations into a chat body
/// (`{history: {messages}}`) as read from the database.
pub fn overlay(state: &AppState, chat_id: &str, chat: &mut Value) {
    for snap in state.tasks.snapshots_for_chat(chat_id) {
        if let Some(msg) = chat
            .get_mut("history")
            .and_then(|h| h.get_mut("messages"))
            .and_then(|m| m.get_mut(&snap.message_id))
            .and_then(Value::as_object_mut)
        {
            msg.insert("content".into(), json!(snap.content));
            msg.insert("output".into(), snap.output);
        }
    }
}

/// `events` envelopes that bring a freshly joined tab up to date: one
/// `chat:completion` with the whole output so far per running message. Later
/// deltas then extend the same output items (they share item ids).
pub fn catch_up_events(state: &AppState, chat_id: &str) -> Vec<Value> {
    state
        .tasks
        .snapshots_for_chat(chat_id)
        .into_iter()
        .map(|snap| {
            json!({
                "chat_id": chat_id,
                "message_id": snap.message_id,
                "data": {"type": "chat:completion", "data": {"output": snap.output, "content": snap.content}},
            })
        })
        .collect()
}

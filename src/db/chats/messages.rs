//! Writing one message: into `chat.chat.history` and its `chat_message` row
//! in step.

use rusqlite::Connection;
use serde_json::{json, Value};

use super::rows::{get, ChatRow};
use super::write::{store_chat, title_of};
use crate::chat::history::{
    author_of, current_message_id, delete_message_from_history, output_text, truthy,
    upsert_into_history,
};
use crate::db::chat_messages;

/// Merges `fields` (an object) into `chat.chat.history.messages[message_id]`
/// (creating the message if absent), updates `history.currentId` when
/// `set_current`, keeps the `chat_message` row in sync, sets
/// `chat.current_message_id` and `updated_at`.
pub fn upsert_message(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    fields: &Value,
    set_current: bool,
    now: i64,
) -> rusqlite::Result<()> {
    upsert_message_with(c, chat_id, message_id, fields, Some(set_current), true, now).map(|_| ())
}

/// The common message write. `set_current`: `Some(b)` sets `currentId` to the
/// message when `b`; `None` follows upstream's REST behaviour (a message that
/// did not exist becomes current). Returns the updated chat.
pub fn upsert_message_with(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    fields: &Value,
    set_current: Option<bool>,
    touch: bool,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    let Some(mut row) = get(c, chat_id)? else {
        return Ok(None);
    };
    let mut fields = fields.clone();
    super::write::without_nul(&mut fields);
    if fields.is_object() && !truthy(fields.get("content")) {
        // A message saved with only structured output still gets its text.
        let text = output_text(fields.get("output"));
        if !text.is_empty() {
            fields["content"] = Value::String(text);
        }
    }
    if !row.chat.get("history").is_some_and(Value::is_object) {
        row.chat["history"] = json!({"messages": {}, "currentId": null});
    }
    let history = row
        .chat
        .get_mut("history")
        .and_then(Value::as_object_mut)
        .expect("object");
    let (saved, created) = upsert_into_history(history, message_id, &fields, now);
    if set_current.unwrap_or(created) {
        history.insert("currentId".into(), Value::String(message_id.into()));
    }
    let author = author_of(&saved, &row.user_id);
    chat_messages::upsert(c, chat_id, message_id, &author, &saved, now)?;
    row.title = title_of(&row.chat);
    row.current_message_id = current_message_id(&row.chat);
    if touch {
        row.updated_at = now;
    }
    store_chat(c, &row)?;
    Ok(Some(row))
}

/// Deletes a message and its direct replies from both stores; `None` when the
/// chat does not exist.
pub fn delete_message(
    c: &Connection,
    chat_id: &str,
    message_id: &str,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    let Some(mut row) = get(c, chat_id)? else {
        return Ok(None);
    };
    let Some(history) = row.chat.get_mut("history") else {
        return Ok(Some(row));
    };
    let parent = history
        .pointer(&format!("/messages/{}", pointer_escape(message_id)))
        .and_then(|m| m.get("parentId"))
        .cloned()
        .unwrap_or(Value::Null);
    let deleted = delete_message_from_history(history, message_id);
    if deleted.is_empty() {
        return Ok(Some(row));
    }
    chat_messages::delete_ids(c, chat_id, &deleted)?;
    let siblings: Vec<(String, Value)> = history
        .get("messages")
        .and_then(Value::as_object)
        .map(|ms| {
            ms.iter()
                .filter(|(_, m)| m.get("parentId").cloned().unwrap_or(Value::Null) == parent)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (mid, m) in siblings {
        let author = author_of(&m, &row.user_id);
        chat_messages::upsert(c, chat_id, &mid, &author, &m, now)?;
    }
    row.title = title_of(&row.chat);
    row.current_message_id = current_message_id(&row.chat);
    row.updated_at = now;
    store_chat(c, &row)?;
    Ok(Some(row))
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

//! A chat opened from a note (`meta.type` = "note") is given the note's
//! attached files as context on every turn, when the asker may read the
//! note. Pictures are left out (they are not text to retrieve from).

use serde_json::{Map, Value};

use super::turn::Turn;
use crate::db;
use crate::state::AppState;

/// The request body with the note's files added to its `files`, or `None`
/// when the chat is not a note chat or the note gives nothing.
pub async fn with_note_files(state: &AppState, turn: &Turn) -> Option<Map<String, Value>> {
    if !super::tools::is_saved_chat_id(&turn.chat_id) {
        return None;
    }
    let (cid, uid, admin) = (
        turn.chat_id.clone(),
        turn.caller.id().to_string(),
        turn.caller.is_admin(),
    );
    let files = state
        .db
        .read(move |c| {
            let Some(chat) = db::chats::get_for_user(c, &cid, &uid)? else {
                return Ok(Vec::new());
            };
            let is_note =
                chat.is_internal() && chat.meta.get("type").and_then(Value::as_str) == Some("note");
            let Some(note_id) = chat.meta.get("note_id").and_then(Value::as_str) else {
                return Ok(Vec::new());
            };
            if !is_note {
                return Ok(Vec::new());
            }
            let Some(note) = db::notes::get(c, note_id)? else {
                return Ok(Vec::new());
            };
            if !crate::notes::may(c, &uid, admin, &note, "read")? {
                return Ok(Vec::new());
            }
            Ok(note
                .data
                .get("files")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|f| f.is_object() && !is_picture(f))
                .cloned()
                .collect())
        })
        .await
        .ok()?;
    if files.is_empty() {
        return None;
    }
    let mut body = turn.body.clone();
    let mut all = body
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    all.extend(files);
    body.insert("files".into(), Value::Array(all));
    Some(body)
}

fn is_picture(f: &Value) -> bool {
    f.get("type").and_then(Value::as_str) == Some("image")
        || f.get("content_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("image/"))
}

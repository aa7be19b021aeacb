//! The chat row: its columns, the SQL fragments the queries share, the
//! `ChatResponse` shapes, and reading one chat.

use rusqlite::{Connection, OptionalExtension};
use serde_json::{json, Map, Value};

use crate::chat::history::{repair_current_id, str_list};
use crate::db::chat_messages;
use crate::db::json::{opt, JsonCol};

/// Leaves out internal chats (note assistants, sub-agent runs).
pub(super) const NOT_INTERNAL: &str =
    "(CASE WHEN json_valid(meta) THEN json_extract(meta, '$.internal') END) IS NOT 1";
pub(super) const NOT_ARCHIVED: &str = "(archived = 0 OR archived IS NULL)";
pub(super) const NOT_PINNED: &str = "(pinned = 0 OR pinned IS NULL)";
pub(super) const TAG_MATCH: &str = "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(meta) THEN meta ELSE '{}' END, '$.tags') t \
     WHERE t.value = ?)";

#[derive(Debug, Clone)]
pub struct ChatRow {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub chat: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub share_id: Option<String>,
    pub archived: bool,
    pub pinned: bool,
    pub meta: Value,
    pub folder_id: Option<String>,
    pub last_read_at: Option<i64>,
    pub current_message_id: Option<String>,
    pub tasks: Option<Value>,
    pub summary: Option<String>,
    pub variables: Value,
    pub timer_at: Option<i64>,
}

pub(super) const COLUMNS: &str =
    "id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, meta, \
    folder_id, last_read_at, current_message_id, tasks, summary, variables, timer_at";

pub(super) fn from_row(r: &rusqlite::Row) -> rusqlite::Result<ChatRow> {
    let chat = r.get::<_, JsonCol>(3)?.0;
    let meta = r.get::<_, JsonCol>(9)?.0;
    let variables = r.get::<_, JsonCol>(15)?.0;
    Ok(ChatRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        title: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        chat: if chat.is_object() { chat } else { json!({}) },
        created_at: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        share_id: r.get(6)?,
        archived: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
        pinned: r.get::<_, Option<bool>>(8)?.unwrap_or(false),
        meta: if meta.is_object() { meta } else { json!({}) },
        folder_id: r.get(10)?,
        last_read_at: r.get(11)?,
        current_message_id: r.get(12)?,
        tasks: opt(r.get::<_, JsonCol>(13)?),
        summary: r.get(14)?,
        variables: if variables.is_object() {
            variables
        } else {
            json!({})
        },
        timer_at: r.get(16)?,
    })
}

impl ChatRow {
    pub fn tag_ids(&self) -> Vec<String> {
        str_list(self.meta.get("tags"))
    }

    pub fn is_internal(&self) -> bool {
        self.meta.get("internal") == Some(&Value::Bool(true))
    }

    pub fn history_messages(&self) -> Option<&Map<String, Value>> {
        self.chat
            .pointer("/history/messages")
            .and_then(Value::as_object)
    }
}

/// The chat object the API returns (`ChatResponse`). `writable` marks that the
/// caller may continue the conversation: `GET /api/v1/chats/{id}` then reports
/// `chat.share_mode: "continue"` (null otherwise); pass `false` for the bodies
/// of the other routes, which leave `chat` exactly as stored.
pub fn wire(row: &ChatRow, writable: bool) -> Value {
    let mut v = response(row);
    if writable {
        v["chat"]["share_mode"] = json!("continue");
    }
    v
}

/// `ChatResponse` as stored, `context_usage` null (the chat route fills it in).
pub fn response(row: &ChatRow) -> Value {
    json!({
        "id": row.id,
        "user_id": row.user_id,
        "title": row.title,
        "chat": row.chat,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
        "share_id": row.share_id,
        "archived": row.archived,
        "pinned": row.pinned,
        "meta": row.meta,
        "variables": row.variables,
        "folder_id": row.folder_id,
        "tasks": row.tasks.clone().filter(Value::is_array),
        "summary": row.summary,
        "current_message_id": row.current_message_id,
        "context_usage": null,
    })
}

// ---------------------------------------------------------------------------
// Reads

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<ChatRow>> {
    let row = c
        .query_row(
            &format!("SELECT {COLUMNS} FROM chat WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?;
    Ok(row.map(|mut r| {
        repair_current_id(&mut r.chat);
        r
    }))
}

pub fn get_for_user(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Option<ChatRow>> {
    Ok(get(c, id)?.filter(|r| r.user_id == user_id))
}

/// (owner, folder) of a chat, for access checks on socket rooms.
pub fn owner_and_folder(
    c: &Connection,
    chat_id: &str,
) -> rusqlite::Result<Option<(String, Option<String>)>> {
    c.query_row(
        "SELECT user_id, folder_id FROM chat WHERE id = ?1",
        [chat_id],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get(1)?,
            ))
        },
    )
    .optional()
}

/// The message map for walking a chat's history: `chat_message` rows when
/// they exist (parents missing from the rows are taken from the JSON history), else
/// the JSON history itself.
pub fn messages_map(c: &Connection, chat: &ChatRow) -> rusqlite::Result<Map<String, Value>> {
    let history = chat.history_messages().cloned().unwrap_or_default();
    match chat_messages::messages_map(c, &chat.id)? {
        Some(mut map) => {
            let missing: Vec<String> = map
                .values()
                .filter_map(|m| m.get("parentId").and_then(Value::as_str))
                .filter(|p| !map.contains_key(*p))
                .map(str::to_string)
                .collect();
            for id in missing {
                if let Some(m) = history.get(&id) {
                    map.insert(id, m.clone());
                }
            }
            Ok(map)
        }
        None => Ok(history),
    }
}

/// The row exactly as stored (no read-time repair), for writes that must not
/// persist repairs upstream only applies to what it returns.
pub(super) fn get_raw(c: &Connection, id: &str) -> rusqlite::Result<Option<ChatRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM chat WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

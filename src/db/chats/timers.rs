//! Timers kept on internal chats: a chat whose `meta.type` is `timer` holds
//! the prompt, `meta.status` (`pending`, `running`, `completed`,
//! `cancelled`, `error`) and, while it waits, its due time in `timer_at`
//! (Unix nanoseconds, indexed), as upstream keeps them.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::db::json::JsonCol;

const STATUS: &str = "(CASE WHEN json_valid(meta) THEN json_extract(meta, '$.status') END)";

/// Sets (or clears) the due time of a chat.
pub fn set_timer_at(c: &Connection, id: &str, due_at: Option<i64>) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE chat SET timer_at = ?2 WHERE id = ?1",
        params![id, due_at],
    )?;
    Ok(())
}

/// Merges `patch` into the chat's `meta` (a `null` value removes the key)
/// and sets `timer_at`. False when the chat is gone.
pub fn patch_meta(
    c: &Connection,
    id: &str,
    patch: &Map<String, Value>,
    timer_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<bool> {
    let Some(JsonCol(meta)) = c
        .query_row("SELECT meta FROM chat WHERE id = ?1", [id], |r| {
            r.get::<_, JsonCol>(0)
        })
        .optional()?
    else {
        return Ok(false);
    };
    let mut meta = meta.as_object().cloned().unwrap_or_default();
    for (k, v) in patch {
        if v.is_null() {
            meta.remove(k);
        } else {
            meta.insert(k.clone(), v.clone());
        }
    }
    c.execute(
        "UPDATE chat SET meta = ?2, timer_at = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, JsonCol(Value::Object(meta)), timer_at, now],
    )?;
    Ok(true)
}

/// The ids of pending timers due at `now_ns`, the earliest first.
pub fn due(c: &Connection, now_ns: i64, limit: i64) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(&format!(
        "SELECT id FROM chat WHERE timer_at IS NOT NULL AND timer_at <= ?1 \
           AND {STATUS} = 'pending' ORDER BY timer_at LIMIT ?2"
    ))?;
    let rows = st.query_map(params![now_ns, limit], |r| r.get(0))?;
    rows.collect()
}

/// The pending timers `user_id` set in the chat `parent_id`, with their meta.
pub fn pending_for_parent(
    c: &Connection,
    parent_id: &str,
    user_id: &str,
) -> rusqlite::Result<Vec<(String, Value)>> {
    let mut st = c.prepare(&format!(
        "SELECT id, meta FROM chat WHERE timer_at IS NOT NULL AND user_id = ?1 \
           AND json_valid(meta) AND json_extract(meta, '$.parent_chat_id') = ?2 \
           AND {STATUS} = 'pending'"
    ))?;
    let rows = st.query_map(params![user_id, parent_id], |r| {
        Ok((r.get(0)?, r.get::<_, JsonCol>(1)?.0))
    })?;
    rows.collect()
}

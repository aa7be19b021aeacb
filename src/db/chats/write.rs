//! Writing chats: inserts, updates of the row and its `chat` JSON, deletes.

use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};

use super::rows::{get, get_raw, ChatRow, NOT_ARCHIVED, NOT_INTERNAL};
use crate::chat::history::{author_of, current_message_id, merge_history, truthy, truthy_str};
use crate::db::chat_messages;
use crate::db::json::JsonCol;

// ---------------------------------------------------------------------------
// Inserts

/// Everything a new row can be given.
#[derive(Debug, Clone, Default)]
pub struct NewChat {
    pub id: String,
    pub user_id: String,
    pub chat: Value,
    pub folder_id: Option<String>,
    pub meta: Value,
    pub variables: Value,
    pub pinned: bool,
    pub archived: bool,
    pub current_message_id: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

pub(super) fn title_of(chat: &Value) -> String {
    match chat.get("title") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "New Chat".into(),
        Some(other) => other.to_string(),
    }
}

/// Messages the dual write covers: `history.messages`, else the legacy list.
fn messages_to_write(chat: &Value) -> Vec<(String, Value)> {
    if let Some(ms) = chat
        .pointer("/history/messages")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        return ms.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    chat.get("messages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| Some((truthy_str(m.get("id"))?, m.clone())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn insert(c: &Connection, n: &NewChat, now: i64) -> rusqlite::Result<ChatRow> {
    let mut n = n.clone();
    without_nul(&mut n.chat);
    let n = &n;
    let current = n
        .current_message_id
        .clone()
        .or_else(|| current_message_id(&n.chat));
    let meta = if n.meta.is_object() {
        n.meta.clone()
    } else {
        json!({})
    };
    let variables = if n.variables.is_object() {
        n.variables.clone()
    } else {
        json!({})
    };
    c.execute(
        "INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, meta, \
           folder_id, tasks, summary, last_read_at, current_message_id, variables, timer_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, 'null', NULL, ?11, ?12, ?13, NULL)",
        params![
            n.id,
            n.user_id,
            title_of(&n.chat),
            JsonCol(n.chat.clone()),
            n.created_at.filter(|t| *t != 0).unwrap_or(now),
            n.updated_at.filter(|t| *t != 0).unwrap_or(now),
            n.archived,
            n.pinned,
            JsonCol(meta),
            n.folder_id,
            now,
            current,
            JsonCol(variables),
        ],
    )?;
    for (mid, m) in messages_to_write(&n.chat) {
        if m.is_object() && truthy(m.get("role")) {
            chat_messages::upsert(c, &n.id, &mid, &author_of(&m, &n.user_id), &m, now)?;
        }
    }
    Ok(get(c, &n.id)?.expect("just inserted"))
}

/// Creates a chat the way `POST /api/v1/chats/new` and the completion pipeline
/// do: title from `chat.title` (else "New Chat"), a `chat_message` row per message.
pub fn insert_new(
    c: &Connection,
    user_id: &str,
    id: &str,
    chat: &Value,
    folder_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<ChatRow> {
    insert(
        c,
        &NewChat {
            id: id.into(),
            user_id: user_id.into(),
            chat: chat.clone(),
            folder_id: folder_id.map(str::to_string),
            meta: json!({}),
            variables: json!({}),
            ..Default::default()
        },
        now,
    )
}

// ---------------------------------------------------------------------------
// Updates

/// Removes NUL characters from every string of `v`, keys included, as
/// upstream cleans what it stores (PostgreSQL refuses them; SQLite keeps
/// them, which then breaks search and exports).
pub fn without_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', ""),
        Value::Array(items) => items.iter_mut().for_each(without_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    without_nul(&mut val);
                    map.insert(k.replace('\0', ""), val);
                }
            } else {
                map.values_mut().for_each(without_nul);
            }
        }
        _ => {}
    }
}

pub(super) fn store_chat(c: &Connection, row: &ChatRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE chat SET title = ?2, chat = ?3, current_message_id = ?4, updated_at = ?5 WHERE id = ?1",
        params![row.id, row.title, JsonCol(row.chat.clone()), row.current_message_id, row.updated_at],
    )?;
    Ok(())
}

/// Sets `chat.title` and `chat.chat.title`. Like upstream it leaves
/// `updated_at` alone: a generated title is not a new message.
pub fn set_title(c: &Connection, chat_id: &str, title: &str, _now: i64) -> rusqlite::Result<()> {
    let Some(mut row) = get_raw(c, chat_id)? else {
        return Ok(());
    };
    let title = title.replace('\0', "");
    let title = title.as_str();
    row.chat["title"] = Value::String(title.into());
    c.execute(
        "UPDATE chat SET title = ?2, chat = ?3 WHERE id = ?1",
        params![chat_id, title, JsonCol(row.chat)],
    )?;
    Ok(())
}

/// `POST /api/v1/chats/{id}`: top-level keys of `incoming` replace the stored
/// ones, except `history`, which is merged so that messages saved meanwhile
/// (another author's, or a reply still streaming) survive a stale client copy.
pub fn update_chat(
    c: &Connection,
    id: &str,
    incoming: &Map<String, Value>,
    touch: bool,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    let Some(mut row) = get_raw(c, id)? else {
        return Ok(None);
    };
    let mut cleaned = Value::Object(incoming.clone());
    without_nul(&mut cleaned);
    let Value::Object(incoming) = &cleaned else {
        unreachable!("an object stays an object")
    };
    let stored = row.chat.clone();
    let mut updated = stored.as_object().cloned().unwrap_or_default();
    for (k, v) in incoming {
        updated.insert(k.clone(), v.clone());
    }
    let stored_msgs = stored
        .pointer("/history/messages")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if incoming.contains_key("history") {
        let mut h = merge_history(stored.get("history"), incoming.get("history"));
        if let Some(ms) = h.get_mut("messages").and_then(Value::as_object_mut) {
            for (mid, m) in &stored_msgs {
                let foreign = m
                    .get("user_id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(&row.user_id)
                    != row.user_id;
                let streaming = m.get("role").and_then(Value::as_str) == Some("assistant")
                    && (m.get("done") == Some(&Value::Bool(false))
                        || ms.get(mid).and_then(|x| x.get("done")) == Some(&Value::Bool(false)));
                if foreign || streaming {
                    ms.insert(mid.clone(), m.clone());
                }
            }
        }
        let h = merge_history(Some(&h), None);
        updated.insert("history".into(), h);
    }
    row.chat = Value::Object(updated);
    row.title = title_of(&row.chat);
    if ["history", "messages", "currentId", "branchPointMessageId"]
        .iter()
        .any(|k| incoming.contains_key(*k))
    {
        row.current_message_id = current_message_id(&row.chat);
    }
    if touch {
        row.updated_at = now;
    }
    store_chat(c, &row)?;
    if let Some(ms) = incoming
        .get("history")
        .and_then(|h| h.get("messages"))
        .and_then(Value::as_object)
    {
        for mid in ms.keys() {
            let Some(m) = row
                .chat
                .pointer("/history/messages")
                .and_then(|x| x.get(mid))
            else {
                continue;
            };
            if truthy(m.get("role")) && stored_msgs.get(mid) != Some(m) {
                let author = author_of(m, &row.user_id);
                chat_messages::upsert(c, id, mid, &author, m, now)?;
            }
        }
    }
    Ok(Some(row))
}

pub fn set_variables(c: &Connection, id: &str, variables: &Value) -> rusqlite::Result<()> {
    let v = if variables.is_object() {
        variables.clone()
    } else {
        json!({})
    };
    c.execute(
        "UPDATE chat SET variables = ?2 WHERE id = ?1",
        params![id, JsonCol(v)],
    )?;
    Ok(())
}

/// The task list of the user's chat (an empty list when none is stored);
/// `None` when the user has no chat with that id.
pub fn tasks_of(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Option<Vec<Value>>> {
    use rusqlite::OptionalExtension;
    let found: Option<JsonCol> = c
        .query_row(
            "SELECT tasks FROM chat WHERE id = ?1 AND user_id = ?2",
            params![id, user_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.map(|t| match t.0 {
        Value::Array(a) => a,
        _ => Vec::new(),
    }))
}

/// Replaces the task list of the user's chat; false when there is no such chat.
pub fn set_tasks(
    c: &Connection,
    id: &str,
    user_id: &str,
    tasks: &[Value],
) -> rusqlite::Result<bool> {
    let n = c.execute(
        "UPDATE chat SET tasks = ?3 WHERE id = ?1 AND user_id = ?2",
        params![id, user_id, JsonCol(Value::Array(tasks.to_vec()))],
    )?;
    Ok(n > 0)
}

/// Shallow-merges `params` into `chat.chat.params`; returns the new params.
pub fn update_params(
    c: &Connection,
    id: &str,
    params_in: &Map<String, Value>,
) -> rusqlite::Result<Option<Value>> {
    let Some(mut row) = get_raw(c, id)? else {
        return Ok(None);
    };
    let mut p = row
        .chat
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in params_in {
        p.insert(k.clone(), v.clone());
    }
    row.chat["params"] = Value::Object(p.clone());
    c.execute(
        "UPDATE chat SET chat = ?2 WHERE id = ?1",
        params![id, JsonCol(row.chat)],
    )?;
    Ok(Some(Value::Object(p)))
}

pub fn toggle_pinned(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<ChatRow>> {
    c.execute(
        "UPDATE chat SET pinned = NOT COALESCE(pinned, 0), updated_at = ?2, last_read_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    get(c, id)
}

/// Archiving also takes the chat out of its folder.
pub fn toggle_archived(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<ChatRow>> {
    c.execute(
        "UPDATE chat SET archived = NOT COALESCE(archived, 0), folder_id = NULL, updated_at = ?2, last_read_at = ?2 \
         WHERE id = ?1",
        params![id, now],
    )?;
    get(c, id)
}

pub fn archive_all(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET archived = 1, folder_id = NULL WHERE user_id = ?1",
        [user_id],
    )
}

pub fn unarchive_all(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute("UPDATE chat SET archived = 0 WHERE user_id = ?1", [user_id])
}

pub fn set_share_id(c: &Connection, id: &str, share_id: Option<&str>) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE chat SET share_id = ?2 WHERE id = ?1",
        params![id, share_id],
    )?;
    Ok(())
}

/// Moving a chat unpins it; moving into a folder also unarchives it (folder
/// views only list unarchived chats).
pub fn set_folder(
    c: &Connection,
    id: &str,
    actor_id: &str,
    folder_id: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<ChatRow>> {
    c.execute(
        "UPDATE chat SET folder_id = ?2, updated_at = ?3, pinned = 0, \
           last_read_at = CASE WHEN user_id = ?4 THEN ?3 ELSE last_read_at END, \
           archived = CASE WHEN ?2 IS NOT NULL THEN 0 ELSE archived END \
         WHERE id = ?1",
        params![id, folder_id, now, actor_id],
    )?;
    get(c, id)
}

/// Moves every chat of a folder (any owner) elsewhere.
pub fn move_folder_chats(
    c: &Connection,
    folder_id: &str,
    new_folder_id: Option<&str>,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET folder_id = ?2 WHERE folder_id = ?1",
        params![folder_id, new_folder_id],
    )
}

pub fn set_last_read_at(
    c: &Connection,
    chat_id: &str,
    user_id: &str,
    at: i64,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE chat SET last_read_at = ?3 WHERE id = ?1 AND user_id = ?2",
        params![chat_id, user_id, at],
    )
}

/// Marks every visible chat of the user as read; returns how many.
pub fn mark_all_read(
    c: &Connection,
    user_id: &str,
    folder_ids: Option<&[String]>,
) -> rusqlite::Result<usize> {
    let base = format!("UPDATE chat SET last_read_at = updated_at WHERE user_id = ? AND {NOT_ARCHIVED} AND {NOT_INTERNAL}");
    match folder_ids {
        None => c.execute(&base, [user_id]),
        Some(ids) => {
            let mut n = 0;
            for fid in ids {
                n += c.execute(&format!("{base} AND folder_id = ?"), params![user_id, fid])?;
            }
            Ok(n)
        }
    }
}

// ---------------------------------------------------------------------------
// Deletes

fn delete_rows(
    c: &Connection,
    where_sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    let sub = format!("SELECT id FROM chat WHERE {where_sql}");
    c.execute(
        &format!("UPDATE automation_run SET chat_id = NULL WHERE chat_id IN ({sub})"),
        args,
    )?;
    c.execute(
        &format!("DELETE FROM chat_message WHERE chat_id IN ({sub})"),
        args,
    )?;
    c.execute(
        &format!("DELETE FROM shared_chat WHERE chat_id IN ({sub})"),
        args,
    )?;
    c.execute(&format!("DELETE FROM chat WHERE {where_sql}"), args)?;
    Ok(())
}

/// Deletes a chat with its messages and shares.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    delete_rows(c, "id = ?1", &[&id])
}

pub fn delete_all_for_user(c: &Connection, user_id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM shared_chat WHERE user_id = ?1", [user_id])?;
    delete_rows(c, "user_id = ?1", &[&user_id])
}

pub fn delete_in_folder(c: &Connection, user_id: &str, folder_id: &str) -> rusqlite::Result<()> {
    delete_rows(
        c,
        "user_id = ?1 AND folder_id = ?2",
        &[&user_id, &folder_id],
    )
}

/// Internal chats spawned from this one (they go when it goes).
pub fn internal_children(
    c: &Connection,
    parent_id: &str,
    user_id: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT id FROM chat WHERE user_id = ?1 AND json_valid(meta) \
           AND json_extract(meta, '$.internal') = 1 AND json_extract(meta, '$.parent_chat_id') = ?2",
    )?;
    let rows = st.query_map(params![user_id, parent_id], |r| r.get(0))?;
    rows.collect()
}

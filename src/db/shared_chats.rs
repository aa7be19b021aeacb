//! The `shared_chat` table: link-share snapshots, id = share token.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::access_grants;
use super::json::JsonCol;

#[derive(Debug, Clone)]
pub struct SharedChatRow {
    pub id: String,
    pub chat_id: String,
    pub user_id: String,
    pub title: String,
    pub chat: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SharedChatRow {
    pub fn share_mode(&self) -> Option<&str> {
        self.chat.get("share_mode").and_then(Value::as_str)
    }
}

const COLUMNS: &str = "id, chat_id, user_id, title, chat, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<SharedChatRow> {
    let chat = r.get::<_, JsonCol>(4)?.0;
    Ok(SharedChatRow {
        id: r.get(0)?,
        chat_id: r.get(1)?,
        user_id: r.get(2)?,
        title: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        chat: if chat.is_object() { chat } else { json!({}) },
        created_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
    })
}

pub fn get(c: &Connection, share_id: &str) -> rusqlite::Result<Option<SharedChatRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM shared_chat WHERE id = ?1"),
        [share_id],
        from_row,
    )
    .optional()
}

/// The newest share of a chat.
pub fn get_by_chat_id(c: &Connection, chat_id: &str) -> rusqlite::Result<Option<SharedChatRow>> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM shared_chat WHERE chat_id = ?1 ORDER BY updated_at DESC LIMIT 1"
        ),
        [chat_id],
        from_row,
    )
    .optional()
}

fn snapshot(chat: &Value, share_mode: Value) -> Value {
    let mut m = chat.as_object().cloned().unwrap_or_default();
    m.insert("share_mode".into(), share_mode);
    Value::Object(m)
}

/// Snapshots the chat as it is now under a new share token.
pub fn create(
    c: &Connection,
    share_id: &str,
    chat_id: &str,
    user_id: &str,
    share_mode: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<SharedChatRow>> {
    let source: Option<(Option<String>, JsonCol)> = c
        .query_row(
            "SELECT title, chat FROM chat WHERE id = ?1",
            [chat_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((title, chat)) = source else {
        return Ok(None);
    };
    let snap = snapshot(
        &chat.0,
        share_mode.map_or(Value::Null, |s| Value::String(s.into())),
    );
    c.execute(
        "INSERT INTO shared_chat (id, chat_id, user_id, title, chat, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![share_id, chat_id, user_id, title, JsonCol(snap), now],
    )?;
    get(c, share_id)
}

/// The title and the chat object of the shared chat's source, if it still exists.
fn chat_source(
    c: &Connection,
    chat_id: &str,
) -> rusqlite::Result<Option<(Option<String>, JsonCol)>> {
    c.query_row(
        "SELECT title, chat FROM chat WHERE id = ?1",
        [chat_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Re-snapshots an existing share from its chat. `share_mode` is `Some` when
/// the request set it (even to null); otherwise the share keeps its mode.
pub fn refresh(
    c: &Connection,
    share_id: &str,
    share_mode: Option<Value>,
    now: i64,
) -> rusqlite::Result<Option<SharedChatRow>> {
    let Some(shared) = get(c, share_id)? else {
        return Ok(None);
    };
    let Some((title, chat)) = chat_source(c, &shared.chat_id)? else {
        return Ok(None);
    };
    let mode = share_mode.unwrap_or_else(|| {
        shared
            .chat
            .get("share_mode")
            .cloned()
            .unwrap_or(Value::Null)
    });
    c.execute(
        "UPDATE shared_chat SET title = ?2, chat = ?3, updated_at = ?4 WHERE id = ?1",
        params![share_id, title, JsonCol(snapshot(&chat.0, mode)), now],
    )?;
    get(c, share_id)
}

/// Switching a live (`continue`) share back to a snapshot freezes the chat as
/// it is at that moment.
pub fn set_share_mode(
    c: &Connection,
    share_id: &str,
    share_mode: Option<&str>,
) -> rusqlite::Result<()> {
    let Some(mut shared) = get(c, share_id)? else {
        return Ok(());
    };
    if share_mode.is_none() && shared.share_mode() == Some("continue") {
        if let Some((title, chat)) = chat_source(c, &shared.chat_id)? {
            shared.chat = chat.0;
            shared.title = title.unwrap_or_default();
        }
    }
    let snap = snapshot(
        &shared.chat,
        share_mode.map_or(Value::Null, |s| Value::String(s.into())),
    );
    c.execute(
        "UPDATE shared_chat SET title = ?2, chat = ?3 WHERE id = ?1",
        params![share_id, shared.title, JsonCol(snap)],
    )?;
    Ok(())
}

/// `[{id (the chat id), chat_id, title, share_id, updated_at, created_at}]`
/// of the user's shares, as `GET /api/v1/chats/shared` lists them.
pub fn list_by_user(
    c: &Connection,
    user_id: &str,
    query: Option<&str>,
    order: Option<(&str, bool)>,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<Value>> {
    let mut sql = String::from(
        "SELECT id, chat_id, title, updated_at, created_at FROM shared_chat WHERE user_id = ?1",
    );
    let mut args: Vec<rusqlite::types::Value> = vec![user_id.to_string().into()];
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        sql.push_str(" AND lower(title) LIKE ?2 ESCAPE '\\'");
        args.push(super::like_contains(&q.to_lowercase()).into());
    }
    match order {
        Some((col, asc)) => sql.push_str(&format!(
            " ORDER BY {col} {}",
            if asc { "ASC" } else { "DESC" }
        )),
        None => sql.push_str(" ORDER BY updated_at DESC"),
    }
    sql.push_str(&format!(" LIMIT {} OFFSET {}", limit.max(0), skip.max(0)));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
        let share_id: String = r.get(0)?;
        let chat_id: String = r.get(1)?;
        Ok(json!({
            "id": chat_id,
            "chat_id": chat_id,
            "title": r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            "share_id": share_id,
            "updated_at": r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            "created_at": r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        }))
    })?;
    rows.collect()
}

pub fn chat_ids_by_user(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st =
        c.prepare("SELECT chat_id FROM shared_chat WHERE user_id = ?1 ORDER BY updated_at DESC")?;
    let rows = st.query_map([user_id], |r| r.get(0))?;
    rows.collect()
}

pub fn delete_by_chat_id(c: &Connection, chat_id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM shared_chat WHERE chat_id = ?1", [chat_id])
}

pub fn delete_all_by_user(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM shared_chat WHERE user_id = ?1", [user_id])
}

// ---------------------------------------------------------------------------
// Grants (`access_grant`, resource type `shared_chat` keyed by the chat id)

/// A grant to everyone signed in (`user:*`), the user, or one of their groups.
pub fn user_has_grant(
    c: &Connection,
    user_id: &str,
    resource_type: &str,
    resource_id: &str,
    permission: &str,
) -> rusqlite::Result<bool> {
    let groups = access_grants::group_ids_of(c, user_id)?;
    access_grants::has_access(c, user_id, &groups, resource_type, resource_id, permission)
}

/// A no-login `anyone:*` grant.
pub fn has_anyone_grant(
    c: &Connection,
    resource_type: &str,
    resource_id: &str,
    permission: &str,
) -> rusqlite::Result<bool> {
    Ok(access_grants::by_resource(c, resource_type, resource_id)?
        .iter()
        .any(|g| {
            g.principal_type == "anyone"
                && g.principal_id == access_grants::PUBLIC
                && g.permission == permission
        }))
}

//! The `message` and `message_reaction` tables (channel messages; timestamps
//! are nanoseconds). Top-level messages have no `parent_id`; thread replies
//! point at their thread's first message.

use std::collections::HashMap;

use rusqlite::{params, Connection, Row};
use serde_json::{json, Map, Value};

use super::json::{opt, JsonCol};
use super::table;

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: String,
    pub user_id: Option<String>,
    pub app_id: Option<String>,
    pub channel_id: Option<String>,
    pub reply_to_id: Option<String>,
    pub parent_id: Option<String>,
    pub is_pinned: bool,
    pub pinned_at: Option<i64>,
    pub pinned_by: Option<String>,
    pub content: String,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MessageRow {
    /// `MessageModel`, `etag` included.
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "app_id": self.app_id,
            "channel_id": self.channel_id,
            "reply_to_id": self.reply_to_id,
            "parent_id": self.parent_id,
            "is_pinned": self.is_pinned,
            "pinned_by": self.pinned_by,
            "pinned_at": self.pinned_at,
            "content": self.content,
            "data": self.data,
            "meta": self.meta,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "etag": self.updated_at.to_string(),
        })
    }

    /// The webhook that posted the message, if one did.
    pub fn webhook_id(&self) -> Option<&str> {
        self.meta.as_ref()?.pointer("/webhook/id")?.as_str()
    }
}

const COLUMNS: &str =
    "id, user_id, app_id, channel_id, reply_to_id, parent_id, is_pinned, pinned_at, pinned_by, \
    content, data, meta, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        app_id: r.get(2)?,
        channel_id: r.get(3)?,
        reply_to_id: r.get(4)?,
        parent_id: r.get(5)?,
        is_pinned: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
        pinned_at: r.get(7)?,
        pinned_by: r.get(8)?,
        content: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
        data: opt(r.get::<_, JsonCol>(10)?),
        meta: opt(r.get::<_, JsonCol>(11)?),
        created_at: r.get::<_, Option<i64>>(12)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(13)?.unwrap_or(0),
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<MessageRow>> {
    table::get(c, "message", COLUMNS, id, from_row)
}

pub struct NewMessage {
    pub user_id: String,
    pub channel_id: String,
    pub content: String,
    pub reply_to_id: Option<String>,
    pub parent_id: Option<String>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
}

pub fn insert(c: &Connection, m: &NewMessage, now: i64) -> rusqlite::Result<MessageRow> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO message (id, user_id, channel_id, reply_to_id, parent_id, is_pinned, pinned_at, pinned_by, \
           content, data, meta, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, NULL, NULL, ?6, ?7, ?8, ?9, ?9)",
        params![
            id,
            m.user_id,
            m.channel_id,
            m.reply_to_id,
            m.parent_id,
            m.content,
            JsonCol(m.data.clone().unwrap_or(Value::Null)),
            JsonCol(m.meta.clone().unwrap_or(Value::Null)),
            now
        ],
    )?;
    Ok(get(c, &id)?.expect("just inserted"))
}

/// A page of a channel's messages; `filter_order` adds to the WHERE clause
/// and orders the rows.
fn channel_page(
    c: &Connection,
    filter_order: &str,
    channel_id: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM message WHERE channel_id = ?1 AND {filter_order} LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![channel_id, limit, skip.max(0)], from_row)?;
    rows.collect()
}

/// Top-level messages of a channel, newest first.
pub fn list_top(
    c: &Connection,
    channel_id: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    channel_page(
        c,
        "parent_id IS NULL ORDER BY created_at DESC",
        channel_id,
        skip,
        limit,
    )
}

/// Where a thread page starts: a plain offset, around a reply, or before one.
pub enum Anchor {
    Skip(i64),
    Around(String),
    Before(String),
}

/// A page of a thread, newest first, with the thread's first message last
/// when the page is the oldest one. Empty when the parent is not a message
/// of this channel.
pub fn thread(
    c: &Connection,
    channel_id: &str,
    parent_id: &str,
    anchor: &Anchor,
    limit: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    let Some(parent) = get(c, parent_id)? else {
        return Ok(vec![]);
    };
    if parent.channel_id.as_deref() != Some(channel_id) {
        return Ok(vec![]);
    }
    let anchor_row = match anchor {
        Anchor::Skip(_) => None,
        Anchor::Around(id) | Anchor::Before(id) => {
            let Some(a) = get(c, id)? else {
                return Ok(vec![]);
            };
            if a.channel_id.as_deref() != Some(channel_id)
                || (a.id != parent_id && a.parent_id.as_deref() != Some(parent_id))
            {
                return Ok(vec![]);
            }
            Some(a)
        }
    };
    let base = format!("SELECT {COLUMNS} FROM message WHERE channel_id = ?1 AND parent_id = ?2");
    let order = "ORDER BY created_at DESC, id DESC";
    let mut out: Vec<MessageRow> = match (anchor, anchor_row) {
        (Anchor::Before(_), Some(a)) => {
            let mut st = c.prepare(&format!(
                "{base} AND (created_at < ?3 OR (created_at = ?3 AND id < ?4)) {order} LIMIT ?5"
            ))?;
            let rows = st.query_map(
                params![channel_id, parent_id, a.created_at, a.id, limit],
                from_row,
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        }
        (Anchor::Around(_), Some(a)) => {
            let newer: i64 = c.query_row(
                "SELECT count(*) FROM message WHERE channel_id = ?1 AND parent_id = ?2 \
                   AND (created_at > ?3 OR (created_at = ?3 AND id > ?4))",
                params![channel_id, parent_id, a.created_at, a.id],
                |r| r.get(0),
            )?;
            let skip = (newer - 10).max(0);
            let mut st = c.prepare(&format!("{base} {order} LIMIT ?3 OFFSET ?4"))?;
            let rows = st.query_map(params![channel_id, parent_id, limit, skip], from_row)?;
            rows.collect::<rusqlite::Result<_>>()?
        }
        (Anchor::Skip(skip), _) => {
            let mut st = c.prepare(&format!("{base} {order} LIMIT ?3 OFFSET ?4"))?;
            let rows = st.query_map(
                params![channel_id, parent_id, limit, (*skip).max(0)],
                from_row,
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        }
        _ => vec![],
    };
    if (out.len() as i64) < limit {
        out.push(parent);
    }
    Ok(out)
}

/// Replies of a thread, newest first.
pub fn replies(c: &Connection, parent_id: &str) -> rusqlite::Result<Vec<MessageRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM message WHERE parent_id = ?1 ORDER BY created_at DESC"
    ))?;
    let rows = st.query_map([parent_id], from_row)?;
    rows.collect()
}

/// Reply count and newest reply time per thread.
pub fn reply_stats(c: &Connection, parent_id: &str) -> rusqlite::Result<(i64, Option<i64>)> {
    c.query_row(
        "SELECT count(*), max(created_at) FROM message WHERE parent_id = ?1",
        [parent_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

pub fn last_created_at(c: &Connection, channel_id: &str) -> rusqlite::Result<Option<i64>> {
    c.query_row(
        "SELECT max(created_at) FROM message WHERE channel_id = ?1",
        [channel_id],
        |r| r.get(0),
    )
}

/// Pinned messages, most recently pinned first.
pub fn pinned(
    c: &Connection,
    channel_id: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    channel_page(
        c,
        "is_pinned = 1 ORDER BY pinned_at DESC",
        channel_id,
        skip,
        limit,
    )
}

fn merged(base: Option<&Value>, extra: Option<&Map<String, Value>>) -> Value {
    let mut m = base.and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(e) = extra {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// New content; `data` and `meta` keys are merged into the stored ones.
pub fn update(
    c: &Connection,
    id: &str,
    content: &str,
    data: Option<&Map<String, Value>>,
    meta: Option<&Map<String, Value>>,
    now: i64,
) -> rusqlite::Result<Option<MessageRow>> {
    let Some(row) = get(c, id)? else {
        return Ok(None);
    };
    c.execute(
        "UPDATE message SET content = ?2, data = ?3, meta = ?4, updated_at = ?5 WHERE id = ?1",
        params![
            id,
            content,
            JsonCol(merged(row.data.as_ref(), data)),
            JsonCol(merged(row.meta.as_ref(), meta)),
            now
        ],
    )?;
    get(c, id)
}

pub fn set_pinned(
    c: &Connection,
    id: &str,
    pinned: bool,
    by: &str,
    now: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE message SET is_pinned = ?2, pinned_at = ?3, pinned_by = ?4 WHERE id = ?1",
        params![id, pinned, pinned.then_some(now), pinned.then_some(by)],
    )?;
    Ok(())
}

/// Top-level messages of others newer than `last_read_at`.
pub fn unread_count(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
    last_read_at: Option<i64>,
) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM message WHERE channel_id = ?1 AND parent_id IS NULL AND created_at > ?2 \
           AND (user_id IS NULL OR user_id != ?3)",
        params![channel_id, last_read_at.unwrap_or(0), user_id],
        |r| r.get(0),
    )
}

/// Adds the reaction unless this user already gave it.
pub fn add_reaction(
    c: &Connection,
    message_id: &str,
    user_id: &str,
    name: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let exists: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM message_reaction WHERE message_id = ?1 AND user_id = ?2 AND name = ?3)",
        [message_id, user_id, name],
        |r| r.get(0),
    )?;
    if !exists {
        c.execute(
            "INSERT INTO message_reaction (id, user_id, message_id, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![super::new_id(), user_id, message_id, name, now],
        )?;
    }
    Ok(())
}

pub fn remove_reaction(
    c: &Connection,
    message_id: &str,
    user_id: &str,
    name: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM message_reaction WHERE message_id = ?1 AND user_id = ?2 AND name = ?3",
        [message_id, user_id, name],
    )?;
    Ok(())
}

/// `Reactions` of a message: one entry per emoji name with who gave it, in
/// order of first use.
pub fn reactions(c: &Connection, message_id: &str) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare_cached(
        "SELECT r.name, u.id, u.name FROM message_reaction r JOIN user u ON u.id = r.user_id \
         WHERE r.message_id = ?1 ORDER BY r.created_at, r.rowid",
    )?;
    let rows = st.query_map([message_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        ))
    })?;
    let mut order: Vec<String> = Vec::new();
    let mut by_name: HashMap<String, Vec<Value>> = HashMap::new();
    for row in rows {
        let (name, uid, uname) = row?;
        if !by_name.contains_key(&name) {
            order.push(name.clone());
        }
        by_name
            .entry(name)
            .or_default()
            .push(json!({"id": uid, "name": uname}));
    }
    Ok(order
        .into_iter()
        .map(|n| {
            let users = by_name.remove(&n).unwrap_or_default();
            json!({"name": n, "count": users.len(), "users": users})
        })
        .collect())
}

/// Deletes a message, its reactions and its thread replies (with theirs).
pub fn delete_with_replies(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM message_reaction WHERE message_id = ?1 \
           OR message_id IN (SELECT id FROM message WHERE parent_id = ?1)",
        [id],
    )?;
    c.execute("DELETE FROM message WHERE parent_id = ?1", [id])?;
    c.execute("DELETE FROM message WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_threads_reactions() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        c.execute(
            "INSERT INTO user (id, name, email, role, created_at, updated_at, last_active_at) \
             VALUES ('u', 'U', 'u@x', 'user', 0, 0, 0)",
            [],
        )
        .unwrap();
        let new = |content: &str, parent: Option<&str>| NewMessage {
            user_id: "u".into(),
            channel_id: "ch".into(),
            content: content.into(),
            reply_to_id: None,
            parent_id: parent.map(str::to_string),
            data: None,
            meta: None,
        };
        let top = insert(&c, &new("hi", None), 10).unwrap();
        insert(&c, &new("r1", Some(&top.id)), 11).unwrap();
        insert(&c, &new("r2", Some(&top.id)), 12).unwrap();
        assert_eq!(list_top(&c, "ch", 0, 50).unwrap().len(), 1);
        let t = thread(&c, "ch", &top.id, &Anchor::Skip(0), 50).unwrap();
        let contents: Vec<&str> = t.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["r2", "r1", "hi"]);
        assert!(thread(&c, "other", &top.id, &Anchor::Skip(0), 50)
            .unwrap()
            .is_empty());
        assert_eq!(reply_stats(&c, &top.id).unwrap(), (2, Some(12)));
        assert_eq!(unread_count(&c, "ch", "someone", Some(5)).unwrap(), 1);
        assert_eq!(unread_count(&c, "ch", "u", Some(5)).unwrap(), 0);
        add_reaction(&c, &top.id, "u", "👍", 13).unwrap();
        add_reaction(&c, &top.id, "u", "👍", 14).unwrap();
        let r = reactions(&c, &top.id).unwrap();
        assert_eq!(
            r,
            vec![json!({"name": "👍", "count": 1, "users": [{"id": "u", "name": "U"}]})]
        );
        remove_reaction(&c, &top.id, "u", "👍").unwrap();
        assert!(reactions(&c, &top.id).unwrap().is_empty());
        let d = json!({"files": [1]});
        let up = update(&c, &top.id, "edited", d.as_object(), None, 20)
            .unwrap()
            .unwrap();
        assert_eq!((up.content.as_str(), up.updated_at), ("edited", 20));
        delete_with_replies(&c, &top.id).unwrap();
        assert!(get(&c, &top.id).unwrap().is_none());
        assert_eq!(reply_stats(&c, &top.id).unwrap().0, 0);
    }
}

//! The `channel` table, and the `channel_file` link of a file to the message
//! that carries it.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use crate::db::access_grants::GrantRow;
use crate::db::json::{opt, JsonCol};

pub const RESOURCE: &str = "channel";

#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: String,
    pub user_id: String,
    pub kind: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub is_private: Option<bool>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: Option<String>,
    pub archived_at: Option<i64>,
    pub archived_by: Option<String>,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
}

impl ChannelRow {
    /// `group` and `dm` channels: access is membership.
    pub fn is_membership(&self) -> bool {
        matches!(self.kind.as_deref(), Some("group") | Some("dm"))
    }

    pub fn is_dm(&self) -> bool {
        self.kind.as_deref() == Some("dm")
    }

    /// `ChannelModel`.
    pub fn wire(&self, grants: &[GrantRow]) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "type": self.kind,
            "name": self.name,
            "description": self.description,
            "is_private": self.is_private,
            "data": self.data,
            "meta": self.meta,
            "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "archived_at": self.archived_at,
            "archived_by": self.archived_by,
            "deleted_at": self.deleted_at,
            "deleted_by": self.deleted_by,
        })
    }
}

const COLUMNS: &str = "ch.id, ch.user_id, ch.type, ch.name, ch.description, ch.is_private, ch.data, ch.meta, \
    ch.created_at, ch.updated_at, ch.updated_by, ch.archived_at, ch.archived_by, ch.deleted_at, ch.deleted_by";

fn from_row(r: &Row) -> rusqlite::Result<ChannelRow> {
    Ok(ChannelRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        kind: r.get(2)?,
        name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        description: r.get(4)?,
        is_private: r.get(5)?,
        data: opt(r.get::<_, JsonCol>(6)?),
        meta: opt(r.get::<_, JsonCol>(7)?),
        created_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(9)?.unwrap_or(0),
        updated_by: r.get(10)?,
        archived_at: r.get(11)?,
        archived_by: r.get(12)?,
        deleted_at: r.get(13)?,
        deleted_by: r.get(14)?,
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<ChannelRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM channel ch WHERE ch.id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

fn groups_json(groups: &HashSet<String>) -> String {
    Value::Array(groups.iter().cloned().map(Value::String).collect()).to_string()
}

/// Channels the user belongs to: `group`/`dm` ones they are an active member
/// of, and standard ones they own or a read grant opens to them.
pub fn for_user(
    c: &Connection,
    user_id: &str,
    group_ids: &HashSet<String>,
) -> rusqlite::Result<Vec<ChannelRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM channel ch JOIN channel_member m ON m.channel_id = ch.id \
         WHERE ch.deleted_at IS NULL AND ch.archived_at IS NULL AND ch.type IN ('group', 'dm') \
           AND m.user_id = ?1 AND m.is_active = 1"
    ))?;
    let mut out: Vec<ChannelRow> = st
        .query_map([user_id], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM channel ch \
         WHERE ch.deleted_at IS NULL AND ch.archived_at IS NULL \
           AND (ch.type IS NULL OR ch.type NOT IN ('group', 'dm')) \
           AND (ch.user_id = ?1 OR EXISTS (SELECT 1 FROM access_grant ag \
                WHERE ag.resource_type = 'channel' AND ag.resource_id = ch.id AND ag.permission = 'read' \
                  AND ((ag.principal_type = 'user' AND (ag.principal_id = '*' OR ag.principal_id = ?1)) \
                    OR (ag.principal_type = 'group' AND ag.principal_id IN (SELECT value FROM json_each(?2))))))"
    ))?;
    let seen: HashSet<String> = out.iter().map(|c| c.id.clone()).collect();
    for row in st.query_map(params![user_id, groups_json(group_ids)], from_row)? {
        let row = row?;
        if !seen.contains(&row.id) {
            out.push(row);
        }
    }
    Ok(out)
}

pub fn all(c: &Connection) -> rusqlite::Result<Vec<ChannelRow>> {
    let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM channel ch"))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// The `dm` channel whose (existing) members are exactly these users.
pub fn dm_between(c: &Connection, user_ids: &[String]) -> rusqlite::Result<Option<ChannelRow>> {
    let unique: HashSet<&String> = user_ids.iter().collect();
    let list = Value::Array(unique.iter().map(|s| Value::String((*s).clone())).collect());
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM channel ch WHERE ch.type = 'dm' AND ch.id IN ( \
               SELECT m.channel_id FROM channel_member m JOIN user u ON u.id = m.user_id \
               GROUP BY m.channel_id \
               HAVING count(u.id) = ?2 \
                  AND sum(CASE WHEN u.id IN (SELECT value FROM json_each(?1)) THEN 1 ELSE 0 END) = ?2) \
             LIMIT 1"
        ),
        params![list.to_string(), unique.len() as i64],
        from_row,
    )
    .optional()
}

pub fn insert(c: &Connection, row: &ChannelRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO channel (id, user_id, type, name, description, is_private, data, meta, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            row.id,
            row.user_id,
            row.kind,
            row.name,
            row.description,
            row.is_private,
            JsonCol(row.data.clone().unwrap_or(Value::Null)),
            JsonCol(row.meta.clone().unwrap_or(Value::Null)),
            row.created_at,
            row.updated_at,
        ],
    )?;
    Ok(())
}

/// The fields `POST /{id}/update` replaces (all of them, as upstream).
pub struct ChannelUpdate {
    pub name: String,
    pub description: Option<String>,
    pub is_private: Option<bool>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
}

pub fn update(
    c: &Connection,
    id: &str,
    u: &ChannelUpdate,
    now: i64,
) -> rusqlite::Result<Option<ChannelRow>> {
    c.execute(
        "UPDATE channel SET name = ?2, description = ?3, is_private = ?4, data = ?5, meta = ?6, updated_at = ?7 \
         WHERE id = ?1",
        params![
            id,
            u.name,
            u.description,
            u.is_private,
            JsonCol(u.data.clone().unwrap_or(Value::Null)),
            JsonCol(u.meta.clone().unwrap_or(Value::Null)),
            now
        ],
    )?;
    get(c, id)
}

/// Removes the channel with everything that hangs on it.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM access_grant WHERE resource_type = 'channel' AND resource_id = ?1",
        [id],
    )?;
    c.execute(
        "DELETE FROM message_reaction WHERE message_id IN (SELECT id FROM message WHERE channel_id = ?1)",
        [id],
    )?;
    c.execute("DELETE FROM channel_file WHERE channel_id = ?1", [id])?;
    c.execute("DELETE FROM message WHERE channel_id = ?1", [id])?;
    c.execute("DELETE FROM channel_member WHERE channel_id = ?1", [id])?;
    c.execute("DELETE FROM channel_webhook WHERE channel_id = ?1", [id])?;
    c.execute("DELETE FROM channel WHERE id = ?1", [id])?;
    Ok(())
}

/// Registers a file with the channel (once per channel and file).
pub fn add_file(
    c: &Connection,
    channel_id: &str,
    file_id: &str,
    user_id: &str,
    now_secs: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO channel_file (id, user_id, channel_id, file_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![crate::db::new_id(), user_id, channel_id, file_id, now_secs],
    )?;
    Ok(())
}

/// Links an uploaded file to the message that carries it, when the file was
/// registered with the channel.
pub fn set_file_message(
    c: &Connection,
    channel_id: &str,
    file_id: &str,
    message_id: &str,
    now_secs: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE channel_file SET message_id = ?3, updated_at = ?4 WHERE channel_id = ?1 AND file_id = ?2",
        params![channel_id, file_id, message_id, now_secs],
    )?;
    Ok(())
}

//! The `channel_member` table: who belongs to a channel, with their mute,
//! active and read state; and the users a group grant reaches.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use super::channel::ChannelRow;
use crate::db::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: String,
    pub channel_id: String,
    pub user_id: Option<String>,
    pub app_id: Option<String>,
    pub role: Option<String>,
    pub status: Option<String>,
    pub is_active: bool,
    pub is_channel_muted: bool,
    pub is_channel_pinned: bool,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub invited_at: Option<i64>,
    pub invited_by: Option<String>,
    pub joined_at: Option<i64>,
    pub left_at: Option<i64>,
    pub last_read_at: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

impl MemberRow {
    /// `ChannelMemberModel`.
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "app_id": self.app_id,
            "role": self.role,
            "status": self.status,
            "is_active": self.is_active,
            "is_channel_muted": self.is_channel_muted,
            "is_channel_pinned": self.is_channel_pinned,
            "data": self.data,
            "meta": self.meta,
            "invited_at": self.invited_at,
            "invited_by": self.invited_by,
            "joined_at": self.joined_at,
            "left_at": self.left_at,
            "last_read_at": self.last_read_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

const MEMBER_COLUMNS: &str = "id, channel_id, user_id, app_id, role, status, is_active, is_channel_muted, \
    is_channel_pinned, data, meta, invited_at, invited_by, joined_at, left_at, last_read_at, created_at, updated_at";

fn member_from(r: &Row) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        id: r.get(0)?,
        channel_id: r.get(1)?,
        user_id: r.get(2)?,
        app_id: r.get(3)?,
        role: r.get(4)?,
        status: r.get(5)?,
        is_active: r.get::<_, Option<bool>>(6)?.unwrap_or(true),
        is_channel_muted: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
        is_channel_pinned: r.get::<_, Option<bool>>(8)?.unwrap_or(false),
        data: opt(r.get::<_, JsonCol>(9)?),
        meta: opt(r.get::<_, JsonCol>(10)?),
        invited_at: r.get(11)?,
        invited_by: r.get(12)?,
        joined_at: r.get(13)?,
        left_at: r.get(14)?,
        last_read_at: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

pub fn member(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
) -> rusqlite::Result<Option<MemberRow>> {
    c.query_row(
        &format!(
            "SELECT {MEMBER_COLUMNS} FROM channel_member WHERE channel_id = ?1 AND user_id = ?2 LIMIT 1"
        ),
        [channel_id, user_id],
        member_from,
    )
    .optional()
}

/// User ids of every member row (active or not).
pub fn member_user_ids(c: &Connection, channel_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT user_id FROM channel_member WHERE channel_id = ?1 AND user_id IS NOT NULL",
    )?;
    let rows = st.query_map([channel_id], |r| r.get(0))?;
    rows.collect()
}

pub fn is_active_member(c: &Connection, channel_id: &str, user_id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM channel_member WHERE channel_id = ?1 AND user_id = ?2 AND is_active = 1)",
        [channel_id, user_id],
        |r| r.get(0),
    )
}

/// The creator, or an active member with role `manager`.
pub fn is_manager(c: &Connection, channel: &ChannelRow, user_id: &str) -> rusqlite::Result<bool> {
    if channel.user_id == user_id {
        return Ok(true);
    }
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM channel_member WHERE channel_id = ?1 AND user_id = ?2 \
           AND is_active = 1 AND role = 'manager')",
        [&channel.id, user_id],
        |r| r.get(0),
    )
}

fn insert_member(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
    invited_by: Option<&str>,
    now: i64,
) -> rusqlite::Result<MemberRow> {
    let row = MemberRow {
        id: crate::db::new_id(),
        channel_id: channel_id.into(),
        user_id: Some(user_id.into()),
        app_id: None,
        role: None,
        status: Some("joined".into()),
        is_active: true,
        is_channel_muted: false,
        is_channel_pinned: false,
        data: None,
        meta: None,
        invited_at: invited_by.map(|_| now),
        invited_by: invited_by.map(str::to_string),
        joined_at: Some(now),
        left_at: None,
        last_read_at: Some(now),
        created_at: Some(now),
        updated_at: Some(now),
    };
    c.execute(
        "INSERT INTO channel_member (id, channel_id, user_id, status, is_active, is_channel_muted, is_channel_pinned, \
           invited_at, invited_by, joined_at, last_read_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'joined', 1, 0, 0, ?4, ?5, ?6, ?6, ?6, ?6)",
        params![row.id, channel_id, user_id, row.invited_at, row.invited_by, now],
    )?;
    Ok(row)
}

/// Adds whoever of `user_ids` is not a member yet; returns the new rows.
pub fn add_members(
    c: &Connection,
    channel_id: &str,
    invited_by: &str,
    user_ids: &HashSet<String>,
    now: i64,
) -> rusqlite::Result<Vec<MemberRow>> {
    let existing: HashSet<String> = member_user_ids(c, channel_id)?.into_iter().collect();
    let mut added = Vec::new();
    let mut ids: Vec<&String> = user_ids.difference(&existing).collect();
    ids.sort();
    for uid in ids {
        added.push(insert_member(c, channel_id, uid, Some(invited_by), now)?);
    }
    Ok(added)
}

pub fn remove_members(
    c: &Connection,
    channel_id: &str,
    user_ids: &[String],
) -> rusqlite::Result<usize> {
    let mut n = 0;
    for uid in user_ids {
        n += c.execute(
            "DELETE FROM channel_member WHERE channel_id = ?1 AND user_id = ?2",
            [channel_id, uid.as_str()],
        )?;
    }
    Ok(n)
}

/// The membership row, created (joined now) when missing.
pub fn join(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<MemberRow> {
    match member(c, channel_id, user_id)? {
        Some(m) => Ok(m),
        None => insert_member(c, channel_id, user_id, None, now),
    }
}

pub fn set_active(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
    active: bool,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE channel_member SET is_active = ?3, updated_at = ?4 WHERE channel_id = ?1 AND user_id = ?2",
        params![channel_id, user_id, active, now],
    )? > 0)
}

/// Reactivates every inactive member (a new message brings DMs back).
pub fn activate_all(c: &Connection, channel_id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE channel_member SET is_active = 1, updated_at = ?2 \
         WHERE channel_id = ?1 AND user_id IS NOT NULL AND is_active = 0",
        params![channel_id, now],
    )
}

/// Mutes or unmutes; a missing membership is created without marking
/// anything read.
pub fn set_muted(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
    muted: bool,
    now: i64,
) -> rusqlite::Result<bool> {
    if member(c, channel_id, user_id)?.is_none() {
        c.execute(
            "INSERT INTO channel_member (id, channel_id, user_id, status, is_active, is_channel_muted, \
               is_channel_pinned, joined_at, last_read_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'joined', 1, ?4, 0, ?5, NULL, ?5, ?5)",
            params![crate::db::new_id(), channel_id, user_id, muted, now],
        )?;
        return Ok(muted);
    }
    c.execute(
        "UPDATE channel_member SET is_channel_muted = ?3, updated_at = ?4 WHERE channel_id = ?1 AND user_id = ?2",
        params![channel_id, user_id, muted, now],
    )?;
    Ok(muted)
}

pub fn set_last_read(
    c: &Connection,
    channel_id: &str,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE channel_member SET last_read_at = ?3, updated_at = ?3 WHERE channel_id = ?1 AND user_id = ?2",
        params![channel_id, user_id, now],
    )? > 0)
}

/// Members of the groups, including members of their sub-groups (who
/// inherit what is given to a parent group).
pub fn group_user_ids(c: &Connection, group_ids: &[String]) -> rusqlite::Result<HashSet<String>> {
    if group_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let list = Value::Array(group_ids.iter().cloned().map(Value::String).collect()).to_string();
    let mut st = c.prepare(
        "WITH RECURSIVE g(id) AS ( \
             SELECT value FROM json_each(?1) \
             UNION SELECT grp.id FROM \"group\" grp JOIN g ON grp.parent_group_id = g.id) \
         SELECT DISTINCT user_id FROM group_member WHERE group_id IN (SELECT id FROM g)",
    )?;
    let rows = st.query_map([list], |r| r.get(0))?;
    rows.collect()
}

//! The `channel`, `channel_member`, `channel_webhook` and `channel_file`
//! tables. Timestamps are nanoseconds.
//!
//! Standard channels (type NULL/"") are shared through `access_grant` rows of
//! resource type `channel`; `group` and `dm` channels through membership.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use super::access_grants::GrantRow;
use super::json::{opt, JsonCol};

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

// ---------------------------------------------------------------- members

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
        id: super::new_id(),
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
            params![super::new_id(), channel_id, user_id, muted, now],
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

// ---------------------------------------------------------------- users

/// The user fields the channel endpoints show.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub profile_image_url: Option<String>,
    pub presence_state: Option<String>,
    pub status_emoji: Option<String>,
    pub status_message: Option<String>,
    pub status_expires_at: Option<i64>,
    pub last_active_at: Option<i64>,
}

impl Person {
    /// Seen within the last three minutes.
    pub fn is_active(&self, now_secs: i64) -> bool {
        self.last_active_at
            .is_some_and(|t| t != 0 && t >= now_secs - 180)
    }

    /// `UserNameResponse`.
    pub fn name_wire(&self) -> Value {
        json!({"id": self.id, "name": self.name, "role": self.role})
    }

    /// `UserIdNameStatusResponse`.
    pub fn status_wire(&self, now_secs: i64) -> Value {
        json!({
            "status_emoji": self.status_emoji,
            "status_message": self.status_message,
            "status_expires_at": self.status_expires_at,
            "id": self.id,
            "name": self.name,
            "is_active": self.is_active(now_secs),
        })
    }

    /// `ChannelMemberResponse`.
    pub fn member_wire(&self, now_secs: i64) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "profile_image_url": self.profile_image_url,
            "presence_state": self.presence_state,
            "status_emoji": self.status_emoji,
            "status_message": self.status_message,
            "status_expires_at": self.status_expires_at,
            "is_active": self.is_active(now_secs),
        })
    }
}

const PERSON_COLUMNS: &str =
    "u.id, u.name, u.email, u.role, u.profile_image_url, u.presence_state, \
    u.status_emoji, u.status_message, u.status_expires_at, u.last_active_at";

fn person_from(r: &Row) -> rusqlite::Result<Person> {
    Ok(Person {
        id: r.get(0)?,
        name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        email: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        role: r
            .get::<_, Option<String>>(3)?
            .unwrap_or_else(|| "pending".into()),
        profile_image_url: r.get(4)?,
        presence_state: r.get(5)?,
        status_emoji: r.get(6)?,
        status_message: r.get(7)?,
        status_expires_at: r.get(8)?,
        last_active_at: r.get(9)?,
    })
}

pub fn person(c: &Connection, id: &str) -> rusqlite::Result<Option<Person>> {
    c.query_row(
        &format!("SELECT {PERSON_COLUMNS} FROM user u WHERE u.id = ?1"),
        [id],
        person_from,
    )
    .optional()
}

pub fn people(c: &Connection, ids: &[String]) -> rusqlite::Result<Vec<Person>> {
    let list = Value::Array(ids.iter().cloned().map(Value::String).collect()).to_string();
    let mut st = c.prepare(&format!(
        "SELECT {PERSON_COLUMNS} FROM user u WHERE u.id IN (SELECT value FROM json_each(?1))"
    ))?;
    let rows = st.query_map([list], person_from)?;
    rows.collect()
}

/// Filters of the member list.
#[derive(Default)]
pub struct PeopleFilter {
    pub query: Option<String>,
    /// Only users with a membership row in this channel.
    pub channel_id: Option<String>,
    /// Only these users.
    pub user_ids: Option<Vec<String>>,
    pub exclude_pending: bool,
}

/// One page of users matching the filter, and the total.
pub fn people_page(
    c: &Connection,
    f: &PeopleFilter,
    order_by: Option<&str>,
    direction: Option<&str>,
    limit: Option<i64>,
    offset: i64,
) -> rusqlite::Result<(Vec<Person>, i64)> {
    let mut wheres = vec!["1".to_string()];
    let mut args: Vec<String> = Vec::new();
    if let Some(q) = f.query.as_deref().filter(|q| !q.is_empty()) {
        args.push(super::like_contains(q));
        let i = args.len();
        wheres.push(format!(
            "(u.name LIKE ?{i} ESCAPE '\\' OR u.email LIKE ?{i} ESCAPE '\\')"
        ));
    }
    if let Some(cid) = &f.channel_id {
        args.push(cid.clone());
        wheres.push(format!(
            "EXISTS (SELECT 1 FROM channel_member m WHERE m.user_id = u.id AND m.channel_id = ?{})",
            args.len()
        ));
    }
    if let Some(ids) = &f.user_ids {
        args.push(Value::Array(ids.iter().cloned().map(Value::String).collect()).to_string());
        wheres.push(format!(
            "u.id IN (SELECT value FROM json_each(?{}))",
            args.len()
        ));
    }
    if f.exclude_pending {
        wheres.push("u.role IS NOT 'pending'".into());
    }
    let filter = wheres.join(" AND ");
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM user u WHERE {filter}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let dir = if direction == Some("asc") {
        "ASC"
    } else {
        "DESC"
    };
    let order = match order_by {
        Some("name") => format!("ORDER BY u.name {dir}"),
        Some("email") => format!("ORDER BY u.email {dir}"),
        Some("created_at") => format!("ORDER BY u.created_at {dir}"),
        Some("last_active_at") => format!("ORDER BY u.last_active_at {dir}"),
        Some("updated_at") => format!("ORDER BY u.updated_at {dir}"),
        Some("role") => format!("ORDER BY u.role {dir}"),
        _ => String::new(),
    };
    let sql = format!(
        "SELECT {PERSON_COLUMNS} FROM user u WHERE {filter} {order} LIMIT {} OFFSET {}",
        limit.unwrap_or(-1),
        offset.max(0)
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), person_from)?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

// ---------------------------------------------------------------- webhooks

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: String,
    pub channel_id: String,
    pub user_id: String,
    pub name: String,
    pub profile_image_url: Option<String>,
    pub token: String,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WebhookRow {
    /// `ChannelWebhookModel` (the token included: managers need it for the URL).
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "name": self.name,
            "profile_image_url": self.profile_image_url,
            "token": self.token,
            "last_used_at": self.last_used_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

const WEBHOOK_COLUMNS: &str =
    "id, channel_id, user_id, name, profile_image_url, token, last_used_at, created_at, updated_at";

fn webhook_from(r: &Row) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0)?,
        channel_id: r.get(1)?,
        user_id: r.get(2)?,
        name: r.get(3)?,
        profile_image_url: r.get(4)?,
        token: r.get(5)?,
        last_used_at: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub fn insert_webhook(c: &Connection, w: &WebhookRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO channel_webhook (id, channel_id, user_id, name, profile_image_url, token, last_used_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8)",
        params![w.id, w.channel_id, w.user_id, w.name, w.profile_image_url, w.token, w.created_at, w.updated_at],
    )?;
    Ok(())
}

pub fn webhooks(c: &Connection, channel_id: &str) -> rusqlite::Result<Vec<WebhookRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM channel_webhook WHERE channel_id = ?1 ORDER BY created_at"
    ))?;
    let rows = st.query_map([channel_id], webhook_from)?;
    rows.collect()
}

pub fn webhook(c: &Connection, id: &str) -> rusqlite::Result<Option<WebhookRow>> {
    c.query_row(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM channel_webhook WHERE id = ?1"),
        [id],
        webhook_from,
    )
    .optional()
}

pub fn update_webhook(
    c: &Connection,
    id: &str,
    name: &str,
    profile_image_url: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<WebhookRow>> {
    c.execute(
        "UPDATE channel_webhook SET name = ?2, profile_image_url = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, name, profile_image_url, now],
    )?;
    webhook(c, id)
}

pub fn touch_webhook(c: &Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE channel_webhook SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn delete_webhook(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM channel_webhook WHERE id = ?1", [id])? > 0)
}

/// Webhook display names by id, for messages posted through them.
pub fn webhook_names(c: &Connection, ids: &[String]) -> rusqlite::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(w) = webhook(c, id)? {
            out.insert(w.id, w.name);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- files

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

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        for u in ["a", "b", "c"] {
            c.execute(
                "INSERT INTO user (id, name, email, role, created_at, updated_at, last_active_at) \
                 VALUES (?1, ?1, ?1 || '@x', 'user', 0, 0, 0)",
                [u],
            )
            .unwrap();
        }
        c
    }

    fn channel(id: &str, kind: Option<&str>) -> ChannelRow {
        ChannelRow {
            id: id.into(),
            user_id: "a".into(),
            kind: kind.map(str::to_string),
            name: id.into(),
            description: None,
            is_private: None,
            data: None,
            meta: None,
            created_at: 1,
            updated_at: 1,
            updated_by: None,
            archived_at: None,
            archived_by: None,
            deleted_at: None,
            deleted_by: None,
        }
    }

    #[test]
    fn membership_and_dm_lookup() {
        let c = db();
        insert(&c, &channel("dm1", Some("dm"))).unwrap();
        let ab: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        assert_eq!(add_members(&c, "dm1", "a", &ab, 5).unwrap().len(), 2);
        assert!(add_members(&c, "dm1", "a", &ab, 6).unwrap().is_empty());
        let found = dm_between(&c, &["b".into(), "a".into()]).unwrap();
        assert_eq!(found.map(|c| c.id), Some("dm1".into()));
        assert!(dm_between(&c, &["a".into(), "c".into()]).unwrap().is_none());
        let none = HashSet::new();
        assert_eq!(for_user(&c, "b", &none).unwrap().len(), 1);
        assert!(for_user(&c, "c", &none).unwrap().is_empty());
        set_active(&c, "dm1", "b", false, 7).unwrap();
        assert!(for_user(&c, "b", &none).unwrap().is_empty());
        activate_all(&c, "dm1", 8).unwrap();
        assert!(is_active_member(&c, "dm1", "b").unwrap());
        insert(&c, &channel("std", None)).unwrap();
        assert!(for_user(&c, "c", &none).unwrap().is_empty());
        c.execute(
            "INSERT INTO access_grant (id, resource_type, resource_id, principal_type, principal_id, permission, created_at) \
             VALUES ('g', 'channel', 'std', 'user', '*', 'read', 0)",
            [],
        )
        .unwrap();
        assert_eq!(for_user(&c, "c", &none).unwrap()[0].id, "std");
        let (page, total) = people_page(
            &c,
            &PeopleFilter {
                channel_id: Some("dm1".into()),
                ..Default::default()
            },
            Some("name"),
            Some("asc"),
            Some(30),
            0,
        )
        .unwrap();
        assert_eq!(total, 2);
        assert_eq!(page[0].id, "a");
    }
}

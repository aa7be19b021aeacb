//! The `app` table (external app services an admin registered), the app rows
//! of `channel_member` (an app invited into a channel) and the messages an
//! app posts (`message.app_id`). Timestamps are nanoseconds.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::json::{opt, JsonCol};
use super::messages::{self, MessageRow};

/// The resource type of an app's access grants.
pub const RESOURCE: &str = "app";

#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub user_id: Option<String>,
    pub is_active: bool,
    /// `url`, `manifest`, `granted_scopes`, `settings`, and once connected
    /// `installation_id` and the encrypted `connection_token`.
    pub data: Value,
    /// The app's API key, encrypted (see `apps::crypto`).
    pub api_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, slug, name, user_id, is_active, data, api_key, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<AppRow> {
    Ok(AppRow {
        id: r.get(0)?,
        slug: r.get(1)?,
        name: r.get(2)?,
        user_id: r.get(3)?,
        is_active: r.get::<_, Option<bool>>(4)?.unwrap_or(false),
        data: opt(r.get::<_, JsonCol>(5)?).unwrap_or_else(|| Value::Object(Default::default())),
        api_key: r.get(6)?,
        created_at: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<AppRow>> {
    super::table::get(c, "app", COLUMNS, id, from_row)
}

/// Every app, by name.
pub fn all(c: &Connection) -> rusqlite::Result<Vec<AppRow>> {
    let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM app ORDER BY name, id"))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// Stores a new app; `Ok(false)` when its slug is taken.
pub fn insert(c: &Connection, a: &AppRow) -> rusqlite::Result<bool> {
    let taken: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM app WHERE slug = ?1 OR id = ?2)",
        params![a.slug, a.id],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(false);
    }
    c.execute(
        &format!("INSERT INTO app ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            a.id,
            a.slug,
            a.name,
            a.user_id,
            a.is_active,
            JsonCol(a.data.clone()),
            a.api_key,
            a.created_at,
            a.updated_at
        ],
    )?;
    Ok(true)
}

/// Writes the changeable columns of `a`; with `expected_updated_at`, only
/// when the stored row was not changed meanwhile. Returns whether it wrote.
pub fn save(
    c: &Connection,
    a: &AppRow,
    expected_updated_at: Option<i64>,
) -> rusqlite::Result<bool> {
    let n = c.execute(
        "UPDATE app SET name = ?2, is_active = ?3, data = ?4, api_key = ?5, updated_at = ?6 \
         WHERE id = ?1 AND (?7 IS NULL OR updated_at = ?7)",
        params![
            a.id,
            a.name,
            a.is_active,
            JsonCol(a.data.clone()),
            a.api_key,
            a.updated_at,
            expected_updated_at
        ],
    )?;
    Ok(n == 1)
}

/// Removes the app from every channel it was in.
pub fn leave_all_channels(c: &Connection, app_id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE channel_member SET is_active = 0, left_at = ?2, updated_at = ?2 WHERE app_id = ?1",
        params![app_id, now],
    )
}

/// Active apps that are active members of the channel and joined it no later
/// than `joined_before`.
pub fn app_ids_in_channel(
    c: &Connection,
    channel_id: &str,
    joined_before: i64,
) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT app.id FROM app JOIN channel_member m ON m.app_id = app.id \
         WHERE app.is_active = 1 AND m.channel_id = ?1 AND m.is_active = 1 AND m.joined_at <= ?2",
    )?;
    let rows = st.query_map(params![channel_id, joined_before], |r| r.get(0))?;
    rows.collect()
}

/// The apps that are active members of a channel.
pub fn apps_in_channel(c: &Connection, channel_id: &str) -> rusqlite::Result<Vec<AppRow>> {
    let cols = COLUMNS
        .split(", ")
        .map(|k| format!("app.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = c.prepare(&format!(
        "SELECT {cols} FROM app JOIN channel_member m ON m.app_id = app.id \
         WHERE m.channel_id = ?1 AND m.is_active = 1 ORDER BY app.name, app.id"
    ))?;
    let rows = st.query_map([channel_id], from_row)?;
    rows.collect()
}

pub fn is_channel_member(c: &Connection, channel_id: &str, app_id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM channel_member WHERE channel_id = ?1 AND app_id = ?2 AND is_active = 1)",
        [channel_id, app_id],
        |r| r.get(0),
    )
}

/// Ids and names of the live channels the app is an active member of.
pub fn channel_ids_of(c: &Connection, app_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT ch.id FROM channel ch JOIN channel_member m ON m.channel_id = ch.id \
         WHERE m.app_id = ?1 AND m.is_active = 1 AND ch.deleted_at IS NULL AND ch.archived_at IS NULL \
         ORDER BY ch.name, ch.id",
    )?;
    let rows = st.query_map([app_id], |r| r.get(0))?;
    rows.collect()
}

/// Invites the app into the channel (again, when it left), joined now.
pub fn invite(
    c: &Connection,
    channel_id: &str,
    app_id: &str,
    invited_by: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let existing: Option<String> = c
        .query_row(
            "SELECT id FROM channel_member WHERE channel_id = ?1 AND app_id = ?2 LIMIT 1",
            [channel_id, app_id],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(id) => {
            c.execute(
                "UPDATE channel_member SET is_active = 1, left_at = NULL, joined_at = ?2, updated_at = ?2, \
                   invited_by = ?3, invited_at = ?2 WHERE id = ?1",
                params![id, now, invited_by],
            )?;
        }
        None => {
            c.execute(
                "INSERT INTO channel_member (id, channel_id, user_id, app_id, role, status, is_active, \
                   is_channel_muted, is_channel_pinned, invited_at, invited_by, joined_at, created_at, updated_at) \
                 VALUES (?1, ?2, NULL, ?3, 'member', 'joined', 1, 0, 0, ?4, ?5, ?4, ?4, ?4)",
                params![super::new_id(), channel_id, app_id, now, invited_by],
            )?;
        }
    }
    Ok(())
}

/// Takes the app out of the channel.
pub fn remove(c: &Connection, channel_id: &str, app_id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE channel_member SET is_active = 0, left_at = ?3, updated_at = ?3 \
         WHERE channel_id = ?1 AND app_id = ?2",
        params![channel_id, app_id, now],
    )
}

/// A message an app posts.
pub struct NewAppMessage<'a> {
    pub app_id: &'a str,
    pub channel_id: &'a str,
    pub content: &'a str,
    pub data: &'a Value,
    pub parent_id: Option<&'a str>,
    pub reply_to_id: Option<&'a str>,
}

/// Stores a message the app posts into a channel.
pub fn insert_message(c: &Connection, m: &NewAppMessage, now: i64) -> rusqlite::Result<MessageRow> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO message (id, user_id, app_id, channel_id, reply_to_id, parent_id, is_pinned, content, \
           data, meta, created_at, updated_at) \
         VALUES (?1, NULL, ?2, ?3, ?4, ?5, 0, ?6, ?7, NULL, ?8, ?8)",
        params![
            id,
            m.app_id,
            m.channel_id,
            m.reply_to_id,
            m.parent_id,
            m.content,
            JsonCol(m.data.clone()),
            now
        ],
    )?;
    Ok(messages::get(c, &id)?.expect("just inserted"))
}

/// Rewrites an app's message when it still has `etag` as its `updated_at`.
pub fn update_message(
    c: &Connection,
    id: &str,
    app_id: &str,
    etag: i64,
    content: &str,
    data: &Value,
    now: i64,
) -> rusqlite::Result<Option<MessageRow>> {
    let n = c.execute(
        "UPDATE message SET content = ?4, data = ?5, updated_at = ?6 \
         WHERE id = ?1 AND app_id = ?2 AND updated_at = ?3",
        params![
            id,
            app_id,
            etag,
            content,
            JsonCol(data.clone()),
            now.max(etag + 1)
        ],
    )?;
    if n == 1 {
        messages::get(c, id)
    } else {
        Ok(None)
    }
}

/// A page of a channel's messages (top level or one thread), newest first,
/// older than the cursor message when one is given.
pub fn history(
    c: &Connection,
    channel_id: &str,
    parent_id: Option<&str>,
    before: Option<&MessageRow>,
    limit: i64,
) -> rusqlite::Result<Vec<MessageRow>> {
    let (ca, cid) = before
        .map(|m| (Some(m.created_at), Some(m.id.clone())))
        .unwrap_or((None, None));
    let mut st = c.prepare(
        "SELECT id FROM message WHERE channel_id = ?1 AND parent_id IS ?2 \
           AND (?3 IS NULL OR created_at < ?3 OR (created_at = ?3 AND id < ?4)) \
         ORDER BY created_at DESC, id DESC LIMIT ?5",
    )?;
    let ids: Vec<String> = st
        .query_map(params![channel_id, parent_id, ca, cid, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = messages::get(c, &id)? {
            out.push(m);
        }
    }
    Ok(out)
}

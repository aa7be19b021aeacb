//! The `user` table.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub profile_image_url: Option<String>,
    pub last_active_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub created_at: Option<i64>,
    pub username: Option<String>,
    pub bio: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<String>,
    pub timezone: Option<String>,
    pub status_emoji: Option<String>,
    pub status_message: Option<String>,
    pub status_expires_at: Option<i64>,
    pub info: Option<Value>,
    pub settings: Option<Value>,
    pub variables: Option<Value>,
}

// Selected by name: upgraded databases order these columns differently.
pub(super) const COLUMNS: &str = "id, name, email, role, profile_image_url, last_active_at, updated_at, created_at, \
    username, bio, gender, date_of_birth, timezone, status_emoji, status_message, status_expires_at, info, settings, variables";

pub(super) fn from_row(r: &Row) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get("id")?,
        name: r.get::<_, Option<String>>("name")?.unwrap_or_default(),
        email: r.get::<_, Option<String>>("email")?.unwrap_or_default(),
        role: r
            .get::<_, Option<String>>("role")?
            .unwrap_or_else(|| "pending".into()),
        profile_image_url: r.get("profile_image_url")?,
        last_active_at: r.get("last_active_at")?,
        updated_at: r.get("updated_at")?,
        created_at: r.get("created_at")?,
        username: r.get("username")?,
        bio: r.get("bio")?,
        gender: r.get("gender")?,
        date_of_birth: r
            .get::<_, Option<rusqlite::types::Value>>("date_of_birth")?
            .and_then(|v| match v {
                rusqlite::types::Value::Text(t) => Some(t),
                rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                _ => None,
            }),
        timezone: r.get("timezone")?,
        status_emoji: r.get("status_emoji")?,
        status_message: r.get("status_message")?,
        status_expires_at: r.get("status_expires_at")?,
        info: opt(r.get::<_, JsonCol>("info")?),
        settings: opt(r.get::<_, JsonCol>("settings")?),
        variables: opt(r.get::<_, JsonCol>("variables")?),
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<UserRow>> {
    // Every authenticated request reads its user: keep the statement prepared.
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM user WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

pub fn get_by_email(c: &Connection, email: &str) -> rusqlite::Result<Option<UserRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM user WHERE lower(email) = lower(?1)"),
        [email],
        from_row,
    )
    .optional()
}

pub fn count(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT count(*) FROM user", [], |r| r.get(0))
}

pub fn first_admin(c: &Connection) -> rusqlite::Result<Option<UserRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM user WHERE role = 'admin' ORDER BY created_at ASC LIMIT 1"),
        [],
        from_row,
    )
    .optional()
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub profile_image_url: &'a str,
    pub now: i64,
}

pub fn insert(c: &Connection, u: &NewUser) -> rusqlite::Result<()> {
    // The JSON columns get the text 'null' the way upstream's ORM writes them.
    c.execute(
        "INSERT INTO user (id, name, email, role, profile_image_url, last_active_at, updated_at, created_at, \
         oauth, info, settings, scim) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, 'null', 'null', 'null', 'null')",
        params![u.id, u.name, u.email, u.role, u.profile_image_url, u.now],
    )?;
    Ok(())
}

pub fn update_role(c: &Connection, id: &str, role: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET role = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, role, now],
    )
}

pub fn update_timezone(c: &Connection, id: &str, tz: &str) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET timezone = ?2 WHERE id = ?1",
        params![id, tz],
    )
}

pub fn touch_last_active(c: &Connection, id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET last_active_at = ?2 WHERE id = ?1",
        params![id, now],
    )
}

pub struct ProfileUpdate {
    pub name: String,
    pub profile_image_url: String,
    pub bio: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<String>,
}

pub fn update_profile(
    c: &Connection,
    id: &str,
    p: &ProfileUpdate,
    now: i64,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET name = ?2, profile_image_url = ?3, bio = ?4, gender = ?5, date_of_birth = ?6, updated_at = ?7 \
         WHERE id = ?1",
        params![id, p.name, p.profile_image_url, p.bio, p.gender, p.date_of_birth, now],
    )
}

pub fn update_settings(
    c: &Connection,
    id: &str,
    settings: &Value,
    now: i64,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET settings = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, JsonCol(settings.clone()), now],
    )
}

/// Applies a settings save over what is stored, as upstream does: top-level
/// keys are replaced, but `ui` is patched key by key (a key left out keeps
/// its value, a `null` removes it). Returns the settings now stored, or
/// `None` when there is no such user.
pub fn patch_settings(
    c: &Connection,
    id: &str,
    patch: &serde_json::Map<String, Value>,
    now: i64,
) -> rusqlite::Result<Option<Value>> {
    let Some(user) = get(c, id)? else {
        return Ok(None);
    };
    let mut stored = match user.settings {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (k, v) in patch {
        if k != "ui" {
            stored.insert(k.clone(), v.clone());
        }
    }
    if let Some(Value::Object(ui_patch)) = patch.get("ui") {
        let mut ui = match stored.remove("ui") {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in ui_patch {
            if v.is_null() {
                ui.remove(k);
            } else {
                ui.insert(k.clone(), v.clone());
            }
        }
        stored.insert("ui".into(), Value::Object(ui));
    }
    let merged = Value::Object(stored);
    update_settings(c, id, &merged, now)?;
    Ok(Some(merged))
}

pub fn profile_image_url(c: &Connection, id: &str) -> rusqlite::Result<Option<Option<String>>> {
    c.query_row(
        "SELECT profile_image_url FROM user WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// One page of users for the admin list: `query` matches name or email
/// (case-insensitive), `order_by` one of upstream's sortable columns, or
/// `group_id:<id>` for the members of that group first (then by name).
pub fn list(
    c: &Connection,
    query: Option<&str>,
    order_by: Option<&str>,
    descending: bool,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<UserRow>, i64)> {
    let dir = if descending { "DESC" } else { "ASC" };
    let order_by = order_by.unwrap_or("created_at");
    let group = order_by.strip_prefix("group_id:").unwrap_or("");
    let order = if order_by.starts_with("group_id:") {
        format!(
            "EXISTS (SELECT 1 FROM group_member m WHERE m.user_id = user.id AND m.group_id = ?4) {dir}, \
             name ASC, id ASC"
        )
    } else {
        let column = match order_by {
            "name" => "name",
            "email" => "email",
            "role" => "role",
            "last_active_at" => "last_active_at",
            "updated_at" => "updated_at",
            _ => "created_at",
        };
        format!("{column} {dir}, id {dir}")
    };
    let pattern = super::like_contains(&query.unwrap_or("").to_lowercase());
    let filter = "(lower(name) LIKE ?1 ESCAPE '\\' OR lower(email) LIKE ?1 ESCAPE '\\')";
    let total = c.query_row(
        &format!("SELECT count(*) FROM user WHERE {filter}"),
        [&pattern],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM user WHERE {filter} AND ?4 = ?4 ORDER BY {order} LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![pattern, limit, offset, group], from_row)?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

/// Every user, newest first (`/api/v1/users/all`).
pub fn all(c: &Connection) -> rusqlite::Result<Vec<UserRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM user ORDER BY created_at DESC, id"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// Active = seen within the last three minutes.
pub fn is_active(u: &UserRow, now: i64) -> bool {
    u.last_active_at.is_some_and(|t| t >= now - 180)
}

/// The admin edit form; `None` leaves a column unchanged.
#[derive(Default)]
pub struct AdminUpdate {
    pub role: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub profile_image_url: Option<String>,
}

impl AdminUpdate {
    pub fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.name.is_none()
            && self.email.is_none()
            && self.profile_image_url.is_none()
    }
}

/// Applies the edit to `user` (and the e-mail to `auth` as well).
pub fn admin_update(
    c: &Connection,
    id: &str,
    u: &AdminUpdate,
    now: i64,
) -> rusqlite::Result<usize> {
    if let Some(email) = &u.email {
        c.execute(
            "UPDATE auth SET email = ?2 WHERE id = ?1",
            params![id, email],
        )?;
    }
    c.execute(
        "UPDATE user SET role = coalesce(?2, role), name = coalesce(?3, name), \
         email = coalesce(?4, email), profile_image_url = coalesce(?5, profile_image_url), \
         updated_at = ?6 WHERE id = ?1",
        params![id, u.role, u.name, u.email, u.profile_image_url, now],
    )
}

/// Removes the user and auth rows, with the API key and OAuth sessions that
/// nothing could use any more. Group memberships and chats are the caller's
/// to remove first (src/accounts.rs does, in the same transaction).
pub fn delete_rows(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute("DELETE FROM api_key WHERE user_id = ?1", [id])?;
    c.execute("DELETE FROM oauth_session WHERE user_id = ?1", [id])?;
    let n = c.execute("DELETE FROM user WHERE id = ?1", [id])?;
    c.execute("DELETE FROM auth WHERE id = ?1", [id])?;
    Ok(n > 0)
}

/// What a deleted user owned outside the database: stored file bytes and
/// vector collections, to be removed once the rows are gone.
#[derive(Debug, Default)]
pub struct OwnedLeftovers {
    /// `file.path` of every file the user uploaded.
    pub file_paths: Vec<String>,
    pub file_ids: Vec<String>,
    pub knowledge_ids: Vec<String>,
    /// Knowledge bases of others that held one of the user's files.
    pub foreign_knowledge_links: Vec<(String, String)>,
}

/// Deletes what belongs to the user alone, beyond the rows [`delete_rows`]
/// and `accounts::delete_user` remove: memories, notes, folders, tags, files, knowledge bases, feedback,
/// automations, calendars and the access grants made to them. Returns what
/// lives outside the database.
pub fn delete_owned_content(c: &Connection, id: &str) -> rusqlite::Result<OwnedLeftovers> {
    let strings = |sql: &str| -> rusqlite::Result<Vec<String>> {
        let mut st = c.prepare(sql)?;
        let rows = st.query_map([id], |r| r.get::<_, Option<String>>(0))?;
        Ok(rows.filter_map(|r| r.ok().flatten()).collect())
    };
    let mut out = OwnedLeftovers {
        file_paths: strings("SELECT path FROM file WHERE user_id = ?1")?,
        file_ids: strings("SELECT id FROM file WHERE user_id = ?1")?,
        knowledge_ids: strings("SELECT id FROM knowledge WHERE user_id = ?1")?,
        foreign_knowledge_links: Vec::new(),
    };
    {
        let mut st = c.prepare(
            "SELECT kf.knowledge_id, kf.file_id FROM knowledge_file kf \
             JOIN file f ON f.id = kf.file_id JOIN knowledge k ON k.id = kf.knowledge_id \
             WHERE f.user_id = ?1 AND k.user_id IS NOT ?1",
        )?;
        let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            out.foreign_knowledge_links.push(row?);
        }
    }
    let statements = [
        // grants on what is about to go, then grants made to the user
        "DELETE FROM access_grant WHERE (resource_type = 'knowledge' AND resource_id IN (SELECT id FROM knowledge WHERE user_id = ?1)) \
           OR (resource_type = 'note' AND resource_id IN (SELECT id FROM note WHERE user_id = ?1)) \
           OR (resource_type = 'calendar' AND resource_id IN (SELECT id FROM calendar WHERE user_id = ?1)) \
           OR (principal_type = 'user' AND principal_id = ?1)",
        "DELETE FROM knowledge_file WHERE file_id IN (SELECT id FROM file WHERE user_id = ?1) \
           OR knowledge_id IN (SELECT id FROM knowledge WHERE user_id = ?1)",
        "DELETE FROM knowledge_directory WHERE knowledge_id IN (SELECT id FROM knowledge WHERE user_id = ?1)",
        "DELETE FROM knowledge WHERE user_id = ?1",
        "DELETE FROM chat_file WHERE user_id = ?1 OR file_id IN (SELECT id FROM file WHERE user_id = ?1)",
        "DELETE FROM channel_file WHERE user_id = ?1",
        "DELETE FROM file WHERE user_id = ?1",
        "DELETE FROM memory WHERE user_id = ?1",
        "DELETE FROM pinned_note WHERE user_id = ?1 OR note_id IN (SELECT id FROM note WHERE user_id = ?1)",
        "DELETE FROM note WHERE user_id = ?1",
        "DELETE FROM folder WHERE user_id = ?1",
        "DELETE FROM tag WHERE user_id = ?1",
        "DELETE FROM feedback WHERE user_id = ?1",
        "DELETE FROM automation_run WHERE automation_id IN (SELECT id FROM automation WHERE user_id = ?1)",
        "DELETE FROM automation WHERE user_id = ?1",
        "DELETE FROM calendar_event_attendee WHERE user_id = ?1 \
           OR event_id IN (SELECT id FROM calendar_event WHERE user_id = ?1 \
             OR calendar_id IN (SELECT id FROM calendar WHERE user_id = ?1))",
        "DELETE FROM calendar_event WHERE user_id = ?1 \
           OR calendar_id IN (SELECT id FROM calendar WHERE user_id = ?1)",
        "DELETE FROM calendar WHERE user_id = ?1",
    ];
    for sql in statements {
        c.execute(sql, [id])?;
    }
    Ok(out)
}

/// Saves the status fields given; a `None` keeps what is stored.
pub fn update_status(
    c: &Connection,
    id: &str,
    emoji: Option<&str>,
    message: Option<&str>,
    expires_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET status_emoji = coalesce(?2, status_emoji), \
         status_message = coalesce(?3, status_message), \
         status_expires_at = coalesce(?4, status_expires_at), updated_at = ?5 WHERE id = ?1",
        params![id, emoji, message, expires_at, now],
    )
}

/// Replaces one of the JSON columns the user edits wholesale.
pub fn update_json_column(
    c: &Connection,
    id: &str,
    column: &str,
    value: &Value,
    now: i64,
) -> rusqlite::Result<usize> {
    let column = match column {
        "info" => "info",
        "variables" => "variables",
        _ => return Ok(0),
    };
    c.execute(
        &format!("UPDATE user SET {column} = ?2, updated_at = ?3 WHERE id = ?1"),
        params![id, JsonCol(value.clone()), now],
    )
}

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
}

// Selected by name: upgraded databases order these columns differently.
const COLUMNS: &str = "id, name, email, role, profile_image_url, last_active_at, updated_at, created_at, \
    username, bio, gender, date_of_birth, timezone, status_emoji, status_message, status_expires_at, info, settings";

fn from_row(r: &Row) -> rusqlite::Result<UserRow> {
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
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<UserRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM user WHERE id = ?1"),
        [id],
        from_row,
    )
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

pub fn profile_image_url(c: &Connection, id: &str) -> rusqlite::Result<Option<Option<String>>> {
    c.query_row(
        "SELECT profile_image_url FROM user WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// One page of users for the admin list: `query` matches name or email
/// (case-insensitive), `order_by` one of upstream's sortable columns.
pub fn list(
    c: &Connection,
    query: Option<&str>,
    order_by: Option<&str>,
    descending: bool,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<UserRow>, i64)> {
    let column = match order_by.unwrap_or("created_at") {
        "name" => "name",
        "email" => "email",
        "role" => "role",
        "last_active_at" => "last_active_at",
        "updated_at" => "updated_at",
        _ => "created_at",
    };
    let dir = if descending { "DESC" } else { "ASC" };
    let pattern = format!("%{}%", query.unwrap_or("").to_lowercase());
    let filter = "(lower(name) LIKE ?1 OR lower(email) LIKE ?1)";
    let total = c.query_row(
        &format!("SELECT count(*) FROM user WHERE {filter}"),
        [&pattern],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM user WHERE {filter} ORDER BY {column} {dir}, id {dir} LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![pattern, limit, offset], from_row)?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

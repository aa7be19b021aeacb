//! The `oauth_session` table (provider tokens, stored encrypted by the
//! caller) and the `user.oauth` column (`{provider: {"sub": ...}}`).

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::json::JsonCol;
use super::users::{self, UserRow};

/// `$."provider".sub`: the JSON path of a provider's subject in `user.oauth`.
fn sub_path(provider: &str) -> String {
    format!("$.\"{}\".sub", provider.replace('"', ""))
}

/// The account bound to `sub` at `provider`.
pub fn user_by_sub(c: &Connection, provider: &str, sub: &str) -> rusqlite::Result<Option<UserRow>> {
    let id: Option<String> = c
        .query_row(
            "SELECT id FROM user WHERE json_valid(oauth) AND CAST(json_extract(oauth, ?1) AS TEXT) = ?2 LIMIT 1",
            params![sub_path(provider), sub],
            |r| r.get(0),
        )
        .optional()?;
    match id {
        Some(id) => users::get(c, &id),
        None => Ok(None),
    }
}

/// Binds the account to `sub` at `provider`, keeping other providers' bindings.
pub fn set_sub(
    c: &Connection,
    user_id: &str,
    provider: &str,
    sub: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    let current: Option<Option<String>> = c
        .query_row("SELECT oauth FROM user WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .optional()?;
    let mut map = current
        .flatten()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    map.insert(provider.to_string(), json!({"sub": sub}));
    c.execute(
        "UPDATE user SET oauth = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, JsonCol(Value::Object(map)), now],
    )
}

pub fn set_name(c: &Connection, user_id: &str, name: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, name, now],
    )
}

pub fn set_picture(c: &Connection, user_id: &str, url: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE user SET profile_image_url = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, url, now],
    )
}

/// Changes the sign-in email in both the `user` and the `auth` row.
pub fn set_email(c: &Connection, user_id: &str, email: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE auth SET email = ?2 WHERE id = ?1",
        params![user_id, email],
    )?;
    c.execute(
        "UPDATE user SET email = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, email, now],
    )
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    /// The encrypted token JSON.
    pub token: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, user_id, provider, token, expires_at, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        provider: r.get(2)?,
        token: r.get(3)?,
        expires_at: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

pub fn insert_session(c: &Connection, s: &SessionRow) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO oauth_session ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            s.id,
            s.user_id,
            s.provider,
            s.token,
            s.expires_at,
            s.created_at,
            s.updated_at
        ],
    )?;
    Ok(())
}

pub fn session(c: &Connection, id: &str) -> rusqlite::Result<Option<SessionRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM oauth_session WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// A user's sessions, newest first.
pub fn sessions_of_user(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<SessionRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM oauth_session WHERE user_id = ?1 ORDER BY created_at DESC, id"
    ))?;
    let rows = st.query_map([user_id], from_row)?;
    rows.collect()
}

pub fn update_session_token(
    c: &Connection,
    id: &str,
    token: &str,
    expires_at: i64,
    now: i64,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE oauth_session SET token = ?2, expires_at = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, token, expires_at, now],
    )
}

pub fn delete_session(c: &Connection, id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM oauth_session WHERE id = ?1", [id])
}

pub fn delete_sessions_of_user(
    c: &Connection,
    user_id: &str,
    provider: Option<&str>,
) -> rusqlite::Result<usize> {
    match provider {
        Some(p) => c.execute(
            "DELETE FROM oauth_session WHERE user_id = ?1 AND provider = ?2",
            params![user_id, p],
        ),
        None => c.execute("DELETE FROM oauth_session WHERE user_id = ?1", [user_id]),
    }
}

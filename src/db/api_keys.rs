//! The `api_key` table. Keys are `sk-` + 32 hex characters, stored in clear (as upstream).

use rusqlite::{params, Connection, OptionalExtension};

pub fn key_id_for_user(user_id: &str) -> String {
    format!("key_{user_id}")
}

pub struct ApiKeyRow {
    pub user_id: String,
    pub expires_at: Option<i64>,
}

pub fn find(c: &Connection, key: &str) -> rusqlite::Result<Option<ApiKeyRow>> {
    c.query_row(
        "SELECT user_id, expires_at FROM api_key WHERE key = ?1",
        [key],
        |r| {
            Ok(ApiKeyRow {
                user_id: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                expires_at: r.get(1)?,
            })
        },
    )
    .optional()
}

pub fn get_for_user(c: &Connection, user_id: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT key FROM api_key WHERE user_id = ?1 ORDER BY created_at DESC LIMIT 1",
        [user_id],
        |r| r.get(0),
    )
    .optional()
}

/// One key per user: creating a new one replaces the old.
pub fn replace_for_user(
    c: &Connection,
    user_id: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<()> {
    c.execute("DELETE FROM api_key WHERE user_id = ?1", [user_id])?;
    c.execute(
        "INSERT INTO api_key (id, user_id, key, data, expires_at, last_used_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'null', NULL, NULL, ?4, ?4)",
        params![key_id_for_user(user_id), user_id, key, now],
    )?;
    Ok(())
}

pub fn delete_for_user(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM api_key WHERE user_id = ?1", [user_id])
}

pub fn touch(c: &Connection, key: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE api_key SET last_used_at = ?2 WHERE key = ?1",
        params![key, now],
    )
}

//! The `auth` table: credentials and the session stamp, one row per user (`auth.id` = `user.id`).

use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone)]
pub struct AuthRow {
    pub id: String,
    pub email: String,
    pub password: String,
    pub active: bool,
    pub session_stamp: Option<String>,
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<AuthRow> {
    Ok(AuthRow {
        id: r.get("id")?,
        email: r.get::<_, Option<String>>("email")?.unwrap_or_default(),
        password: r.get::<_, Option<String>>("password")?.unwrap_or_default(),
        active: r.get::<_, Option<bool>>("active")?.unwrap_or(true),
        session_stamp: r.get("session_stamp")?,
    })
}

pub fn get_by_email(c: &Connection, email: &str) -> rusqlite::Result<Option<AuthRow>> {
    c.query_row(
        "SELECT id, email, password, active, session_stamp FROM auth WHERE lower(email) = lower(?1)",
        [email],
        from_row,
    )
    .optional()
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<AuthRow>> {
    c.prepare_cached("SELECT id, email, password, active, session_stamp FROM auth WHERE id = ?1")?
        .query_row([id], from_row)
        .optional()
}

pub fn insert(
    c: &Connection,
    id: &str,
    email: &str,
    password_hash: &str,
    session_stamp: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO auth (id, email, password, active, session_stamp) VALUES (?1, ?2, ?3, 1, ?4)",
        params![id, email, password_hash, session_stamp],
    )?;
    Ok(())
}

pub fn update_password(c: &Connection, id: &str, password_hash: &str) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE auth SET password = ?2 WHERE id = ?1",
        params![id, password_hash],
    )
}

/// Rotating the stamp revokes every token issued to the user.
pub fn set_session_stamp(c: &Connection, id: &str, stamp: &str) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE auth SET session_stamp = ?2 WHERE id = ?1",
        params![id, stamp],
    )
}

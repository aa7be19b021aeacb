//! The `tag` table: PK (id, user_id), id = normalised name.

use rusqlite::Connection;
use serde_json::Value;

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct TagRow {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub meta: Option<Value>,
}

pub fn list_for_user(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<TagRow>> {
    let mut st = c.prepare("SELECT id, name, user_id, meta FROM tag WHERE user_id = ?1 ORDER BY rowid")?;
    let rows = st.query_map([user_id], |r| {
        Ok(TagRow {
            id: r.get(0)?,
            name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            user_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            meta: opt(r.get::<_, JsonCol>(3)?),
        })
    })?;
    rows.collect()
}

/// Tag ids are names lower-cased with spaces turned into underscores.
pub fn normalize_id(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "_")
}

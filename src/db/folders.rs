//! The `folder` table (list view).

use rusqlite::Connection;
use serde_json::Value;

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct FolderRow {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub meta: Option<Value>,
    pub is_expanded: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub unread_count: i64,
}

pub fn list(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<FolderRow>> {
    let mut st = c.prepare(
        "SELECT f.id, f.parent_id, f.name, f.meta, f.is_expanded, f.created_at, f.updated_at, \
           (SELECT count(*) FROM chat ch WHERE ch.user_id = f.user_id AND ch.folder_id = f.id \
              AND (ch.archived = 0 OR ch.archived IS NULL) \
              AND ch.last_read_at IS NOT NULL AND ch.updated_at > ch.last_read_at) \
         FROM folder f WHERE f.user_id = ?1 ORDER BY f.created_at ASC, f.id ASC",
    )?;
    let rows = st.query_map([user_id], |r| {
        Ok(FolderRow {
            id: r.get(0)?,
            parent_id: r.get(1)?,
            name: r.get(2)?,
            meta: opt(r.get::<_, JsonCol>(3)?),
            is_expanded: r.get::<_, Option<bool>>(4)?.unwrap_or(false),
            created_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            updated_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
            unread_count: r.get(7)?,
        })
    })?;
    rows.collect()
}

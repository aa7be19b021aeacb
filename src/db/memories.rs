//! The `memory` table: short facts a user wants models to remember.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct MemoryRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub path: Option<String>,
    pub content: String,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, user_id, type, path, content, meta, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<MemoryRow> {
    let created_at = r.get::<_, Option<i64>>(6)?.unwrap_or(0);
    Ok(MemoryRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        kind: r
            .get::<_, Option<String>>(2)?
            .unwrap_or_else(|| "context".into()),
        path: r.get(3)?,
        content: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        meta: opt(r.get::<_, JsonCol>(5)?),
        created_at,
        updated_at: r.get::<_, Option<i64>>(7)?.unwrap_or(created_at),
    })
}

impl MemoryRow {
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "type": self.kind,
            "path": self.path,
            "content": self.content,
            "meta": self.meta,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
        })
    }

    /// The text that is embedded: the path (if any) on its own line first.
    pub fn vector_text(&self) -> String {
        match &self.path {
            Some(p) if !p.is_empty() => format!("{p}\n{}", self.content),
            _ => self.content.clone(),
        }
    }
}

pub fn by_user(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<MemoryRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM memory WHERE user_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([user_id], from_row)?;
    rows.collect()
}

pub fn all(c: &Connection) -> rusqlite::Result<Vec<MemoryRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM memory ORDER BY user_id, created_at"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// The user's memory with exactly this text, type and path, if any.
pub fn find_same(
    c: &Connection,
    user_id: &str,
    content: &str,
    kind: &str,
    path: Option<&str>,
) -> rusqlite::Result<Option<MemoryRow>> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM memory WHERE user_id = ?1 AND content = ?2 AND type = ?3 \
             AND path IS ?4 LIMIT 1"
        ),
        params![user_id, content, kind, path],
        from_row,
    )
    .optional()
}

pub fn get(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<Option<MemoryRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM memory WHERE id = ?1 AND user_id = ?2"),
        [id, user_id],
        from_row,
    )
    .optional()
}

pub fn insert(c: &Connection, m: &MemoryRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO memory (id, user_id, type, path, content, meta, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.id,
            m.user_id,
            m.kind,
            m.path,
            m.content,
            m.meta.clone().map(JsonCol),
            m.created_at,
            m.updated_at
        ],
    )?;
    Ok(())
}

pub fn update(c: &Connection, m: &MemoryRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE memory SET type = ?1, path = ?2, content = ?3, meta = ?4, updated_at = ?5 \
         WHERE id = ?6 AND user_id = ?7",
        params![
            m.kind,
            m.path,
            m.content,
            m.meta.clone().map(JsonCol),
            m.updated_at,
            m.id,
            m.user_id
        ],
    )?;
    Ok(())
}

pub fn delete(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM memory WHERE id = ?1 AND user_id = ?2",
        [id, user_id],
    )? > 0)
}

pub fn delete_by_user(c: &Connection, user_id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM memory WHERE user_id = ?1", [user_id])
}

//! The `tag` table: PK (id, user_id), id = normalised name.

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use super::json::{opt, JsonCol};

#[derive(Debug, Clone)]
pub struct TagRow {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub meta: Option<Value>,
}

impl TagRow {
    pub fn wire(&self) -> Value {
        json!({"id": self.id, "name": self.name, "user_id": self.user_id, "meta": self.meta})
    }
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<TagRow> {
    Ok(TagRow {
        id: r.get(0)?,
        name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        user_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        meta: opt(r.get::<_, JsonCol>(3)?),
    })
}

pub fn list_for_user(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<TagRow>> {
    let mut st =
        c.prepare("SELECT id, name, user_id, meta FROM tag WHERE user_id = ?1 ORDER BY rowid")?;
    let rows = st.query_map([user_id], from_row)?;
    rows.collect()
}

/// The user's tags among `ids`, in table order (as upstream's `IN` query returns them).
pub fn get_by_ids(c: &Connection, ids: &[String], user_id: &str) -> rusqlite::Result<Vec<TagRow>> {
    Ok(list_for_user(c, user_id)?
        .into_iter()
        .filter(|t| ids.contains(&t.id))
        .collect())
}

pub fn exists(c: &Connection, id: &str, user_id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM tag WHERE id = ?1 AND user_id = ?2)",
        params![id, user_id],
        |r| r.get(0),
    )
}

/// Tag ids are names lower-cased with spaces turned into underscores.
pub fn normalize_id(name: &str) -> String {
    name.replace(' ', "_").to_lowercase()
}

/// Creates a row for every name whose id the user does not have yet; the
/// name is kept as given, `meta` stays SQL NULL as upstream leaves it.
pub fn ensure_exist(c: &Connection, names: &[String], user_id: &str) -> rusqlite::Result<()> {
    for name in names {
        let id = normalize_id(name);
        c.execute(
            "INSERT OR IGNORE INTO tag (id, name, user_id) VALUES (?1, ?2, ?3)",
            params![id, name, user_id],
        )?;
    }
    Ok(())
}

pub fn delete_by_name(c: &Connection, name: &str, user_id: &str) -> rusqlite::Result<usize> {
    c.execute(
        "DELETE FROM tag WHERE id = ?1 AND user_id = ?2",
        params![normalize_id(name), user_id],
    )
}

pub fn delete_by_ids(c: &Connection, ids: &[String], user_id: &str) -> rusqlite::Result<()> {
    for id in ids {
        c.execute(
            "DELETE FROM tag WHERE id = ?1 AND user_id = ?2",
            params![id, user_id],
        )?;
    }
    Ok(())
}

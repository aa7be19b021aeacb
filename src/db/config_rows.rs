//! The `config` table: one row per dotted settings key, value stored as JSON text.

use rusqlite::{params, Connection};
use serde_json::Value;

use super::json::JsonCol;

pub fn all(c: &Connection) -> rusqlite::Result<Vec<(String, Value)>> {
    let mut st = c.prepare("SELECT key, value FROM config")?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, JsonCol>(1)?.0))
    })?;
    rows.collect()
}

pub fn upsert(c: &Connection, key: &str, value: &Value, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO config (key, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, JsonCol(value.clone()), now],
    )?;
    Ok(())
}

pub fn insert_missing(
    c: &Connection,
    key: &str,
    value: &Value,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO config (key, value, updated_at) VALUES (?1, ?2, ?3)",
        params![key, JsonCol(value.clone()), now],
    )?;
    Ok(n > 0)
}

//! The `file` table: one row per upload. `data` holds the processing state
//! (`status`, extracted `content`, `error`), `meta` what the upload said about
//! itself (`name`, `content_type`, `size`, `file_hash`, the client's `data`).

use rusqlite::{params, params_from_iter, types::Value as SqlValue, Connection};
use serde_json::{json, Map, Value};

use super::json::JsonCol;
use super::table;

pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: String,
    pub user_id: String,
    pub hash: Option<String>,
    pub filename: String,
    pub path: Option<String>,
    pub data: Value,
    pub meta: Value,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, hash, filename, path, data, meta, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        hash: r.get(2)?,
        filename: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        path: r.get(4)?,
        data: r.get::<_, JsonCol>(5)?.0,
        meta: r.get::<_, JsonCol>(6)?.0,
        created_at: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        updated_at: r.get(8)?,
    })
}

impl FileRow {
    pub fn status(&self) -> Option<&str> {
        self.data.get("status").and_then(Value::as_str)
    }

    pub fn content(&self) -> &str {
        self.data
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The display name: `meta.name`, else the stored filename.
    pub fn name(&self) -> &str {
        self.meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&self.filename)
    }

    pub fn content_type(&self) -> Option<&str> {
        match self.meta.get("content_type") {
            Some(Value::String(s)) => Some(s),
            // Legacy rows can hold a list such as `["application/pdf", null]`.
            Some(Value::Array(a)) => a.iter().find_map(Value::as_str),
            _ => None,
        }
    }

    fn wire_meta(&self) -> Value {
        match &self.meta {
            Value::Object(m) => {
                let mut m = m.clone();
                m.insert("content_type".into(), json!(self.content_type()));
                Value::Object(m)
            }
            _ => Value::Null,
        }
    }

    fn wire_data(&self, with_content: bool) -> Value {
        match &self.data {
            Value::Object(m) if !with_content => {
                let mut m = m.clone();
                m.remove("content");
                Value::Object(m)
            }
            Value::Object(_) => self.data.clone(),
            _ => Value::Null,
        }
    }

    /// The full record (`GET /files/{id}`): includes `path`.
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "hash": self.hash,
            "filename": self.filename,
            "path": self.path,
            "data": self.wire_data(true),
            "meta": self.wire_meta(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The list shape: no `path`; `content` only on request.
    pub fn wire_listed(&self, with_content: bool) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "hash": self.hash,
            "filename": self.filename,
            "data": self.wire_data(with_content),
            "meta": self.wire_meta(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// What knowledge bases list of their files.
    pub fn wire_metadata(&self) -> Value {
        json!({
            "id": self.id,
            "hash": self.hash,
            "meta": self.meta,
            "created_at": self.created_at,
            "updated_at": self.updated_at.unwrap_or(self.created_at),
        })
    }
}

pub struct NewFile {
    pub id: String,
    pub user_id: String,
    pub filename: String,
    pub path: String,
    pub data: Value,
    pub meta: Value,
}

pub fn insert(c: &Connection, f: &NewFile, now: i64) -> rusqlite::Result<FileRow> {
    c.execute(
        "INSERT INTO file (id, user_id, hash, filename, path, data, meta, created_at, updated_at) \
         VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            f.id,
            f.user_id,
            f.filename,
            f.path,
            JsonCol(f.data.clone()),
            JsonCol(f.meta.clone()),
            now
        ],
    )?;
    Ok(get(c, &f.id)?.expect("just inserted"))
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<FileRow>> {
    table::get(c, "file", COLUMNS, id, from_row)
}

pub fn get_many(c: &Connection, ids: &[String]) -> rusqlite::Result<Vec<FileRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(400) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS} FROM file WHERE id IN ({marks}) ORDER BY updated_at DESC"
        ))?;
        let rows = st.query_map(params_from_iter(chunk.iter()), from_row)?;
        for r in rows {
            out.push(r?);
        }
    }
    Ok(out)
}

/// One page of files, newest change first; `user_id: None` lists everyone's.
pub fn page(
    c: &Connection,
    user_id: Option<&str>,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<(Vec<FileRow>, i64)> {
    let (filter, args): (&str, Vec<SqlValue>) = match user_id {
        Some(u) => ("WHERE user_id = ?", vec![SqlValue::Text(u.to_string())]),
        None => ("", vec![]),
    };
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM file {filter}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let mut all = args.clone();
    all.push(SqlValue::Integer(limit));
    all.push(SqlValue::Integer(skip));
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM file {filter} ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
    ))?;
    let rows = st.query_map(params_from_iter(all.iter()), from_row)?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

pub fn count(c: &Connection, user_id: Option<&str>) -> rusqlite::Result<i64> {
    match user_id {
        Some(u) => c.query_row("SELECT count(*) FROM file WHERE user_id = ?1", [u], |r| {
            r.get(0)
        }),
        None => c.query_row("SELECT count(*) FROM file", [], |r| r.get(0)),
    }
}

/// A glob (`*`, `?`) as a LIKE pattern with `\` escapes.
pub fn glob_to_like(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    for ch in glob.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            '*' => out.push('%'),
            '?' => out.push('_'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Files whose name matches a glob, newest first.
pub fn search(
    c: &Connection,
    user_id: Option<&str>,
    glob: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<FileRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM file WHERE 1=1");
    let mut args: Vec<SqlValue> = vec![];
    if let Some(u) = user_id {
        sql.push_str(" AND user_id = ?");
        args.push(SqlValue::Text(u.to_string()));
    }
    let pattern = glob_to_like(glob);
    if pattern != "%" {
        sql.push_str(" AND lower(filename) LIKE ? ESCAPE '\\'");
        args.push(SqlValue::Text(pattern));
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?");
    args.push(SqlValue::Integer(limit));
    args.push(SqlValue::Integer(skip));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), from_row)?;
    rows.collect()
}

/// Merges keys into `data` (upstream's `update_file_data_by_id`).
pub fn merge_data(
    c: &Connection,
    id: &str,
    patch: &Map<String, Value>,
    now: i64,
) -> rusqlite::Result<bool> {
    let Some(row) = get(c, id)? else {
        return Ok(false);
    };
    let mut data = match row.data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, v) in patch {
        data.insert(k.clone(), v.clone());
    }
    c.execute(
        "UPDATE file SET data = ?1, updated_at = ?2 WHERE id = ?3",
        params![JsonCol(Value::Object(data)), now, id],
    )?;
    Ok(true)
}

pub fn set_hash(c: &Connection, id: &str, hash: Option<&str>, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE file SET hash = ?1, updated_at = ?2 WHERE id = ?3",
        params![hash, now, id],
    )?;
    Ok(())
}

pub fn rename(c: &Connection, id: &str, name: &str, now: i64) -> rusqlite::Result<bool> {
    let Some(row) = get(c, id)? else {
        return Ok(false);
    };
    let mut meta = match row.meta {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    meta.insert("name".into(), json!(name));
    c.execute(
        "UPDATE file SET filename = ?1, meta = ?2, updated_at = ?3 WHERE id = ?4",
        params![name, JsonCol(Value::Object(meta)), now, id],
    )?;
    Ok(true)
}

pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute("DELETE FROM knowledge_file WHERE file_id = ?1", [id])?;
    Ok(c.execute("DELETE FROM file WHERE id = ?1", [id])? > 0)
}

pub fn delete_all(c: &Connection) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM knowledge_file", [])?;
    c.execute("DELETE FROM file", [])
}

/// Ids of files whose processing never finished (for the start-up resume).
pub fn unfinished_ids(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT id FROM file WHERE json_valid(data) \
         AND json_extract(data, '$.status') IN ('pending', 'processing') ORDER BY created_at",
    )?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Every file id, oldest first (for the reindex command).
pub fn all_ids(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT id FROM file ORDER BY created_at, id")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Files uploaded into a knowledge base that are still processing and not
/// yet linked to it.
pub fn pending_for_knowledge(c: &Connection, knowledge_id: &str) -> rusqlite::Result<Vec<FileRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM file WHERE json_valid(meta) AND json_valid(data) \
         AND json_extract(meta, '$.data.knowledge_id') = ?1 \
         AND json_extract(data, '$.status') IN ('pending', 'processing') \
         AND id NOT IN (SELECT file_id FROM knowledge_file WHERE knowledge_id = ?1) \
         ORDER BY created_at DESC"
    ))?;
    let rows = st.query_map([knowledge_id], from_row)?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_escaped_like_patterns() {
        assert_eq!(glob_to_like("*"), "%");
        assert_eq!(glob_to_like("*.TXT"), "%.txt");
        assert_eq!(glob_to_like("a_b?%"), "a\\_b_\\%");
    }
}

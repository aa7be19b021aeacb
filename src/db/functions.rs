//! The `function` table (admin plugins: pipes, filters, actions; Python source
//! kept as text, never run by this server) and its `function_history` entries.

use rusqlite::{params, Connection, Row};
use serde_json::{json, Value};

use super::json::JsonCol;
use super::table;
use super::tools::CodeSave;
use super::workspace_history::{self as history, Kind};

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRow {
    pub id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub content: String,
    pub meta: Value,
    pub valves: Value,
    pub is_active: bool,
    pub is_global: bool,
    pub version_id: Option<String>,
    pub updated_at: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, user_id, name, type, content, meta, valves, is_active, is_global, \
                       version_id, updated_at, created_at";

fn from_row(r: &Row) -> rusqlite::Result<FunctionRow> {
    Ok(FunctionRow {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        name: r.get::<_, Option<String>>("name")?.unwrap_or_default(),
        kind: r.get::<_, Option<String>>("type")?.unwrap_or_default(),
        content: r.get::<_, Option<String>>("content")?.unwrap_or_default(),
        meta: normalize_meta(r.get::<_, JsonCol>("meta")?.0),
        valves: r.get::<_, JsonCol>("valves")?.0,
        is_active: r.get::<_, Option<bool>>("is_active")?.unwrap_or(false),
        is_global: r.get::<_, Option<bool>>("is_global")?.unwrap_or(false),
        version_id: r.get("version_id")?,
        updated_at: r.get::<_, Option<i64>>("updated_at")?.unwrap_or(0),
        created_at: r.get::<_, Option<i64>>("created_at")?.unwrap_or(0),
    })
}

/// Upstream's `FunctionMeta` defaults: `description` and `manifest`.
pub fn normalize_meta(v: Value) -> Value {
    Value::Object(super::tools::code_meta(v))
}

/// `FunctionModel` (with content); `with_valves` adds the stored valves.
pub fn wire(f: &FunctionRow, with_content: bool, with_valves: bool) -> Value {
    let mut v = json!({
        "version_id": f.version_id,
        "id": f.id,
        "user_id": f.user_id,
        "name": f.name,
        "type": f.kind,
        "meta": f.meta,
        "is_active": f.is_active,
        "is_global": f.is_global,
        "updated_at": f.updated_at,
        "created_at": f.created_at,
    });
    if with_content {
        v["content"] = json!(f.content);
    }
    if with_valves {
        v["valves"] = super::tools::valves_dict(&f.valves);
    }
    v
}

pub fn snapshot(name: &str, content: &str, meta: &Value) -> Value {
    let mut s = super::tools::snapshot(name, content, meta);
    if let Some(m) = s["meta"].as_object_mut() {
        m.remove("toggle");
    }
    s
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<FunctionRow>> {
    table::get(c, "function", COLUMNS, id, from_row)
}

pub fn all(c: &Connection) -> rusqlite::Result<Vec<FunctionRow>> {
    table::newest_first(c, "function", COLUMNS, from_row)
}

/// Inserts a function (inactive, not global) with its first history entry.
pub fn insert(
    c: &Connection,
    id: &str,
    kind: &str,
    save: CodeSave,
) -> rusqlite::Result<FunctionRow> {
    let save = CodeSave {
        meta: normalize_meta(save.meta),
        ..save
    };
    let version = save.version(c, Kind::Function, id, snapshot, None, None)?;
    c.execute(
        "INSERT INTO function (id, user_id, name, type, content, meta, valves, is_active, is_global, \
         version_id, updated_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 0, 0, ?7, ?8, ?8)",
        params![id, save.user_id, save.name, kind, save.content, JsonCol(save.meta), version, save.now],
    )?;
    Ok(get(c, id)?.expect("just inserted"))
}

/// Saves type, name, content and meta, with history as tools keep it.
pub fn update(
    c: &Connection,
    id: &str,
    kind: &str,
    save: CodeSave,
    restore: Option<&str>,
) -> rusqlite::Result<Option<FunctionRow>> {
    let Some(f) = get(c, id)? else {
        return Ok(None);
    };
    let save = CodeSave {
        meta: normalize_meta(save.meta),
        ..save
    };
    let current = (
        snapshot(&f.name, &f.content, &f.meta),
        f.version_id.as_deref(),
    );
    let version = save.version(c, Kind::Function, id, snapshot, Some(current), restore)?;
    c.execute(
        "UPDATE function SET name = ?2, type = ?3, content = ?4, meta = ?5, version_id = ?6, updated_at = ?7 \
         WHERE id = ?1",
        params![id, save.name, kind, save.content, JsonCol(save.meta), version, save.now],
    )?;
    get(c, id)
}

pub fn set_flags(
    c: &Connection,
    id: &str,
    is_active: bool,
    is_global: bool,
    now: i64,
) -> rusqlite::Result<Option<FunctionRow>> {
    c.execute(
        "UPDATE function SET is_active = ?2, is_global = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, is_active, is_global, now],
    )?;
    get(c, id)
}

pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    history::delete_all(c, Kind::Function, id)?;
    Ok(c.execute("DELETE FROM function WHERE id = ?1", [id])? > 0)
}

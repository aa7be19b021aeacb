//! The `tool` table (workspace tools: Python source kept as text; this server
//! stores them but cannot run them) and its `tool_history` entries.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use super::access_grants::{self, GrantRow, NewGrant};
use super::json::JsonCol;
use super::table;
use super::workspace_history::{self as history, Kind};

pub const RESOURCE: &str = "tool";

#[derive(Debug, Clone, PartialEq)]
pub struct ToolRow {
    pub id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub content: String,
    pub specs: Value,
    pub meta: Value,
    pub valves: Value,
    pub version_id: Option<String>,
    pub updated_at: i64,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, user_id, name, content, specs, meta, valves, version_id, updated_at, created_at";

fn from_row(r: &Row) -> rusqlite::Result<ToolRow> {
    Ok(ToolRow {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        name: r.get::<_, Option<String>>("name")?.unwrap_or_default(),
        content: r.get::<_, Option<String>>("content")?.unwrap_or_default(),
        specs: match r.get::<_, JsonCol>("specs")?.0 {
            v @ Value::Array(_) => v,
            _ => json!([]),
        },
        meta: normalize_meta(r.get::<_, JsonCol>("meta")?.0),
        valves: r.get::<_, JsonCol>("valves")?.0,
        version_id: r.get("version_id")?,
        updated_at: r.get::<_, Option<i64>>("updated_at")?.unwrap_or(0),
        created_at: r.get::<_, Option<i64>>("created_at")?.unwrap_or(0),
    })
}

/// The meta defaults tools and functions share: `description`, `manifest`.
pub fn code_meta(v: Value) -> Map<String, Value> {
    let mut m = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.entry("description").or_insert(Value::Null);
    m.entry("manifest").or_insert(json!({}));
    m
}

/// Upstream's `ToolMeta` defaults: those and `has_user_valves`, `i18n`.
pub fn normalize_meta(v: Value) -> Value {
    let mut m = code_meta(v);
    m.entry("has_user_valves").or_insert(json!(false));
    if !m.contains_key("i18n") {
        m.insert("i18n".into(), Value::Null);
    }
    Value::Object(m)
}

/// A save of a tool's or function's code: the form's fields and who saves.
pub struct CodeSave<'a> {
    pub name: &'a str,
    pub content: &'a str,
    /// Normalized by the saving table.
    pub meta: Value,
    pub commit_message: Option<&'a str>,
    pub user_id: &'a str,
    pub now: i64,
}

impl CodeSave<'_> {
    /// The version resource `id` (`kind`) points at after this save: a new
    /// resource (`current` none) gets its first history entry; a saved one a
    /// new entry when its `snapshot` changed, or `restore` when named.
    /// `current` is the stored snapshot and version.
    pub(super) fn version(
        &self,
        c: &Connection,
        kind: Kind,
        id: &str,
        snapshot: fn(&str, &str, &Value) -> Value,
        current: Option<(Value, Option<&str>)>,
        restore: Option<&str>,
    ) -> rusqlite::Result<Option<String>> {
        let after = snapshot(self.name, self.content, &self.meta);
        let (before, live) = match current {
            Some((before, live)) => (before, live),
            None => (Value::Null, None),
        };
        history::version_on_save(
            c,
            kind,
            id,
            live,
            &before,
            &after,
            restore,
            self.user_id,
            self.commit_message,
            self.now,
        )
    }
}

/// Stored valves as a dict; encrypted or malformed values read as empty.
pub fn valves_dict(v: &Value) -> Value {
    match v {
        Value::Object(_) => v.clone(),
        Value::String(_) => {
            tracing::warn!("tool/function valves are encrypted; this server cannot read them");
            json!({})
        }
        _ => json!({}),
    }
}

/// The tool with content (upstream's `ToolModel`).
pub fn wire(t: &ToolRow, grants: &[GrantRow]) -> Value {
    json!({
        "version_id": t.version_id,
        "id": t.id,
        "user_id": t.user_id,
        "name": t.name,
        "content": t.content,
        "specs": t.specs,
        "meta": t.meta,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        "updated_at": t.updated_at,
        "created_at": t.created_at,
    })
}

/// The list form (`ToolResponse`): no content or specs.
pub fn wire_brief(t: &ToolRow, grants: &[GrantRow]) -> Value {
    json!({
        "version_id": t.version_id,
        "id": t.id,
        "user_id": t.user_id,
        "name": t.name,
        "meta": t.meta,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        "updated_at": t.updated_at,
        "created_at": t.created_at,
    })
}

/// What a history entry records: name, content and the user-facing meta.
pub fn snapshot(name: &str, content: &str, meta: &Value) -> Value {
    let mut m = match meta {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    m.entry("description").or_insert(Value::Null);
    if m.get("i18n")
        .is_none_or(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty))
    {
        m.remove("i18n");
    }
    m.remove("manifest");
    m.remove("has_user_valves");
    json!({"name": name, "content": content, "meta": Value::Object(m)})
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<ToolRow>> {
    table::get(c, "tool", COLUMNS, id, from_row)
}

pub fn get_with_grants(
    c: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(ToolRow, Vec<GrantRow>)>> {
    table::with_grants(c, RESOURCE, id, get(c, id)?)
}

pub fn all_with_grants(c: &Connection) -> rusqlite::Result<Vec<(ToolRow, Vec<GrantRow>)>> {
    let rows = table::newest_first(c, "tool", COLUMNS, from_row)?;
    table::pair_with_grants(c, RESOURCE, rows, |t| &t.id)
}

/// Inserts a tool (specs empty: they come from running its code) with its
/// grants and first history entry.
pub fn insert(
    c: &Connection,
    id: &str,
    save: CodeSave,
    grants: &[NewGrant],
) -> rusqlite::Result<ToolRow> {
    let save = CodeSave {
        meta: normalize_meta(save.meta),
        ..save
    };
    let version = save.version(c, Kind::Tool, id, snapshot, None, None)?;
    c.execute(
        "INSERT INTO tool (id, user_id, name, content, specs, meta, valves, version_id, updated_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, '[]', ?5, NULL, ?6, ?7, ?7)",
        params![id, save.user_id, save.name, save.content, JsonCol(save.meta), version, save.now],
    )?;
    access_grants::replace(c, RESOURCE, id, grants, save.now)?;
    Ok(get(c, id)?.expect("just inserted"))
}

/// Saves name, content and meta; a changed snapshot records a history entry
/// (or, with `restore`, points the tool at that existing entry).
pub fn update(
    c: &Connection,
    id: &str,
    save: CodeSave,
    restore: Option<&str>,
) -> rusqlite::Result<Option<ToolRow>> {
    let Some(t) = get(c, id)? else {
        return Ok(None);
    };
    let save = CodeSave {
        meta: normalize_meta(save.meta),
        ..save
    };
    let current = (
        snapshot(&t.name, &t.content, &t.meta),
        t.version_id.as_deref(),
    );
    let version = save.version(c, Kind::Tool, id, snapshot, Some(current), restore)?;
    c.execute(
        "UPDATE tool SET name = ?2, content = ?3, meta = ?4, version_id = ?5, updated_at = ?6 WHERE id = ?1",
        params![id, save.name, save.content, JsonCol(save.meta), version, save.now],
    )?;
    get(c, id)
}

pub fn set_valves(c: &Connection, id: &str, valves: &Value, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE tool SET valves = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, JsonCol(valves.clone()), now],
    )
}

pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    history::delete_all(c, Kind::Tool, id)?;
    access_grants::delete_for(c, RESOURCE, &[id.to_string()])?;
    Ok(c.execute("DELETE FROM tool WHERE id = ?1", [id])? > 0)
}

/// A user's own valves for a tool or function: `user.settings[section].valves[id]`.
pub fn user_valves(
    c: &Connection,
    user_id: &str,
    section: &str,
    id: &str,
) -> rusqlite::Result<Value> {
    let settings: Option<JsonCol> = c
        .query_row("SELECT settings FROM user WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .optional()?;
    let v = settings
        .map(|s| s.0)
        .and_then(|s| s.get(section)?.get("valves")?.get(id).cloned())
        .unwrap_or(Value::Null);
    Ok(valves_dict(&v))
}

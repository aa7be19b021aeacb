//! The `prompt` table (slash-command prompts) and its `prompt_history` entries.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use super::access_grants::{self, GrantRow, NewGrant};
use super::json::JsonCol;
use super::table;
use super::workspace_history::{self as history, Kind};

pub const RESOURCE: &str = "prompt";

#[derive(Debug, Clone, PartialEq)]
pub struct PromptRow {
    pub id: String,
    pub command: String,
    pub user_id: String,
    pub name: String,
    pub content: String,
    pub data: Value,
    pub meta: Value,
    pub tags: Vec<String>,
    pub is_active: bool,
    pub version_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A create/update request after validation.
#[derive(Debug, Clone, Default)]
pub struct PromptForm {
    pub command: String,
    pub name: String,
    pub content: String,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub tags: Option<Vec<String>>,
    pub commit_message: Option<String>,
    pub is_production: bool,
}

const COLUMNS: &str =
    "id, command, user_id, name, content, data, meta, is_active, version_id, tags, created_at, updated_at";

fn object_or_empty(v: Value) -> Value {
    if v.is_object() {
        v
    } else {
        Value::Object(Map::new())
    }
}

pub fn tag_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn from_row(r: &Row) -> rusqlite::Result<PromptRow> {
    Ok(PromptRow {
        id: r.get("id")?,
        command: r.get::<_, Option<String>>("command")?.unwrap_or_default(),
        user_id: r.get::<_, Option<String>>("user_id")?.unwrap_or_default(),
        name: r.get::<_, Option<String>>("name")?.unwrap_or_default(),
        content: r.get::<_, Option<String>>("content")?.unwrap_or_default(),
        data: object_or_empty(r.get::<_, JsonCol>("data")?.0),
        meta: object_or_empty(r.get::<_, JsonCol>("meta")?.0),
        tags: tag_list(&r.get::<_, JsonCol>("tags")?.0),
        is_active: r.get::<_, Option<bool>>("is_active")?.unwrap_or(true),
        version_id: r.get("version_id")?,
        created_at: r.get::<_, Option<i64>>("created_at")?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>("updated_at")?.unwrap_or(0),
    })
}

/// The prompt as upstream's `PromptModel` serialises it.
pub fn wire(p: &PromptRow, grants: &[GrantRow]) -> Value {
    json!({
        "id": p.id,
        "command": p.command,
        "user_id": p.user_id,
        "name": p.name,
        "content": p.content,
        "data": p.data,
        "meta": p.meta,
        "tags": p.tags,
        "is_active": p.is_active,
        "version_id": p.version_id,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<PromptRow>> {
    table::get(c, "prompt", COLUMNS, id, from_row)
}

pub fn get_with_grants(
    c: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(PromptRow, Vec<GrantRow>)>> {
    table::with_grants(c, RESOURCE, id, get(c, id)?)
}

pub fn get_by_command(c: &Connection, command: &str) -> rusqlite::Result<Option<PromptRow>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM prompt WHERE command = ?1"),
        [command],
        from_row,
    )
    .optional()
}

/// Every prompt (newest change first) with its grants.
pub fn all_with_grants(c: &Connection) -> rusqlite::Result<Vec<(PromptRow, Vec<GrantRow>)>> {
    let rows = table::newest_first(c, "prompt", COLUMNS, from_row)?;
    table::pair_with_grants(c, RESOURCE, rows, |p| &p.id)
}

/// `{id, name, role, email}` of the given users (upstream's `UserResponse`).
pub fn user_briefs(c: &Connection, ids: &[String]) -> rusqlite::Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    let mut st = c.prepare_cached("SELECT id, name, role, email FROM user WHERE id = ?1")?;
    for id in ids {
        if out.contains_key(id) {
            continue;
        }
        let row = st
            .query_row([id], |r| {
                Ok(json!({
                    "id": r.get::<_, String>(0)?,
                    "name": r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    "role": r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    "email": r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                }))
            })
            .optional()?;
        if let Some(v) = row {
            out.insert(id.clone(), v);
        }
    }
    Ok(out)
}

fn snapshot(p: &PromptRow, grants: &[GrantRow]) -> Value {
    json!({
        "name": p.name,
        "content": p.content,
        "command": p.command,
        "data": p.data,
        "meta": p.meta,
        "tags": p.tags,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
    })
}

/// Inserts a prompt with its grants and its first history entry (made the
/// live version).
pub fn insert(
    c: &Connection,
    user_id: &str,
    f: &PromptForm,
    grants: &[NewGrant],
    now: i64,
) -> rusqlite::Result<PromptRow> {
    let id = super::new_id();
    let mut p = PromptRow {
        id: id.clone(),
        command: f.command.clone(),
        user_id: user_id.to_string(),
        name: f.name.clone(),
        content: f.content.clone(),
        data: f
            .data
            .clone()
            .map(object_or_empty)
            .unwrap_or_else(|| json!({})),
        meta: f
            .meta
            .clone()
            .map(object_or_empty)
            .unwrap_or_else(|| json!({})),
        tags: f.tags.clone().unwrap_or_default(),
        is_active: true,
        version_id: None,
        created_at: now,
        updated_at: now,
    };
    c.execute(
        "INSERT INTO prompt (id, command, user_id, name, content, data, meta, is_active, version_id, tags, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, NULL, ?8, ?9, ?9)",
        params![
            p.id,
            p.command,
            p.user_id,
            p.name,
            p.content,
            JsonCol(p.data.clone()),
            JsonCol(p.meta.clone()),
            JsonCol(json!(p.tags)),
            now
        ],
    )?;
    let g = access_grants::replace(c, RESOURCE, &id, grants, now)?;
    let version = history::insert(
        c,
        Kind::Prompt,
        &id,
        None,
        &snapshot(&p, &g),
        user_id,
        Some(f.commit_message.as_deref().unwrap_or("Initial version")),
        now,
    )?;
    c.execute(
        "UPDATE prompt SET version_id = ?2 WHERE id = ?1",
        params![id, version],
    )?;
    p.version_id = Some(version);
    Ok(p)
}

/// Updates a prompt; a changed name, command, content or tag list records a
/// history entry, which becomes the live version when `is_production`.
pub fn update(
    c: &Connection,
    id: &str,
    f: &PromptForm,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<Option<PromptRow>> {
    let Some(mut p) = get(c, id)? else {
        return Ok(None);
    };
    let parent = history::latest(c, Kind::Prompt, id)?.map(|h| h.id);
    let grants = access_grants::by_resource(c, RESOURCE, id)?;
    let changed = p.name != f.name
        || p.command != f.command
        || p.content != f.content
        || f.tags.as_ref().is_some_and(|t| *t != p.tags);
    p.command = f.command.clone();
    if f.is_production {
        p.name = f.name.clone();
        p.content = f.content.clone();
        if let Some(d) = f
            .data
            .clone()
            .filter(|d| d.as_object().is_some_and(|o| !o.is_empty()))
        {
            p.data = d;
        }
        if let Some(m) = f
            .meta
            .clone()
            .filter(|m| m.as_object().is_some_and(|o| !o.is_empty()))
        {
            p.meta = m;
        }
        if let Some(t) = &f.tags {
            p.tags = t.clone();
        }
    }
    p.updated_at = now;
    if changed {
        let snap = json!({
            "name": f.name,
            "content": f.content,
            "command": p.command,
            "data": f.data.clone().map(object_or_empty).unwrap_or_else(|| json!({})),
            "meta": f.meta.clone().map(object_or_empty).unwrap_or_else(|| json!({})),
            "tags": f.tags.clone().unwrap_or_else(|| p.tags.clone()),
            "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        });
        let entry = history::insert(
            c,
            Kind::Prompt,
            id,
            parent.as_deref(),
            &snap,
            user_id,
            f.commit_message.as_deref(),
            now,
        )?;
        if f.is_production {
            p.version_id = Some(entry);
        }
    }
    save(c, &p)?;
    Ok(Some(p))
}

fn save(c: &Connection, p: &PromptRow) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE prompt SET command = ?2, name = ?3, content = ?4, data = ?5, meta = ?6, is_active = ?7, \
         version_id = ?8, tags = ?9, updated_at = ?10 WHERE id = ?1",
        params![
            p.id,
            p.command,
            p.name,
            p.content,
            JsonCol(p.data.clone()),
            JsonCol(p.meta.clone()),
            p.is_active,
            p.version_id,
            JsonCol(json!(p.tags)),
            p.updated_at
        ],
    )
}

/// Name, command and tags only; no history entry.
pub fn update_meta(
    c: &Connection,
    id: &str,
    name: &str,
    command: &str,
    tags: Option<&[String]>,
    now: i64,
) -> rusqlite::Result<Option<PromptRow>> {
    let Some(mut p) = get(c, id)? else {
        return Ok(None);
    };
    p.name = name.to_string();
    p.command = command.to_string();
    if let Some(t) = tags {
        p.tags = t.to_vec();
    }
    p.updated_at = now;
    save(c, &p)?;
    Ok(Some(p))
}

/// Makes a history entry the live version: its name, content, data, meta and
/// tags come back (the command and the grants stay as they are).
pub fn set_version(
    c: &Connection,
    id: &str,
    version_id: &str,
    now: i64,
) -> rusqlite::Result<Option<PromptRow>> {
    let Some(mut p) = get(c, id)? else {
        return Ok(None);
    };
    let Some(entry) = history::get(c, Kind::Prompt, id, version_id)? else {
        return Ok(None);
    };
    let s = &entry.snapshot;
    if let Some(v) = s.get("name").and_then(Value::as_str) {
        p.name = v.to_string();
    }
    if let Some(v) = s.get("content").and_then(Value::as_str) {
        p.content = v.to_string();
    }
    if let Some(v) = s.get("data") {
        p.data = object_or_empty(v.clone());
    }
    if let Some(v) = s.get("meta") {
        p.meta = object_or_empty(v.clone());
    }
    if let Some(v) = s.get("tags") {
        p.tags = tag_list(v);
    }
    p.version_id = Some(version_id.to_string());
    p.updated_at = now;
    save(c, &p)?;
    Ok(Some(p))
}

pub fn toggle(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<PromptRow>> {
    let Some(mut p) = get(c, id)? else {
        return Ok(None);
    };
    p.is_active = !p.is_active;
    p.updated_at = now;
    save(c, &p)?;
    Ok(Some(p))
}

/// Deletes a prompt with its history and grants.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    history::delete_all(c, Kind::Prompt, id)?;
    access_grants::delete_for(c, RESOURCE, &[id.to_string()])?;
    Ok(c.execute("DELETE FROM prompt WHERE id = ?1", [id])? > 0)
}

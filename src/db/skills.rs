//! The `skill` table (markdown instructions with optional supporting files,
//! stored in `data.files`; `SKILL.md` is the main file and mirrors `content`)
//! and its `skill_history` entries.

use std::collections::BTreeMap;

use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use super::access_grants::{self, GrantRow, NewGrant};
use super::json::JsonCol;
use super::table;
use super::workspace_history::{self as history, Kind};

pub const RESOURCE: &str = "skill";
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
const MAX_SKILL_BYTES: usize = 50 * 1024 * 1024;
const MAX_FILES: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct SkillRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: Option<String>,
    pub content: String,
    pub data: Value,
    pub meta: Value,
    pub is_active: bool,
    pub version_id: Option<String>,
    pub updated_at: i64,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, user_id, name, description, content, data, meta, is_active, version_id, updated_at, created_at";

/// Upstream's `SkillMeta`: `i18n` and `tags`.
pub fn normalize_meta(v: &Value) -> Value {
    let m = v.as_object().cloned().unwrap_or_default();
    let tags = match m.get("tags") {
        Some(Value::Array(a)) => Value::Array(a.clone()),
        _ => json!([]),
    };
    json!({"i18n": m.get("i18n").cloned().unwrap_or(Value::Null), "tags": tags})
}

fn from_row(r: &Row) -> rusqlite::Result<SkillRow> {
    let content = r.get::<_, Option<String>>("content")?.unwrap_or_default();
    let mut data = r.get::<_, JsonCol>("data")?.0;
    // Rows from before supporting files: the content is the only file.
    if !data.get("files").is_some_and(Value::is_array) {
        data = json!({"files": [{"path": "SKILL.md", "content": content}]});
    }
    Ok(SkillRow {
        id: r.get("id")?,
        user_id: r.get::<_, Option<String>>("user_id")?.unwrap_or_default(),
        name: r.get::<_, Option<String>>("name")?.unwrap_or_default(),
        description: r.get("description")?,
        content,
        data,
        meta: normalize_meta(&r.get::<_, JsonCol>("meta")?.0),
        is_active: r.get::<_, Option<bool>>("is_active")?.unwrap_or(true),
        version_id: r.get("version_id")?,
        updated_at: r.get::<_, Option<i64>>("updated_at")?.unwrap_or(0),
        created_at: r.get::<_, Option<i64>>("created_at")?.unwrap_or(0),
    })
}

/// `SkillModel` (everything) when `full`, else `SkillResponse` (no content/data).
pub fn wire(s: &SkillRow, grants: &[GrantRow], full: bool) -> Value {
    let mut v = json!({
        "version_id": s.version_id,
        "id": s.id,
        "user_id": s.user_id,
        "name": s.name,
        "description": s.description,
        "meta": s.meta,
        "is_active": s.is_active,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        "updated_at": s.updated_at,
        "created_at": s.created_at,
    });
    if full {
        v["content"] = json!(s.content);
        v["data"] = s.data.clone();
    }
    v
}

pub fn snapshot(s: &SkillRow) -> Value {
    json!({
        "name": s.name,
        "description": s.description,
        "content": s.content,
        "data": s.data,
        "meta": s.meta,
    })
}

pub fn files_of(snapshot_or_data: &Value) -> Vec<Value> {
    snapshot_or_data
        .get("files")
        .or_else(|| snapshot_or_data.get("data").and_then(|d| d.get("files")))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub fn file_bytes(f: &Value) -> Vec<u8> {
    let content = f.get("content").and_then(Value::as_str).unwrap_or("");
    if f.get("encoding").and_then(Value::as_str) == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(content)
            .unwrap_or_default()
    } else {
        content.as_bytes().to_vec()
    }
}

pub fn file_summaries(files: &[Value]) -> Vec<Value> {
    files
        .iter()
        .map(|f| {
            json!({
                "path": f.get("path"),
                "size": file_bytes(f).len(),
                "encoding": f.get("encoding").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path.contains(':')
    {
        return Err("File paths must be relative POSIX paths".into());
    }
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err("Invalid file path".into());
    }
    Ok(())
}

/// Checks a file list (paths, sizes, base64, a UTF-8 `SKILL.md` at the root)
/// and returns it sorted by path.
pub fn validate_files(files: &[Value], previous: &[Value]) -> Result<Vec<Value>, String> {
    let prev: BTreeMap<&str, usize> = previous
        .iter()
        .filter_map(|f| Some((f.get("path")?.as_str()?, file_bytes(f).len())))
        .collect();
    if files.len() > MAX_FILES.max(prev.len()) {
        return Err(format!("A skill may contain at most {MAX_FILES} files"));
    }
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    let mut total = 0usize;
    for f in files {
        let o = f.as_object().ok_or("Each file must be an object")?;
        if o.keys()
            .any(|k| !matches!(k.as_str(), "path" | "content" | "encoding"))
        {
            return Err("Unknown file field".into());
        }
        let path = o
            .get("path")
            .and_then(Value::as_str)
            .ok_or("File path required")?;
        let content = o
            .get("content")
            .and_then(Value::as_str)
            .ok_or("File content required")?;
        validate_path(path)?;
        let mut file = Map::new();
        file.insert("path".into(), json!(path));
        file.insert("content".into(), json!(content));
        match o.get("encoding") {
            None | Some(Value::Null) => {}
            Some(Value::String(e)) if e == "base64" => {
                base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .map_err(|_| format!("Invalid base64 content: {path}"))?;
                file.insert("encoding".into(), json!("base64"));
            }
            Some(_) => return Err("File encoding must be base64".into()),
        }
        let file = Value::Object(file);
        if out.contains_key(path) {
            return Err(format!("Duplicate file: {path}"));
        }
        let size = file_bytes(&file).len();
        if size > MAX_FILE_BYTES.max(prev.get(path).copied().unwrap_or(0)) {
            return Err(format!("File exceeds 10 MiB: {path}"));
        }
        total += size;
        out.insert(path.to_string(), file);
    }
    if total > MAX_SKILL_BYTES.max(prev.values().sum()) {
        return Err("Skill exceeds 50 MiB".into());
    }
    for path in out.keys() {
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            if out.contains_key(p) {
                return Err(format!("A file is also used as a directory: {path}"));
            }
            parent = p;
        }
    }
    match out.get("SKILL.md") {
        Some(f) if f.get("encoding").is_none() => {}
        _ => return Err("A skill requires a UTF-8 SKILL.md at its root".into()),
    }
    Ok(out.into_values().collect())
}

/// Applies the editor's `put` / `move` / `delete` operations to a file list.
pub fn apply_operations(files: &[Value], ops: &[Value]) -> Result<Vec<Value>, String> {
    let mut map: BTreeMap<String, Value> = files
        .iter()
        .filter_map(|f| Some((f.get("path")?.as_str()?.to_string(), f.clone())))
        .collect();
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("Operation required")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("Operation path required")?;
        validate_path(path)?;
        match kind {
            "put" => {
                let content = op
                    .get("content")
                    .and_then(Value::as_str)
                    .ok_or("put requires content")?;
                let mut f = json!({"path": path, "content": content});
                if let Some(e) = op.get("encoding").and_then(Value::as_str) {
                    f["encoding"] = json!(e);
                }
                map.insert(path.to_string(), f);
            }
            "move" | "delete" => {
                if path == "SKILL.md" {
                    return Err("SKILL.md cannot be moved or deleted".into());
                }
                let prefix = format!("{path}/");
                let matched: Vec<String> = map
                    .keys()
                    .filter(|p| *p == path || p.starts_with(&prefix))
                    .cloned()
                    .collect();
                if matched.is_empty() {
                    return Err(format!("File or directory not found: {path}"));
                }
                if kind == "move" {
                    let dest = op.get("destination").and_then(Value::as_str).unwrap_or("");
                    validate_path(dest)?;
                    if dest.starts_with(&prefix) {
                        return Err("Cannot move a directory into itself".into());
                    }
                    let moved: Vec<(String, Value)> = matched
                        .iter()
                        .map(|p| {
                            let np = format!("{dest}{}", &p[path.len()..]);
                            let mut f = map[p].clone();
                            f["path"] = json!(np);
                            (np, f)
                        })
                        .collect();
                    if moved
                        .iter()
                        .any(|(np, _)| map.contains_key(np) && !matched.contains(np))
                    {
                        return Err("Move would overwrite an existing file".into());
                    }
                    for p in &matched {
                        map.remove(p);
                    }
                    map.extend(moved);
                } else {
                    for p in &matched {
                        map.remove(p);
                    }
                }
            }
            _ => return Err("Operation must be put, move or delete".into()),
        }
    }
    validate_files(&map.into_values().collect::<Vec<_>>(), files)
}

pub fn main_content(files: &[Value]) -> String {
    files
        .iter()
        .find(|f| f.get("path").and_then(Value::as_str) == Some("SKILL.md"))
        .and_then(|f| f.get("content").and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<SkillRow>> {
    table::get(c, "skill", COLUMNS, id, from_row)
}

pub fn get_with_grants(
    c: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(SkillRow, Vec<GrantRow>)>> {
    table::with_grants(c, RESOURCE, id, get(c, id)?)
}

pub fn name_taken(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(
        c.query_row("SELECT 1 FROM skill WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

pub fn all_with_grants(c: &Connection) -> rusqlite::Result<Vec<(SkillRow, Vec<GrantRow>)>> {
    let rows = table::newest_first(c, "skill", COLUMNS, from_row)?;
    table::pair_with_grants(c, RESOURCE, rows, |s| &s.id)
}

pub struct NewSkill {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub meta: Value,
    pub files: Vec<Value>,
    pub is_active: bool,
    pub commit_message: Option<String>,
}

pub fn insert(
    c: &Connection,
    user_id: &str,
    n: &NewSkill,
    grants: &[NewGrant],
    now: i64,
) -> rusqlite::Result<SkillRow> {
    let content = main_content(&n.files);
    let meta = normalize_meta(&n.meta);
    let data = json!({"files": n.files});
    let snap = json!({
        "name": n.name, "description": n.description, "meta": meta,
        "content": content, "data": data,
    });
    let version = history::insert(
        c,
        Kind::Skill,
        &n.id,
        None,
        &snap,
        user_id,
        n.commit_message.as_deref(),
        now,
    )?;
    c.execute(
        "INSERT INTO skill (id, user_id, name, description, content, data, meta, is_active, version_id, updated_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            n.id,
            user_id,
            n.name,
            n.description,
            content,
            JsonCol(data),
            JsonCol(meta),
            n.is_active,
            version,
            now
        ],
    )?;
    access_grants::replace(c, RESOURCE, &n.id, grants, now)?;
    Ok(get(c, &n.id)?.expect("just inserted"))
}

/// Writes a new live snapshot (recording a history entry when it changed).
#[allow(clippy::too_many_arguments)]
pub fn update(
    c: &Connection,
    current: &SkillRow,
    name: &str,
    description: Option<&str>,
    meta: &Value,
    files: Vec<Value>,
    is_active: bool,
    commit_message: Option<&str>,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<SkillRow> {
    let meta = normalize_meta(meta);
    let content = main_content(&files);
    let snap = json!({
        "name": name, "description": description, "meta": meta,
        "content": content, "data": {"files": files},
    });
    let mut version = current.version_id.clone();
    if snap != snapshot(current) {
        let latest = history::latest(c, Kind::Skill, &current.id)?.map(|h| h.created_at);
        let created = latest.map_or(now, |l| now.max(l + 1));
        version = Some(history::insert(
            c,
            Kind::Skill,
            &current.id,
            current.version_id.as_deref(),
            &snap,
            user_id,
            commit_message,
            created,
        )?);
    }
    c.execute(
        "UPDATE skill SET name = ?2, description = ?3, content = ?4, data = ?5, meta = ?6, is_active = ?7, \
         version_id = ?8, updated_at = ?9 WHERE id = ?1",
        params![
            current.id,
            name,
            description,
            content,
            JsonCol(snap["data"].clone()),
            JsonCol(meta),
            is_active,
            version,
            now
        ],
    )?;
    Ok(get(c, &current.id)?.expect("exists"))
}

/// Makes a history entry the live version.
pub fn set_version(
    c: &Connection,
    id: &str,
    entry: &Value,
    version_id: &str,
    now: i64,
) -> rusqlite::Result<Option<SkillRow>> {
    let files = files_of(entry);
    c.execute(
        "UPDATE skill SET name = ?2, description = ?3, content = ?4, data = ?5, meta = ?6, version_id = ?7, \
         updated_at = ?8 WHERE id = ?1",
        params![
            id,
            entry.get("name").and_then(Value::as_str).unwrap_or(""),
            entry.get("description").and_then(Value::as_str),
            entry
                .get("content")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| main_content(&files)),
            JsonCol(json!({"files": files})),
            JsonCol(normalize_meta(entry.get("meta").unwrap_or(&Value::Null))),
            version_id,
            now
        ],
    )?;
    get(c, id)
}

pub fn toggle(c: &Connection, id: &str, now: i64) -> rusqlite::Result<Option<SkillRow>> {
    c.execute(
        "UPDATE skill SET is_active = NOT COALESCE(is_active, 1), updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    get(c, id)
}

pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    history::delete_all(c, Kind::Skill, id)?;
    access_grants::delete_for(c, RESOURCE, &[id.to_string()])?;
    Ok(c.execute("DELETE FROM skill WHERE id = ?1", [id])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_need_skill_md_and_clean_paths() {
        let ok = validate_files(&[json!({"path": "SKILL.md", "content": "# hi"})], &[]).unwrap();
        assert_eq!(ok.len(), 1);
        assert!(validate_files(&[json!({"path": "a.md", "content": ""})], &[]).is_err());
        assert!(validate_files(
            &[
                json!({"path": "SKILL.md", "content": ""}),
                json!({"path": "../x", "content": ""})
            ],
            &[]
        )
        .is_err());
        let files = vec![
            json!({"path": "SKILL.md", "content": "a"}),
            json!({"path": "docs/one.md", "content": "1"}),
        ];
        let moved = apply_operations(
            &files,
            &[
                json!({"op": "move", "path": "docs", "destination": "ref"}),
                json!({"op": "put", "path": "SKILL.md", "content": "b"}),
            ],
        )
        .unwrap();
        assert_eq!(moved[0]["path"], "SKILL.md");
        assert_eq!(moved[0]["content"], "b");
        assert_eq!(moved[1]["path"], "ref/one.md");
        assert!(apply_operations(&files, &[json!({"op": "delete", "path": "SKILL.md"})]).is_err());
    }
}

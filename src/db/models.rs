//! The `model` table (workspace models: presets on top of a base model, and
//! rows that carry the settings and visibility of a provider's model under
//! its own id) and its `model_history` snapshots.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use super::access_grants::{self, GrantRow};
use super::json::JsonCol;
use super::table;

pub const RESOURCE: &str = "model";

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub id: String,
    pub user_id: String,
    pub base_model_id: Option<String>,
    pub name: String,
    pub params: Value,
    pub meta: Value,
    pub is_active: bool,
    pub updated_at: i64,
    pub created_at: i64,
    pub version_id: Option<String>,
}

const COLUMNS: &str =
    "id, user_id, base_model_id, name, params, meta, is_active, updated_at, created_at, version_id";

fn from_row(r: &Row) -> rusqlite::Result<ModelRow> {
    Ok(ModelRow {
        id: r.get("id")?,
        user_id: r.get::<_, Option<String>>("user_id")?.unwrap_or_default(),
        // Upstream heals rows whose base is the model itself; so do we, on read.
        base_model_id: r
            .get::<_, Option<String>>("base_model_id")?
            .filter(|s| !s.is_empty()),
        name: r.get::<_, Option<String>>("name")?.unwrap_or_default(),
        params: object_or_empty(r.get::<_, JsonCol>("params")?.0),
        meta: object_or_empty(r.get::<_, JsonCol>("meta")?.0),
        is_active: r.get::<_, Option<bool>>("is_active")?.unwrap_or(true),
        updated_at: r.get::<_, Option<i64>>("updated_at")?.unwrap_or(0),
        created_at: r.get::<_, Option<i64>>("created_at")?.unwrap_or(0),
        version_id: r.get("version_id")?,
    })
    .map(|mut m| {
        if m.base_model_id.as_deref() == Some(m.id.as_str()) {
            m.base_model_id = None;
        }
        m
    })
}

fn object_or_empty(v: Value) -> Value {
    if v.is_object() {
        v
    } else {
        Value::Object(Map::new())
    }
}

/// Profile images upstream accepts: its own static fallbacks, a user's
/// profile image route, http(s) URLs with a host and raster data URIs.
pub fn valid_profile_image(url: &str) -> bool {
    if url.is_empty() || matches!(url, "/user.png" | "/favicon.png" | "/static/favicon.png") {
        return true;
    }
    if let Some(rest) = url.strip_prefix("/api/v1/users/") {
        if let Some(id) = rest.strip_suffix("/profile/image") {
            return !id.is_empty() && !id.contains(['/', '?', '#']);
        }
    }
    let lower = url.to_ascii_lowercase();
    for scheme in ["http://", "https://"] {
        if let Some(rest) = lower.strip_prefix(scheme) {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or("");
            let host = host.split(':').next().unwrap_or("");
            return !host.is_empty();
        }
    }
    ["png", "jpeg", "gif", "webp"]
        .iter()
        .any(|t| lower.starts_with(&format!("data:image/{t};base64,")))
}

/// A background image must be one of our own uploaded files.
pub fn valid_background_image(url: &str) -> bool {
    let Some(id) = url
        .strip_prefix("/api/v1/files/")
        .and_then(|r| r.strip_suffix("/content"))
    else {
        return false;
    };
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

fn tag_names(tags: &Value) -> Vec<Value> {
    let Some(list) = tags.as_array() else {
        return vec![];
    };
    list.iter()
        .filter_map(|t| match t {
            Value::Object(o) => o.get("name").and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| json!({ "name": s }))
        .collect()
}

/// Tags as `[{name}]`, whatever form they were stored in.
pub fn normalize_tags(tags: &Value) -> Value {
    Value::Array(tag_names(tags))
}

/// The meta object with upstream's declared fields first (null when absent),
/// tags normalized and an unacceptable profile image dropped.
pub fn normalize_meta(meta: &Value) -> Value {
    let src = meta.as_object().cloned().unwrap_or_default();
    let mut out = Map::new();
    for key in [
        "profile_image_url",
        "background_image_url",
        "description",
        "i18n",
        "capabilities",
        "knowledge",
        "voice",
        "voice_avatar",
    ] {
        out.insert(
            key.to_string(),
            src.get(key).cloned().unwrap_or(Value::Null),
        );
    }
    if !out["profile_image_url"]
        .as_str()
        .is_none_or(valid_profile_image)
    {
        out.insert("profile_image_url".into(), Value::Null);
    }
    for (k, v) in src {
        if !out.contains_key(&k) {
            out.insert(k, v);
        }
    }
    if let Some(tags) = out.get("tags").cloned() {
        out.insert("tags".into(), normalize_tags(&tags));
    }
    Value::Object(out)
}

/// Params as stored: any object; an empty `model_controls` is left out.
pub fn normalize_params(params: &Value) -> Value {
    let mut p = params.as_object().cloned().unwrap_or_default();
    if p.get("model_controls")
        .is_some_and(|c| c.as_object().is_none_or(Map::is_empty))
    {
        p.remove("model_controls");
    }
    Value::Object(p)
}

/// The full model object (`ModelModel`) with its grants.
pub fn wire(row: &ModelRow, grants: &[GrantRow]) -> Value {
    json!({
        "version_id": row.version_id,
        "id": row.id,
        "user_id": row.user_id,
        "base_model_id": row.base_model_id,
        "name": row.name,
        "params": normalize_params(&row.params),
        "meta": normalize_meta(&row.meta),
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        "is_active": row.is_active,
        "updated_at": row.updated_at,
        "created_at": row.created_at,
    })
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<ModelRow>> {
    table::get(c, "model", COLUMNS, id, from_row)
}

pub fn all(c: &Connection) -> rusqlite::Result<Vec<ModelRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM model ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// Every row with its grants: what the model list is built from.
pub fn all_with_grants(c: &Connection) -> rusqlite::Result<Vec<(ModelRow, Vec<GrantRow>)>> {
    table::pair_with_grants(c, RESOURCE, all(c)?, |m| &m.id)
}

pub fn get_with_grants(
    c: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(ModelRow, Vec<GrantRow>)>> {
    table::with_grants(c, RESOURCE, id, get(c, id)?)
}

/// Name, base, params and meta: what a history entry records and compares.
pub fn snapshot(name: &str, base_model_id: Option<&str>, params: &Value, meta: &Value) -> Value {
    let mut meta = normalize_meta(meta);
    if let Some(m) = meta.as_object_mut() {
        m.remove("hidden");
        m.remove("chat_variables_schema");
    }
    json!({
        "name": name,
        "base_model_id": base_model_id,
        "params": normalize_params(params),
        "meta": meta,
    })
}

fn insert_history(
    c: &Connection,
    model_id: &str,
    snap: &Value,
    user_id: &str,
    parent_id: Option<&str>,
    commit_message: Option<&str>,
    now: i64,
) -> rusqlite::Result<String> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO model_history (id, model_id, parent_id, snapshot, user_id, commit_message, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, model_id, parent_id, JsonCol(snap.clone()), user_id, commit_message, now],
    )?;
    Ok(id)
}

/// What a create or update writes.
#[derive(Debug, Clone)]
pub struct ModelForm {
    pub id: String,
    pub base_model_id: Option<String>,
    pub name: String,
    pub params: Value,
    pub meta: Value,
    pub is_active: Option<bool>,
    pub commit_message: Option<String>,
}

/// Inserts a model with its first history entry and its grants.
pub fn insert(
    c: &Connection,
    form: &ModelForm,
    user_id: &str,
    grants: &[access_grants::NewGrant],
    now: i64,
) -> rusqlite::Result<()> {
    let (params_v, meta_v, snap) = normalized(form);
    let version = insert_history(
        c,
        &form.id,
        &snap,
        user_id,
        None,
        form.commit_message.as_deref(),
        now,
    )?;
    c.execute(
        "INSERT INTO model (id, user_id, base_model_id, name, params, meta, is_active, updated_at, created_at, version_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        params![
            form.id,
            user_id,
            form.base_model_id,
            form.name,
            JsonCol(params_v),
            JsonCol(meta_v),
            form.is_active.unwrap_or(true),
            now,
            version
        ],
    )?;
    access_grants::replace(c, RESOURCE, &form.id, grants, now)?;
    Ok(())
}

/// The form's params and meta as stored, and the snapshot they make.
fn normalized(form: &ModelForm) -> (Value, Value, Value) {
    let params_v = normalize_params(&form.params);
    let meta_v = strip_derived(normalize_meta(&form.meta));
    let snap = snapshot(
        &form.name,
        form.base_model_id.as_deref(),
        &params_v,
        &meta_v,
    );
    (params_v, meta_v, snap)
}

fn strip_derived(mut meta: Value) -> Value {
    if let Some(m) = meta.as_object_mut() {
        m.remove("chat_variables_schema");
    }
    meta
}

/// Updates a model; a changed configuration gets a new history entry.
/// `is_active: None` keeps the current state. Grants are left alone.
pub fn update(
    c: &Connection,
    current: &ModelRow,
    form: &ModelForm,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let (params_v, meta_v, snap) = normalized(form);
    let previous = snapshot(
        &current.name,
        current.base_model_id.as_deref(),
        &current.params,
        &current.meta,
    );
    let version = if snap != previous {
        Some(insert_history(
            c,
            &current.id,
            &snap,
            user_id,
            current.version_id.as_deref(),
            form.commit_message.as_deref(),
            now,
        )?)
    } else {
        current.version_id.clone()
    };
    c.execute(
        "UPDATE model SET base_model_id = ?2, name = ?3, params = ?4, meta = ?5, is_active = ?6, \
         updated_at = ?7, version_id = ?8 WHERE id = ?1",
        params![
            current.id,
            form.base_model_id,
            form.name,
            JsonCol(params_v),
            JsonCol(meta_v),
            form.is_active.unwrap_or(current.is_active),
            now,
            version
        ],
    )?;
    Ok(())
}

/// Makes a history entry the live configuration again (the active state and
/// `meta.hidden` stay as they are).
pub fn set_version(
    c: &Connection,
    current: &ModelRow,
    history_id: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let Some(entry) = get_history(c, &current.id, history_id)? else {
        return Ok(false);
    };
    let snap = &entry.snapshot;
    let mut meta = normalize_meta(snap.get("meta").unwrap_or(&Value::Null));
    if let Some(m) = meta.as_object_mut() {
        m.remove("hidden");
        if let Some(h) = current.meta.get("hidden") {
            m.insert("hidden".into(), h.clone());
        }
    }
    let base = snap
        .get("base_model_id")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty() && *b != current.id);
    c.execute(
        "UPDATE model SET base_model_id = ?2, name = ?3, params = ?4, meta = ?5, updated_at = ?6, version_id = ?7 \
         WHERE id = ?1",
        params![
            current.id,
            base,
            snap.get("name").and_then(Value::as_str).unwrap_or(&current.name),
            JsonCol(normalize_params(snap.get("params").unwrap_or(&Value::Null))),
            JsonCol(meta),
            now,
            entry.id
        ],
    )?;
    Ok(true)
}

pub fn toggle(c: &Connection, id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE model SET is_active = NOT is_active, updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )
}

pub fn touch(c: &Connection, id: &str, now: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE model SET updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )
}

/// Deletes models with their grants and history.
pub fn delete(c: &Connection, ids: &[String]) -> rusqlite::Result<usize> {
    access_grants::delete_for(c, RESOURCE, ids)?;
    let mut n = 0;
    for id in ids {
        c.execute("DELETE FROM model_history WHERE model_id = ?1", [id])?;
        n += c.execute("DELETE FROM model WHERE id = ?1", [id])?;
    }
    Ok(n)
}

pub fn all_ids(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT id FROM model")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub id: String,
    pub model_id: String,
    pub parent_id: Option<String>,
    pub snapshot: Value,
    pub user_id: String,
    pub commit_message: Option<String>,
    pub created_at: i64,
    pub author_name: Option<String>,
}

impl HistoryRow {
    /// The list form leaves the snapshot out.
    pub fn wire(&self, with_snapshot: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "model_id": self.model_id,
            "parent_id": self.parent_id,
            "user_id": self.user_id,
            "commit_message": self.commit_message,
            "created_at": self.created_at,
            "user": self.author_name.as_ref().map(|n| json!({"name": n})),
        });
        if with_snapshot {
            v["snapshot"] = self.snapshot.clone();
        }
        v
    }
}

fn history_from_row(r: &Row) -> rusqlite::Result<HistoryRow> {
    Ok(HistoryRow {
        id: r.get(0)?,
        model_id: r.get(1)?,
        parent_id: r.get(2)?,
        snapshot: object_or_empty(r.get::<_, JsonCol>(3)?.0),
        user_id: r.get(4)?,
        commit_message: r.get(5)?,
        created_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
        author_name: r.get(7)?,
    })
}

const HISTORY_SELECT: &str =
    "SELECT h.id, h.model_id, h.parent_id, h.snapshot, h.user_id, h.commit_message, \
     h.created_at, u.name FROM model_history h LEFT JOIN user u ON u.id = h.user_id";

pub fn get_history(
    c: &Connection,
    model_id: &str,
    id: &str,
) -> rusqlite::Result<Option<HistoryRow>> {
    c.query_row(
        &format!("{HISTORY_SELECT} WHERE h.model_id = ?1 AND h.id = ?2"),
        [model_id, id],
        history_from_row,
    )
    .optional()
}

/// Newest first, 20 per page.
pub fn list_history(
    c: &Connection,
    model_id: &str,
    page: i64,
) -> rusqlite::Result<Vec<HistoryRow>> {
    let offset = (page.max(1) - 1) * 20;
    let mut st = c.prepare(&format!(
        "{HISTORY_SELECT} WHERE h.model_id = ?1 ORDER BY h.created_at DESC, h.id DESC LIMIT 20 OFFSET ?2"
    ))?;
    let rows = st.query_map(params![model_id, offset], history_from_row)?;
    rows.collect()
}

/// Removes one entry, re-linking its children to its parent.
pub fn delete_history(c: &Connection, model_id: &str, id: &str) -> rusqlite::Result<bool> {
    let Some(entry) = get_history(c, model_id, id)? else {
        return Ok(false);
    };
    c.execute(
        "UPDATE model_history SET parent_id = ?3 WHERE model_id = ?1 AND parent_id = ?2",
        params![model_id, id, entry.parent_id],
    )?;
    c.execute("DELETE FROM model_history WHERE id = ?1", [id])?;
    Ok(true)
}

/// The workspace list's filters (`GET /api/v1/models/list`).
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    pub query: Option<String>,
    pub view_option: Option<String>,
    pub tag: Option<String>,
    pub order_by: Option<String>,
    pub direction: Option<String>,
    /// `None` = no access restriction (admins).
    pub access: Option<(String, std::collections::HashSet<String>)>,
}

pub struct SearchResult {
    pub items: Vec<(ModelRow, Vec<GrantRow>, Option<Value>)>,
    pub total: i64,
}

/// Presets (rows with a base model) matching the filter, a page at a time.
pub fn search(
    c: &Connection,
    f: &SearchFilter,
    caller_id: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<SearchResult> {
    let mut rows: Vec<(ModelRow, Option<Value>)> = {
        let mut st = c.prepare(
            "SELECT m.id, m.user_id, m.base_model_id, m.name, m.params, m.meta, m.is_active, m.updated_at, \
             m.created_at, m.version_id, u.id AS uid, u.name AS uname, u.email AS uemail, u.role AS urole, \
             u.username AS uusername FROM model m LEFT JOIN user u ON u.id = m.user_id \
             WHERE m.base_model_id IS NOT NULL AND m.base_model_id != ''"
        )?;
        let mapped = st.query_map([], |r| {
            let m = from_row(r)?;
            let user = match r.get::<_, Option<String>>("uid")? {
                Some(uid) => Some(json!({
                    "id": uid,
                    "name": r.get::<_, Option<String>>("uname")?.unwrap_or_default(),
                    "role": r.get::<_, Option<String>>("urole")?.unwrap_or_else(|| "pending".into()),
                    "email": r.get::<_, Option<String>>("uemail")?.unwrap_or_default(),
                    "_username": r.get::<_, Option<String>>("uusername")?,
                })),
                None => None,
            };
            Ok((m, user))
        })?;
        mapped.collect::<rusqlite::Result<_>>()?
    };
    let mut grants = access_grants::by_type(c, RESOURCE)?;

    if let Some(q) = f.query.as_deref().filter(|q| !q.is_empty()) {
        let q = q.to_lowercase();
        rows.retain(|(m, u)| {
            let hit = |s: &str| s.to_lowercase().contains(&q);
            hit(&m.name)
                || m.base_model_id.as_deref().is_some_and(hit)
                || u.as_ref().is_some_and(|u| {
                    ["name", "email", "_username"]
                        .iter()
                        .any(|k| u.get(*k).and_then(Value::as_str).is_some_and(hit))
                })
        });
    }
    match f.view_option.as_deref() {
        Some("created") => rows.retain(|(m, _)| m.user_id == caller_id),
        Some("shared") => rows.retain(|(m, _)| m.user_id != caller_id),
        _ => {}
    }
    if let Some((uid, groups)) = &f.access {
        rows.retain(|(m, _)| {
            &m.user_id == uid
                || grants
                    .get(&m.id)
                    .is_some_and(|g| access_grants::grants_allow(g, uid, groups, "read"))
        });
    }
    if let Some(tag) = f.tag.as_deref().filter(|t| !t.is_empty()) {
        let tag = tag.to_lowercase();
        rows.retain(|(m, _)| {
            tag_names(m.meta.get("tags").unwrap_or(&Value::Null))
                .iter()
                .any(|t| t["name"].as_str().is_some_and(|n| n.to_lowercase() == tag))
        });
    }
    let asc = f.direction.as_deref() == Some("asc");
    match f.order_by.as_deref() {
        Some("name") => rows.sort_by_key(|r| r.0.name.to_lowercase()),
        Some("updated_at") => rows.sort_by_key(|r| r.0.updated_at),
        _ => rows.sort_by_key(|r| r.0.created_at),
    }
    let explicit_asc = asc && f.order_by.is_some();
    if !explicit_asc {
        rows.reverse();
    }
    let total = rows.len() as i64;
    let items = rows
        .into_iter()
        .skip(skip.max(0) as usize)
        .take(if limit > 0 {
            limit as usize
        } else {
            usize::MAX
        })
        .map(|(m, u)| {
            let g = grants.remove(&m.id).unwrap_or_default();
            let u = u.map(|mut u| {
                if let Some(o) = u.as_object_mut() {
                    o.remove("_username");
                }
                u
            });
            (m, g, u)
        })
        .collect();
    Ok(SearchResult { items, total })
}

/// Tag names used by presets (`base = false`) or base-model rows (`base = true`),
/// restricted to what the user may read unless `access` is `None`.
pub fn tags(
    c: &Connection,
    base: bool,
    access: Option<(&str, &std::collections::HashSet<String>)>,
) -> rusqlite::Result<Vec<String>> {
    let grants: HashMap<String, Vec<GrantRow>> = match access {
        Some(_) => access_grants::by_type(c, RESOURCE)?,
        None => HashMap::new(),
    };
    let mut set = std::collections::BTreeSet::new();
    for m in all(c)? {
        if m.base_model_id.is_none() != base {
            continue;
        }
        if let Some((uid, groups)) = access {
            let ok = m.user_id == uid
                || grants
                    .get(&m.id)
                    .is_some_and(|g| access_grants::grants_allow(g, uid, groups, "read"));
            if !ok {
                continue;
            }
        }
        for t in tag_names(m.meta.get("tags").unwrap_or(&Value::Null)) {
            if let Some(n) = t["name"].as_str() {
                set.insert(n.to_string());
            }
        }
    }
    Ok(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_completed_and_cleaned() {
        let m = normalize_meta(
            &json!({"tags": ["a", {"name": " b "}, 3], "profile_image_url": "javascript:x", "x": 1}),
        );
        assert_eq!(m["tags"], json!([{"name": "a"}, {"name": "b"}]));
        assert_eq!(m["profile_image_url"], Value::Null);
        assert_eq!(m["capabilities"], Value::Null);
        assert_eq!(m["x"], 1);
        let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "profile_image_url");
    }

    #[test]
    fn profile_images() {
        assert!(valid_profile_image("/static/favicon.png"));
        assert!(valid_profile_image("https://example.com/a.png"));
        assert!(valid_profile_image("data:image/png;base64,AAAA"));
        assert!(!valid_profile_image("data:image/svg+xml;base64,AAAA"));
        assert!(!valid_profile_image("http:///nohost"));
        assert!(!valid_profile_image("/etc/passwd"));
        assert!(valid_profile_image("/api/v1/users/abc/profile/image"));
        assert!(valid_background_image(
            "/api/v1/files/0b0e9a4c-1b2c-4d5e-8f90-123456789abc/content"
        ));
        assert!(!valid_background_image("/api/v1/files/../content"));
    }

    #[test]
    fn params_drop_empty_controls() {
        assert_eq!(
            normalize_params(&json!({"model_controls": {}, "system": "s"})),
            json!({"system": "s"})
        );
        assert_eq!(normalize_params(&Value::Null), json!({}));
    }
}

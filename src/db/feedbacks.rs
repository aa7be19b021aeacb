//! The `feedback` table: message ratings (thumbs up/down with reasons, arena
//! comparisons) that the evaluation leaderboard is computed from.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use super::json::{opt, JsonCol};

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRow {
    pub id: String,
    pub user_id: String,
    pub version: i64,
    pub kind: String,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub snapshot: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A validated create/update request.
#[derive(Debug, Clone, Default)]
pub struct FeedbackForm {
    pub kind: String,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub snapshot: Option<Value>,
}

const COLUMNS: &str =
    "f.id, f.user_id, f.version, f.type, f.data, f.meta, f.snapshot, f.created_at, f.updated_at";

fn object(v: Option<Value>) -> Option<Value> {
    v.filter(Value::is_object)
}

fn from_row(r: &Row) -> rusqlite::Result<FeedbackRow> {
    Ok(FeedbackRow {
        id: r.get(0)?,
        user_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        version: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
        kind: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        data: object(opt(r.get::<_, JsonCol>(4)?)),
        meta: object(opt(r.get::<_, JsonCol>(5)?)),
        snapshot: object(opt(r.get::<_, JsonCol>(6)?)),
        created_at: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
    })
}

/// `FeedbackModel` (with the chat snapshot) or `FeedbackResponse` (without).
pub fn wire(f: &FeedbackRow, with_snapshot: bool) -> Value {
    let mut v = json!({
        "id": f.id,
        "user_id": f.user_id,
        "version": f.version,
        "type": f.kind,
        "data": f.data,
        "meta": f.meta,
        "created_at": f.created_at,
        "updated_at": f.updated_at,
    });
    if with_snapshot {
        v["snapshot"] = f.snapshot.clone().unwrap_or(Value::Null);
    }
    v
}

/// The rating payload with upstream's declared keys always present.
pub fn normalize_data(v: &Value) -> Value {
    let mut m: Map<String, Value> = v.as_object().cloned().unwrap_or_default();
    for k in [
        "rating",
        "model_id",
        "sibling_model_ids",
        "reason",
        "comment",
    ] {
        m.entry(k).or_insert(Value::Null);
    }
    Value::Object(m)
}

pub fn normalize_snapshot(v: &Value) -> Value {
    let mut m: Map<String, Value> = v.as_object().cloned().unwrap_or_default();
    m.entry("chat").or_insert(Value::Null);
    Value::Object(m)
}

pub fn insert(
    c: &Connection,
    user_id: &str,
    f: &FeedbackForm,
    now: i64,
) -> rusqlite::Result<FeedbackRow> {
    let id = super::new_id();
    let j = |v: &Option<Value>| v.clone().map(JsonCol);
    c.execute(
        "INSERT INTO feedback (id, user_id, version, type, data, meta, snapshot, created_at, updated_at) \
         VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![id, user_id, f.kind, j(&f.data), j(&f.meta), j(&f.snapshot), now],
    )?;
    Ok(get(c, &id, None)?.expect("just inserted"))
}

/// One feedback; with `owner`, only if that user wrote it.
pub fn get(c: &Connection, id: &str, owner: Option<&str>) -> rusqlite::Result<Option<FeedbackRow>> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM feedback f WHERE f.id = ?1 AND (?2 IS NULL OR f.user_id = ?2)"
        ),
        params![id, owner],
        from_row,
    )
    .optional()
}

/// Replaces the parts the form sets (non-empty ones, as upstream).
pub fn update(
    c: &Connection,
    id: &str,
    owner: Option<&str>,
    f: &FeedbackForm,
    now: i64,
) -> rusqlite::Result<Option<FeedbackRow>> {
    let Some(mut row) = get(c, id, owner)? else {
        return Ok(None);
    };
    let non_empty = |v: &Option<Value>| {
        v.clone()
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
    };
    if let Some(d) = non_empty(&f.data) {
        row.data = Some(d);
    }
    if let Some(m) = non_empty(&f.meta) {
        row.meta = Some(m);
    }
    if let Some(s) = non_empty(&f.snapshot) {
        row.snapshot = Some(s);
    }
    c.execute(
        "UPDATE feedback SET data = ?2, meta = ?3, snapshot = ?4, updated_at = ?5 WHERE id = ?1",
        params![
            id,
            row.data.clone().map(JsonCol),
            row.meta.clone().map(JsonCol),
            row.snapshot.clone().map(JsonCol),
            now
        ],
    )?;
    row.updated_at = now;
    Ok(Some(row))
}

pub fn delete(c: &Connection, id: &str, owner: Option<&str>) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM feedback WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
        params![id, owner],
    )? > 0)
}

/// Deletes every feedback (of one user when given); true when any went.
pub fn delete_all(c: &Connection, owner: Option<&str>) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM feedback WHERE (?1 IS NULL OR user_id = ?1)",
        params![owner],
    )? > 0)
}

/// Newest change first.
pub fn all(c: &Connection) -> rusqlite::Result<Vec<FeedbackRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM feedback f ORDER BY f.updated_at DESC, f.id"
    ))?;
    let rows = st.query_map([], from_row)?;
    rows.collect()
}

/// The user object embedded in feedback lists.
fn user_wire(r: &Row, base: usize) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, String>(base)?,
        "name": r.get::<_, Option<String>>(base + 1)?.unwrap_or_default(),
        "email": r.get::<_, Option<String>>(base + 2)?.unwrap_or_default(),
        "role": r.get::<_, Option<String>>(base + 3)?.unwrap_or_else(|| "pending".into()),
        "last_active_at": r.get::<_, Option<i64>>(base + 4)?.unwrap_or(0),
        "updated_at": r.get::<_, Option<i64>>(base + 5)?.unwrap_or(0),
        "created_at": r.get::<_, Option<i64>>(base + 6)?.unwrap_or(0),
    }))
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub model_id: Option<String>,
    pub user_id: Option<String>,
    pub order_by: Option<String>,
    pub direction: Option<String>,
}

/// A page of feedbacks (with their authors) and the total count.
pub fn page(
    c: &Connection,
    f: &ListFilter,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<(Vec<(FeedbackRow, Value)>, i64)> {
    let asc = f.direction.as_deref() == Some("asc");
    let dir = if asc { "ASC" } else { "DESC" };
    let order = match f.order_by.as_deref() {
        Some("username") => format!("u.name {dir}"),
        Some("model_id") => format!("json_extract(f.data, '$.model_id') {dir}"),
        Some("rating") => format!("CAST(json_extract(f.data, '$.rating') AS TEXT) {dir}"),
        Some("updated_at") => format!("f.updated_at {dir}"),
        _ if f.user_id.is_some() => "f.updated_at DESC".to_string(),
        _ => "f.created_at DESC".to_string(),
    };
    let filter =
        "(?1 IS NULL OR (json_valid(f.data) AND json_extract(f.data, '$.model_id') = ?1)) \
                  AND (?2 IS NULL OR f.user_id = ?2)";
    let total: i64 = c.query_row(
        &format!("SELECT COUNT(*) FROM feedback f JOIN user u ON u.id = f.user_id WHERE {filter}"),
        params![f.model_id, f.user_id],
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS}, u.id, u.name, u.email, u.role, u.last_active_at, u.updated_at, u.created_at \
         FROM feedback f JOIN user u ON u.id = f.user_id WHERE {filter} ORDER BY {order}, f.id LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = st.query_map(params![f.model_id, f.user_id, limit, skip], |r| {
        Ok((from_row(r)?, user_wire(r, 9)?))
    })?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}

pub fn ids(c: &Connection) -> rusqlite::Result<Vec<Value>> {
    let mut st = c.prepare(
        "SELECT id, user_id, created_at, updated_at FROM feedback ORDER BY updated_at DESC, id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(json!({
            "id": r.get::<_, String>(0)?,
            "user_id": r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            "created_at": r.get::<_, Option<i64>>(2)?.unwrap_or(0),
            "updated_at": r.get::<_, Option<i64>>(3)?.unwrap_or(0),
        }))
    })?;
    rows.collect()
}

/// Distinct rated model ids, sorted.
pub fn model_ids(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT DISTINCT json_extract(data, '$.model_id') FROM feedback \
         WHERE json_valid(data) AND json_extract(data, '$.model_id') IS NOT NULL",
    )?;
    let mut out: Vec<String> = st
        .query_map([], |r| r.get::<_, Option<String>>(0))?
        .filter_map(|r| r.ok().flatten())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    Ok(out)
}

/// `(id, created_at, data)` of every feedback with a rating payload.
pub fn ratings(c: &Connection) -> rusqlite::Result<Vec<(String, i64, Value)>> {
    let mut st = c.prepare("SELECT id, created_at, data FROM feedback ORDER BY rowid")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?.unwrap_or(0),
            r.get::<_, JsonCol>(2)?.0,
        ))
    })?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, _, d)| d.is_object())
        .collect())
}

//! The `automation` and `automation_run` tables: scheduled prompts and the
//! record of each time one ran.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::json::{opt, JsonCol};
use super::table;

#[derive(Debug, Clone)]
pub struct AutomationRow {
    pub id: String,
    pub user_id: String,
    pub folder_id: Option<String>,
    pub name: String,
    pub data: Value,
    pub meta: Option<Value>,
    pub is_active: bool,
    pub last_run_at: Option<i64>,
    pub next_run_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AutomationRow {
    pub fn rrule(&self) -> String {
        self.data
            .get("rrule")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub automation_id: String,
    pub chat_id: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub created_at: i64,
}

/// The writable fields of an automation.
#[derive(Debug, Clone)]
pub struct AutomationFields {
    pub name: String,
    pub folder_id: Option<String>,
    pub data: Value,
    pub meta: Option<Value>,
    pub is_active: Option<bool>,
}

const COLUMNS: &str =
    "id, user_id, folder_id, name, data, meta, is_active, last_run_at, next_run_at, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<AutomationRow> {
    Ok(AutomationRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        folder_id: r.get(2)?,
        name: r.get(3)?,
        data: r.get::<_, JsonCol>(4)?.into_inner(),
        meta: opt(r.get::<_, JsonCol>(5)?),
        is_active: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
        last_run_at: r.get(7)?,
        next_run_at: r.get(8)?,
        created_at: r.get::<_, Option<i64>>(9)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
    })
}

const RUN_COLUMNS: &str = "id, automation_id, chat_id, status, error, created_at";

fn run_from_row(r: &Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        automation_id: r.get(1)?,
        chat_id: r.get(2)?,
        status: r.get(3)?,
        error: r.get(4)?,
        created_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
    })
}

pub fn insert(
    c: &Connection,
    user_id: &str,
    f: &AutomationFields,
    next_run_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<AutomationRow> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO automation (id, user_id, folder_id, name, data, meta, is_active, last_run_at, next_run_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?9)",
        params![
            id,
            user_id,
            f.folder_id,
            f.name,
            JsonCol(f.data.clone()),
            JsonCol(f.meta.clone().unwrap_or(Value::Null)),
            f.is_active.unwrap_or(true),
            next_run_at,
            now
        ],
    )?;
    Ok(get(c, &id)?.expect("just inserted"))
}

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<AutomationRow>> {
    table::get(c, "automation", COLUMNS, id, from_row)
}

pub fn count_by_user(c: &Connection, user_id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT COUNT(*) FROM automation WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )
}

pub fn active_by_user(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<AutomationRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM automation WHERE user_id = ?1 AND is_active = 1 ORDER BY created_at DESC"
    ))?;
    let rows = st.query_map([user_id], from_row)?;
    rows.collect()
}

pub struct SearchFilter {
    pub query: Option<String>,
    pub status: Option<String>,
    pub folder_id: Option<String>,
    pub skip: i64,
    pub limit: i64,
}

/// A user's automations, newest first, and the total before paging.
pub fn search(
    c: &Connection,
    user_id: &str,
    f: &SearchFilter,
) -> rusqlite::Result<(Vec<AutomationRow>, i64)> {
    let mut sql = String::from(" FROM automation WHERE user_id = ?1");
    let mut args: Vec<String> = vec![user_id.to_string()];
    if let Some(folder) = f.folder_id.as_deref().filter(|s| !s.is_empty()) {
        args.push(folder.to_string());
        sql.push_str(&format!(" AND folder_id = ?{}", args.len()));
    }
    if let Some(q) = f.query.as_deref().filter(|s| !s.is_empty()) {
        args.push(super::like_contains(q));
        let n = args.len();
        sql.push_str(&format!(
            " AND (name LIKE ?{n} ESCAPE '\\' OR json_extract(data, '$.prompt') LIKE ?{n} ESCAPE '\\')"
        ));
    }
    match f.status.as_deref() {
        Some("active") => sql.push_str(" AND is_active = 1"),
        Some("paused") => sql.push_str(" AND is_active = 0"),
        _ => {}
    }
    let total: i64 = c.query_row(
        &format!("SELECT COUNT(*){sql}"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS}{sql} ORDER BY created_at DESC LIMIT {} OFFSET {}",
        f.limit.max(0),
        f.skip.max(0)
    ))?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args.iter()), from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, total))
}

pub fn update(
    c: &Connection,
    id: &str,
    f: &AutomationFields,
    next_run_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<Option<AutomationRow>> {
    c.execute(
        "UPDATE automation SET name = ?2, folder_id = ?3, data = ?4, meta = ?5, \
           is_active = COALESCE(?6, is_active), next_run_at = ?7, updated_at = ?8 WHERE id = ?1",
        params![
            id,
            f.name,
            f.folder_id,
            JsonCol(f.data.clone()),
            JsonCol(f.meta.clone().unwrap_or(Value::Null)),
            f.is_active,
            next_run_at,
            now
        ],
    )?;
    get(c, id)
}

/// Flips `is_active`; an activated automation gets `next_run_at`, a paused one none.
pub fn toggle(
    c: &Connection,
    id: &str,
    next_run_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<Option<AutomationRow>> {
    c.execute(
        "UPDATE automation SET is_active = NOT is_active, \
           next_run_at = CASE WHEN is_active THEN NULL ELSE ?2 END, updated_at = ?3 WHERE id = ?1",
        params![id, next_run_at, now],
    )?;
    get(c, id)
}

pub fn set_last_run_at(
    c: &Connection,
    id: &str,
    now: i64,
) -> rusqlite::Result<Option<AutomationRow>> {
    c.execute(
        "UPDATE automation SET last_run_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    get(c, id)
}

pub fn clear_folder(c: &Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE automation SET folder_id = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Deletes an automation and its runs.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute("DELETE FROM automation_run WHERE automation_id = ?1", [id])?;
    Ok(c.execute("DELETE FROM automation WHERE id = ?1", [id])? > 0)
}

/// Active automations whose `next_run_at` has passed, oldest first.
pub fn due(c: &Connection, now: i64, limit: i64) -> rusqlite::Result<Vec<AutomationRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM automation WHERE is_active = 1 AND next_run_at IS NOT NULL \
           AND next_run_at <= ?1 ORDER BY next_run_at LIMIT ?2"
    ))?;
    let rows = st.query_map(params![now, limit], from_row)?;
    rows.collect()
}

/// Claims a due automation: records the run time and moves `next_run_at`
/// on, only if nobody moved it since it was read. True when claimed.
pub fn claim(
    c: &Connection,
    id: &str,
    seen_next_run_at: i64,
    next_run_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE automation SET last_run_at = ?3, next_run_at = ?4 \
         WHERE id = ?1 AND next_run_at = ?2 AND is_active = 1",
        params![id, seen_next_run_at, now, next_run_at],
    )? > 0)
}

pub fn insert_run(
    c: &Connection,
    automation_id: &str,
    status: &str,
    chat_id: Option<&str>,
    error: Option<&str>,
    now: i64,
) -> rusqlite::Result<RunRow> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO automation_run (id, automation_id, chat_id, status, error, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, automation_id, chat_id, status, error, now],
    )?;
    Ok(RunRow {
        id,
        automation_id: automation_id.into(),
        chat_id: chat_id.map(str::to_string),
        status: status.into(),
        error: error.map(str::to_string),
        created_at: now,
    })
}

pub fn latest_run(c: &Connection, automation_id: &str) -> rusqlite::Result<Option<RunRow>> {
    c.query_row(
        &format!(
            "SELECT {RUN_COLUMNS} FROM automation_run WHERE automation_id = ?1 \
             ORDER BY created_at DESC LIMIT 1"
        ),
        [automation_id],
        run_from_row,
    )
    .optional()
}

pub fn latest_runs(c: &Connection, ids: &[String]) -> rusqlite::Result<HashMap<String, RunRow>> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(r) = latest_run(c, id)? {
            out.insert(id.clone(), r);
        }
    }
    Ok(out)
}

pub fn runs(
    c: &Connection,
    automation_id: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<RunRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {RUN_COLUMNS} FROM automation_run WHERE automation_id = ?1 \
         ORDER BY created_at DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(
        params![automation_id, limit.max(0), skip.max(0)],
        run_from_row,
    )?;
    rows.collect()
}

/// A user's runs in `[start, end)` with their automation, newest first.
pub fn runs_in_range(
    c: &Connection,
    user_id: &str,
    start: i64,
    end: i64,
    limit: i64,
) -> rusqlite::Result<Vec<(RunRow, AutomationRow)>> {
    let mut st = c.prepare(
        "SELECT r.id, r.automation_id, r.chat_id, r.status, r.error, r.created_at FROM automation_run r \
         JOIN automation a ON a.id = r.automation_id \
         WHERE a.user_id = ?1 AND r.created_at >= ?2 AND r.created_at < ?3 \
         ORDER BY r.created_at DESC LIMIT ?4",
    )?;
    let runs = st
        .query_map(params![user_id, start, end, limit], run_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(runs.len());
    let mut cache: HashMap<String, AutomationRow> = HashMap::new();
    for run in runs {
        let auto = match cache.get(&run.automation_id) {
            Some(a) => a.clone(),
            None => match get(c, &run.automation_id)? {
                Some(a) => {
                    cache.insert(a.id.clone(), a.clone());
                    a
                }
                None => continue,
            },
        };
        out.push((run, auto));
    }
    Ok(out)
}

//! The `calendar`, `calendar_event` and `calendar_event_attendee` tables.
//! Sharing of calendars goes through `access_grant` rows (resource type
//! `calendar`).

use std::collections::{HashMap, HashSet};

use rusqlite::{params, params_from_iter, Connection, Row};
use serde_json::Value;

use super::access_grants;
use super::json::{opt, JsonCol};
use super::table;

pub const RESOURCE: &str = "calendar";

#[derive(Debug, Clone)]
pub struct CalendarRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub color: Option<String>,
    pub is_default: bool,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub calendar_id: String,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub all_day: bool,
    pub rrule: Option<String>,
    pub color: Option<String>,
    pub location: Option<String>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub is_cancelled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct AttendeeRow {
    pub id: String,
    pub event_id: String,
    pub user_id: String,
    pub status: String,
    pub meta: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

const CAL_COLUMNS: &str =
    "id, user_id, name, color, is_default, data, meta, created_at, updated_at";

fn cal_from_row(r: &Row) -> rusqlite::Result<CalendarRow> {
    Ok(CalendarRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        color: r.get(3)?,
        is_default: r.get::<_, Option<bool>>(4)?.unwrap_or(false),
        data: opt(r.get::<_, JsonCol>(5)?),
        meta: opt(r.get::<_, JsonCol>(6)?),
        created_at: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
    })
}

const EVENT_COLUMNS: &str =
    "id, calendar_id, user_id, title, description, start_at, end_at, all_day, rrule, \
    color, location, data, meta, is_cancelled, created_at, updated_at";

fn event_from_row(r: &Row) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        calendar_id: r.get(1)?,
        user_id: r.get(2)?,
        title: r.get(3)?,
        description: r.get(4)?,
        start_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        end_at: r.get(6)?,
        all_day: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
        rrule: r.get::<_, Option<String>>(8)?.filter(|s| !s.is_empty()),
        color: r.get(9)?,
        location: r.get(10)?,
        data: opt(r.get::<_, JsonCol>(11)?),
        meta: opt(r.get::<_, JsonCol>(12)?),
        is_cancelled: r.get::<_, Option<bool>>(13)?.unwrap_or(false),
        created_at: r.get::<_, Option<i64>>(14)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(15)?.unwrap_or(0),
    })
}

fn attendee_from_row(r: &Row) -> rusqlite::Result<AttendeeRow> {
    Ok(AttendeeRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        user_id: r.get(2)?,
        status: r
            .get::<_, Option<String>>(3)?
            .unwrap_or_else(|| "pending".into()),
        meta: opt(r.get::<_, JsonCol>(4)?),
        created_at: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        updated_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
    })
}

fn json_or_null(v: &Option<Value>) -> JsonCol {
    JsonCol(v.clone().unwrap_or(Value::Null))
}

// ---------- calendars ----------

pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<CalendarRow>> {
    table::get(c, "calendar", CAL_COLUMNS, id, cal_from_row)
}

/// Ids of the calendars a user may read: owned ones and those shared with
/// the user, a group of theirs, or everyone.
pub fn readable_ids(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<String>> {
    let groups: Vec<String> = access_grants::group_ids_of(c, user_id)?
        .into_iter()
        .collect();
    let marks = vec!["?"; groups.len()].join(",");
    let group_clause = if groups.is_empty() {
        String::new()
    } else {
        format!(" OR (g.principal_type = 'group' AND g.principal_id IN ({marks}))")
    };
    // A write grant includes reading.
    let sql = format!(
        "SELECT id FROM calendar WHERE user_id = ? OR id IN ( \
           SELECT g.resource_id FROM access_grant g WHERE g.resource_type = '{RESOURCE}' \
             AND g.permission IN ('read', 'write') \
             AND ((g.principal_type = 'user' AND g.principal_id IN (?, '{public}')){group_clause})) \
         ORDER BY created_at ASC",
        public = access_grants::PUBLIC,
    );
    let mut args: Vec<&str> = vec![user_id, user_id];
    args.extend(groups.iter().map(String::as_str));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), |r| r.get(0))?;
    rows.collect()
}

/// The calendars a user sees, creating the default "Personal" calendar when
/// the user has none yet.
pub fn list_for_user(
    c: &Connection,
    user_id: &str,
    now: i64,
) -> rusqlite::Result<Vec<CalendarRow>> {
    let ids = readable_ids(c, user_id)?;
    if ids.is_empty() {
        let id = super::new_id();
        c.execute(
            "INSERT INTO calendar (id, user_id, name, color, is_default, data, meta, created_at, updated_at) \
             VALUES (?1, ?2, 'Personal', '#3b82f6', 1, NULL, NULL, ?3, ?3)",
            params![id, user_id, now],
        )?;
        return Ok(get(c, &id)?.into_iter().collect());
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(cal) = get(c, &id)? {
            out.push(cal);
        }
    }
    Ok(out)
}

pub struct NewCalendar {
    pub name: String,
    pub color: Option<String>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
}

pub fn insert(
    c: &Connection,
    user_id: &str,
    n: &NewCalendar,
    now: i64,
) -> rusqlite::Result<CalendarRow> {
    let id = super::new_id();
    c.execute(
        "INSERT INTO calendar (id, user_id, name, color, is_default, data, meta, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?7)",
        params![id, user_id, n.name, n.color, json_or_null(&n.data), json_or_null(&n.meta), now],
    )?;
    Ok(get(c, &id)?.expect("just inserted"))
}

/// Partial update: `None` leaves a field; `data`/`meta` merge into the stored object.
pub struct CalendarUpdate {
    pub name: Option<String>,
    pub color: Option<Option<String>>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
}

fn merge(stored: Option<Value>, incoming: &Value) -> Value {
    let mut base = match stored {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    if let Value::Object(m) = incoming {
        for (k, v) in m {
            base.insert(k.clone(), v.clone());
        }
    }
    Value::Object(base)
}

/// Overwrites `slot` with the sent value, if one was sent.
fn assign<T: Clone>(slot: &mut T, sent: &Option<T>) {
    if let Some(v) = sent {
        *slot = v.clone();
    }
}

pub fn update(
    c: &Connection,
    id: &str,
    u: &CalendarUpdate,
    now: i64,
) -> rusqlite::Result<Option<CalendarRow>> {
    let Some(mut cal) = get(c, id)? else {
        return Ok(None);
    };
    assign(&mut cal.name, &u.name);
    assign(&mut cal.color, &u.color);
    if let Some(d) = &u.data {
        cal.data = Some(merge(cal.data.take(), d));
    }
    if let Some(m) = &u.meta {
        cal.meta = Some(merge(cal.meta.take(), m));
    }
    c.execute(
        "UPDATE calendar SET name = ?2, color = ?3, data = ?4, meta = ?5, updated_at = ?6 WHERE id = ?1",
        params![id, cal.name, cal.color, json_or_null(&cal.data), json_or_null(&cal.meta), now],
    )?;
    get(c, id)
}

/// Makes one of the user's own calendars the default; `None` when the
/// calendar is not theirs (then no default changes either).
pub fn set_default(
    c: &Connection,
    user_id: &str,
    calendar_id: &str,
    now: i64,
) -> rusqlite::Result<Option<CalendarRow>> {
    match get(c, calendar_id)? {
        Some(cal) if cal.user_id == user_id => {}
        _ => return Ok(None),
    }
    c.execute(
        "UPDATE calendar SET is_default = 0 WHERE user_id = ?1 AND is_default = 1",
        [user_id],
    )?;
    c.execute(
        "UPDATE calendar SET is_default = 1, updated_at = ?2 WHERE id = ?1",
        params![calendar_id, now],
    )?;
    get(c, calendar_id)
}

/// Deletes a calendar with its events, their attendees and its grants.
pub fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute(
        "DELETE FROM calendar_event_attendee WHERE event_id IN (SELECT id FROM calendar_event WHERE calendar_id = ?1)",
        [id],
    )?;
    c.execute("DELETE FROM calendar_event WHERE calendar_id = ?1", [id])?;
    access_grants::delete_for(c, RESOURCE, &[id.to_string()])?;
    Ok(c.execute("DELETE FROM calendar WHERE id = ?1", [id])? > 0)
}

// ---------- events ----------

pub struct NewEvent {
    pub calendar_id: String,
    pub title: String,
    pub description: Option<String>,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub all_day: bool,
    pub rrule: Option<String>,
    pub color: Option<String>,
    pub location: Option<String>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
}

pub fn get_event(c: &Connection, id: &str) -> rusqlite::Result<Option<EventRow>> {
    table::get(c, "calendar_event", EVENT_COLUMNS, id, event_from_row)
}

pub fn insert_event(
    c: &Connection,
    user_id: &str,
    n: &NewEvent,
    now: i64,
) -> rusqlite::Result<EventRow> {
    let id = super::new_id();
    c.execute(
        &format!(
            "INSERT INTO calendar_event ({EVENT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?14)"
        ),
        params![
            id,
            n.calendar_id,
            user_id,
            n.title,
            n.description,
            n.start_at,
            n.end_at,
            n.all_day,
            n.rrule,
            n.color,
            n.location,
            json_or_null(&n.data),
            json_or_null(&n.meta),
            now
        ],
    )?;
    Ok(get_event(c, &id)?.expect("just inserted"))
}

/// Partial event update (outer `None` = field not sent).
#[derive(Default)]
pub struct EventUpdate {
    pub calendar_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub start_at: Option<i64>,
    pub end_at: Option<Option<i64>>,
    pub all_day: Option<bool>,
    pub rrule: Option<Option<String>>,
    pub color: Option<Option<String>>,
    pub location: Option<Option<String>>,
    pub data: Option<Value>,
    pub meta: Option<Value>,
    pub is_cancelled: Option<bool>,
}

pub fn update_event(
    c: &Connection,
    id: &str,
    u: &EventUpdate,
    now: i64,
) -> rusqlite::Result<Option<EventRow>> {
    let Some(mut e) = get_event(c, id)? else {
        return Ok(None);
    };
    assign(&mut e.calendar_id, &u.calendar_id);
    assign(&mut e.title, &u.title);
    assign(&mut e.description, &u.description);
    assign(&mut e.start_at, &u.start_at);
    assign(&mut e.end_at, &u.end_at);
    assign(&mut e.all_day, &u.all_day);
    assign(&mut e.rrule, &u.rrule);
    assign(&mut e.color, &u.color);
    assign(&mut e.location, &u.location);
    assign(&mut e.is_cancelled, &u.is_cancelled);
    if let Some(d) = &u.data {
        e.data = Some(merge(e.data.take(), d));
    }
    if let Some(m) = &u.meta {
        e.meta = Some(merge(e.meta.take(), m));
    }
    c.execute(
        "UPDATE calendar_event SET calendar_id = ?2, title = ?3, description = ?4, start_at = ?5, end_at = ?6, \
           all_day = ?7, rrule = ?8, color = ?9, location = ?10, data = ?11, meta = ?12, is_cancelled = ?13, \
           updated_at = ?14 WHERE id = ?1",
        params![
            id,
            e.calendar_id,
            e.title,
            e.description,
            e.start_at,
            e.end_at,
            e.all_day,
            e.rrule,
            e.color,
            e.location,
            json_or_null(&e.data),
            json_or_null(&e.meta),
            e.is_cancelled,
            now
        ],
    )?;
    get_event(c, id)
}

pub fn delete_event(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute(
        "DELETE FROM calendar_event_attendee WHERE event_id = ?1",
        [id],
    )?;
    Ok(c.execute("DELETE FROM calendar_event WHERE id = ?1", [id])? > 0)
}

/// Events a user sees that are not cancelled: those in `calendar_ids` plus
/// those the user attends (unless declined). One-off events must overlap
/// `[start, end)`; recurring ones are all returned for expansion.
pub fn events_in_range(
    c: &Connection,
    user_id: &str,
    calendar_ids: &[String],
    start: i64,
    end: i64,
) -> rusqlite::Result<Vec<EventRow>> {
    let mut st = c.prepare(
        "SELECT event_id FROM calendar_event_attendee WHERE user_id = ?1 AND status != 'declined'",
    )?;
    let attending: Vec<String> = st
        .query_map([user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let range_ok = |e: &EventRow| {
        e.rrule.is_some()
            || (e.start_at < end
                && match e.end_at {
                    None => e.start_at >= start,
                    Some(en) => en > start || e.start_at >= start,
                })
    };
    for (col, ids) in [("calendar_id", calendar_ids), ("id", attending.as_slice())] {
        for chunk in ids.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut st = c.prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM calendar_event WHERE is_cancelled = 0 AND {col} IN ({marks})"
            ))?;
            for e in st.query_map(params_from_iter(chunk.iter()), event_from_row)? {
                let e = e?;
                if range_ok(&e) && seen.insert(e.id.clone()) {
                    out.push(e);
                }
            }
        }
    }
    out.sort_by_key(|e| e.start_at);
    Ok(out)
}

/// Search over title, description and location of the events in the given
/// calendars (not cancelled), newest start first; returns the page and total.
pub fn search_events(
    c: &Connection,
    calendar_ids: &[String],
    query: Option<&str>,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<(Vec<EventRow>, i64)> {
    if calendar_ids.is_empty() {
        return Ok((vec![], 0));
    }
    let marks = vec!["?"; calendar_ids.len()].join(",");
    let mut args: Vec<String> = calendar_ids.to_vec();
    let mut sql =
        format!(" FROM calendar_event WHERE is_cancelled = 0 AND calendar_id IN ({marks})");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        args.push(super::like_contains(q));
        let n = args.len();
        sql.push_str(&format!(
            " AND (title LIKE ?{n} ESCAPE '\\' OR description LIKE ?{n} ESCAPE '\\' OR location LIKE ?{n} ESCAPE '\\')"
        ));
    }
    let total: i64 = c.query_row(
        &format!("SELECT COUNT(*){sql}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let limit_sql = if limit > 0 { limit } else { -1 };
    let mut st = c.prepare(&format!(
        "SELECT {EVENT_COLUMNS}{sql} ORDER BY start_at DESC LIMIT {limit_sql} OFFSET {}",
        skip.max(0)
    ))?;
    let rows = st
        .query_map(params_from_iter(args.iter()), event_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, total))
}

// ---------- attendees ----------

pub fn attendees_of(
    c: &Connection,
    event_ids: &[String],
) -> rusqlite::Result<HashMap<String, Vec<AttendeeRow>>> {
    let mut out: HashMap<String, Vec<AttendeeRow>> = HashMap::new();
    for chunk in event_ids.chunks(400) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut st = c.prepare(&format!(
            "SELECT id, event_id, user_id, status, meta, created_at, updated_at FROM calendar_event_attendee \
             WHERE event_id IN ({marks}) ORDER BY created_at, id"
        ))?;
        for a in st.query_map(params_from_iter(chunk.iter()), attendee_from_row)? {
            let a = a?;
            out.entry(a.event_id.clone()).or_default().push(a);
        }
    }
    Ok(out)
}

/// Replaces an event's attendees (`(user_id, meta)` pairs). Existing
/// attendees keep their RSVP; new ones start `pending`.
pub fn set_attendees(
    c: &Connection,
    event_id: &str,
    attendees: &[(String, Option<Value>)],
    now: i64,
) -> rusqlite::Result<()> {
    let existing: HashMap<String, String> = attendees_of(c, &[event_id.to_string()])?
        .remove(event_id)
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.user_id, a.status))
        .collect();
    c.execute(
        "DELETE FROM calendar_event_attendee WHERE event_id = ?1",
        [event_id],
    )?;
    let mut done = HashSet::new();
    for (uid, meta) in attendees {
        if !done.insert(uid.clone()) {
            continue;
        }
        let status = existing
            .get(uid)
            .cloned()
            .unwrap_or_else(|| "pending".into());
        c.execute(
            "INSERT INTO calendar_event_attendee (id, event_id, user_id, status, meta, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![super::new_id(), event_id, uid, status, json_or_null(meta), now],
        )?;
    }
    Ok(())
}

pub fn update_rsvp(
    c: &Connection,
    event_id: &str,
    user_id: &str,
    status: &str,
    now: i64,
) -> rusqlite::Result<Option<String>> {
    let n = c.execute(
        "UPDATE calendar_event_attendee SET status = ?3, updated_at = ?4 WHERE event_id = ?1 AND user_id = ?2",
        params![event_id, user_id, status, now],
    )?;
    Ok((n > 0).then(|| status.to_string()))
}

/// Events (not cancelled) starting in `[from, to]`, for alert processing.
pub fn starting_between(c: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<EventRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM calendar_event WHERE is_cancelled = 0 AND start_at >= ?1 AND start_at <= ?2"
    ))?;
    let rows = st.query_map(params![from, to], event_from_row)?;
    rows.collect()
}

/// Records in `meta.alerted_at` that an event's alert went out for `start_at`;
/// false when another poll already did.
pub fn mark_alerted(c: &Connection, id: &str, start_at: i64) -> rusqlite::Result<bool> {
    let Some(e) = get_event(c, id)? else {
        return Ok(false);
    };
    if e.meta
        .as_ref()
        .and_then(|m| m.get("alerted_at"))
        .and_then(Value::as_i64)
        == Some(start_at)
    {
        return Ok(false);
    }
    let meta = merge(e.meta, &serde_json::json!({"alerted_at": start_at}));
    c.execute(
        "UPDATE calendar_event SET meta = ?2 WHERE id = ?1",
        params![id, JsonCol(meta)],
    )?;
    Ok(true)
}

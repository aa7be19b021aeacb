//! `/api/v1/calendars`: a user's calendars (owned and shared through access
//! grants), their events with attendees and RSVPs, and the virtual
//! "Scheduled Tasks" calendar that shows automation runs, past and planned.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{self, Kind};
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::notes::QueryArgs;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::automations::{rrule, tz};
use crate::db::access_grants::{self, GrantRow};
use crate::db::calendars::{
    self as store, AttendeeRow, CalendarRow, CalendarUpdate, EventRow, EventUpdate, NewCalendar,
    NewEvent,
};
use crate::db::{self, automations, users};
use crate::error::messages::UNAUTHORIZED;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const SCHEDULED_TASKS_CALENDAR_ID: &str = "__scheduled_tasks__";
const NS: i64 = 1_000_000_000;
/// Recurring calendar events may not repeat more often than daily.
const MIN_EVENT_INTERVAL_SECONDS: i64 = 24 * 60 * 60;
const MAX_INSTANCES: usize = 5000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/calendars/", get(list_calendars))
        .route("/api/v1/calendars/create", post(create_calendar))
        .route("/api/v1/calendars/events", get(list_events))
        .route("/api/v1/calendars/events/create", post(create_event))
        .route("/api/v1/calendars/events/search", get(search_events))
        .route("/api/v1/calendars/events/{event_id}", get(get_event))
        .route(
            "/api/v1/calendars/events/{event_id}/update",
            post(update_event),
        )
        .route(
            "/api/v1/calendars/events/{event_id}/delete",
            delete(delete_event),
        )
        .route("/api/v1/calendars/events/{event_id}/rsvp", post(rsvp_event))
        .route("/api/v1/calendars/{calendar_id}", get(get_calendar))
        .route(
            "/api/v1/calendars/{calendar_id}/update",
            post(update_calendar),
        )
        .route(
            "/api/v1/calendars/{calendar_id}/access/update",
            post(update_access),
        )
        .route(
            "/api/v1/calendars/{calendar_id}/delete",
            delete(delete_calendar),
        )
        .route("/api/v1/calendars/{calendar_id}/default", post(set_default))
}

// ---------- permission checks ----------

/// Calendar must be on, and non-admins need `features.calendar`.
async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("calendar.enable") {
        return Err(ApiError::forbidden(UNAUTHORIZED));
    }
    if !permissions::caller_allows(state, caller, "features.calendar").await? {
        return Err(ApiError::forbidden(UNAUTHORIZED));
    }
    Ok(())
}

/// Whether automations are on for this user (the Scheduled Tasks calendar).
async fn automations_available(state: &AppState, caller: &Caller) -> ApiResult<bool> {
    if !state.config.get_bool("automations.enable") {
        return Ok(false);
    }
    permissions::caller_allows(state, caller, "features.automations").await
}

/// The calendar, if the caller owns it, is an admin, or holds `permission`
/// through a grant: 404 when it does not exist, 403 otherwise.
async fn check_access(
    state: &AppState,
    caller: &Caller,
    calendar_id: &str,
    permission: &'static str,
) -> ApiResult<CalendarRow> {
    let (cid, uid, admin) = (
        calendar_id.to_string(),
        caller.id().to_string(),
        caller.is_admin(),
    );
    let (cal, ok) = state
        .db
        .read(move |c| {
            let Some(cal) = store::get(c, &cid)? else {
                return Ok((None, false));
            };
            let ok = access::stored_allows(
                c,
                &uid,
                admin,
                &cal.user_id,
                store::RESOURCE,
                &cal.id,
                permission,
            )?;
            Ok((Some(cal), ok))
        })
        .await?;
    match cal {
        None => Err(ApiError::not_found("Calendar not found")),
        Some(cal) if ok => Ok(cal),
        Some(_) => Err(ApiError::forbidden("Access denied")),
    }
}

// ---------- wire shapes ----------

/// `CalendarModel`.
fn calendar_wire(c: &CalendarRow, grants: &[GrantRow]) -> Value {
    json!({
        "id": c.id,
        "user_id": c.user_id,
        "name": c.name,
        "color": c.color,
        "is_default": c.is_default,
        "is_system": false,
        "data": c.data,
        "meta": c.meta,
        "access_grants": grants.iter().map(GrantRow::wire).collect::<Vec<_>>(),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

fn scheduled_tasks_calendar(user_id: &str) -> Value {
    let now = db::now_nanos();
    json!({
        "id": SCHEDULED_TASKS_CALENDAR_ID,
        "user_id": user_id,
        "name": "Scheduled Tasks",
        "color": "#8b5cf6",
        "is_default": false,
        "is_system": true,
        "data": null,
        "meta": null,
        "access_grants": [],
        "created_at": now,
        "updated_at": now,
    })
}

fn attendee_wire(a: &AttendeeRow) -> Value {
    json!({
        "id": a.id,
        "event_id": a.event_id,
        "user_id": a.user_id,
        "status": a.status,
        "meta": a.meta,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

/// `CalendarEventModel`.
fn event_wire(e: &EventRow, attendees: &[AttendeeRow]) -> Value {
    json!({
        "id": e.id,
        "calendar_id": e.calendar_id,
        "user_id": e.user_id,
        "title": e.title,
        "description": e.description,
        "start_at": e.start_at,
        "end_at": e.end_at,
        "all_day": e.all_day,
        "rrule": e.rrule,
        "color": e.color,
        "location": e.location,
        "data": e.data,
        "meta": e.meta,
        "is_cancelled": e.is_cancelled,
        "attendees": attendees.iter().map(attendee_wire).collect::<Vec<_>>(),
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    })
}

/// `UserResponse` of an event's creator.
fn user_brief(u: Option<&users::UserRow>) -> Value {
    match u {
        Some(u) => json!({"id": u.id, "name": u.name, "role": u.role, "email": u.email}),
        None => Value::Null,
    }
}

/// `CalendarEventUserResponse` for each row (with attendees and creator).
fn events_with_users(c: &rusqlite::Connection, rows: &[EventRow]) -> rusqlite::Result<Vec<Value>> {
    let ids: Vec<String> = rows.iter().map(|e| e.id.clone()).collect();
    let attendees = store::attendees_of(c, &ids)?;
    let mut authors: HashMap<String, Option<users::UserRow>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for e in rows {
        if !authors.contains_key(&e.user_id) {
            authors.insert(e.user_id.clone(), users::get(c, &e.user_id)?);
        }
        let mut v = event_wire(e, attendees.get(&e.id).map(Vec::as_slice).unwrap_or(&[]));
        v["user"] = user_brief(authors.get(&e.user_id).and_then(Option::as_ref));
        out.push(v);
    }
    Ok(out)
}

// ---------- input ----------

fn opt_str(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<String>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => {
            match key {
                "title" => crate::limits::check_title(key, s)?,
                "description" => {}
                _ => crate::limits::check_name(key, s)?,
            }
            Ok(Some(Some(s.clone())))
        }
        Some(_) => Err(invalid(key, "Input should be a valid string")),
    }
}

fn opt_int(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<i64>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(|n| Some(Some(n)))
            .ok_or_else(|| invalid(key, "Input should be a valid integer")),
    }
}

fn opt_bool(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<bool>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Bool(b)) => Ok(Some(Some(*b))),
        Some(_) => Err(invalid(key, "Input should be a valid boolean")),
    }
}

fn opt_obj(body: &Map<String, Value>, key: &str) -> ApiResult<Option<Option<Value>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v @ Value::Object(_)) => Ok(Some(Some(v.clone()))),
        Some(_) => Err(invalid(key, "Input should be a valid dictionary")),
    }
}

fn invalid(key: &str, msg: &str) -> ApiError {
    ApiError::Validation(json!([{"type": "value_error", "loc": ["body", key], "msg": msg}]))
}

fn missing(key: &str) -> ApiError {
    ApiError::Validation(
        json!([{"type": "missing", "loc": ["body", key], "msg": "Field required"}]),
    )
}

/// An attendee as sent: user id and optional meta.
type Attendee = (String, Option<Value>);

/// `attendees: [{user_id, meta?}]`; `None` when absent or null.
fn attendees_field(body: &Map<String, Value>) -> ApiResult<Option<Vec<Attendee>>> {
    match body.get("attendees") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| {
                let uid = a
                    .get("user_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request("Each attendee needs a user_id"))?;
                let meta = a.get("meta").filter(|m| m.is_object()).cloned();
                Ok((uid.to_string(), meta))
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(invalid("attendees", "Input should be a valid list")),
    }
}

/// Recurring events: a valid rule repeating at most daily (422 otherwise).
fn check_event_rrule(rule: Option<&str>) -> ApiResult<()> {
    let Some(r) = rule.filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    rrule::parse(r).map_err(|e| ApiError::Validation(json!(format!("Invalid RRULE: {e}"))))?;
    if rrule::interval_seconds(r).is_some_and(|s| s < MIN_EVENT_INTERVAL_SECONDS) {
        return Err(unprocessable(
            "Recurring events cannot repeat more often than daily",
        ));
    }
    Ok(())
}

/// A 422 whose detail is a plain message, as upstream raises for rule errors.
fn unprocessable(msg: &str) -> ApiError {
    ApiError::Validation(json!(msg))
}

// ---------- calendars ----------

async fn list_calendars(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let rows = state
        .db
        .write(move |c| {
            let cals = store::list_for_user(c, &uid, now)?;
            let mut out = Vec::with_capacity(cals.len());
            for cal in cals {
                let grants = access_grants::by_resource(c, store::RESOURCE, &cal.id)?;
                out.push(calendar_wire(&cal, &grants));
            }
            Ok(out)
        })
        .await?;
    let mut rows = rows;
    if automations_available(&state, &caller).await? {
        rows.push(scheduled_tasks_calendar(caller.id()));
    }
    Ok(Json(rows))
}

#[derive(Deserialize)]
struct CalendarForm {
    name: String,
    color: Option<String>,
    data: Option<Map<String, Value>>,
    meta: Option<Map<String, Value>>,
    access_grants: Option<Vec<Value>>,
}

async fn create_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<CalendarForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    crate::limits::check_name("name", &form.name)?;
    let grants = match &form.access_grants {
        Some(list) => Some(
            access::allowed_grants(&state, &caller, Kind::Calendar, &Value::Array(list.clone()))
                .await?,
        ),
        None => None,
    };
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let new = NewCalendar {
        name: form.name,
        color: form.color,
        data: form.data.map(Value::Object),
        meta: form.meta.map(Value::Object),
    };
    let out = state
        .db
        .write(move |c| {
            let cal = store::insert(c, &uid, &new, now)?;
            let grants = match grants {
                Some(g) => access_grants::replace(c, store::RESOURCE, &cal.id, &g, now)?,
                None => vec![],
            };
            Ok(calendar_wire(&cal, &grants))
        })
        .await?;
    Ok(Json(out))
}

async fn get_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let cal = check_access(&state, &caller, &calendar_id, "read").await?;
    let id = cal.id.clone();
    let grants = state
        .db
        .read(move |c| access_grants::by_resource(c, store::RESOURCE, &id))
        .await?;
    Ok(Json(calendar_wire(&cal, &grants)))
}

async fn update_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    check_access(&state, &caller, &calendar_id, "write").await?;
    let name = match opt_str(&body, "name")? {
        Some(Some(n)) => Some(n),
        _ => None,
    };
    let update = CalendarUpdate {
        name,
        color: opt_str(&body, "color")?,
        data: opt_obj(&body, "data")?.flatten(),
        meta: opt_obj(&body, "meta")?.flatten(),
    };
    let now = db::now_nanos();
    let out = state
        .db
        .write(move |c| {
            let Some(cal) = store::update(c, &calendar_id, &update, now)? else {
                return Ok(None);
            };
            let grants = access_grants::by_resource(c, store::RESOURCE, &cal.id)?;
            Ok(Some(calendar_wire(&cal, &grants)))
        })
        .await?;
    out.map(Json)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("calendar vanished during update")))
}

#[derive(Deserialize)]
struct AccessForm {
    access_grants: Vec<Value>,
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let cal = check_access(&state, &caller, &calendar_id, "write").await?;
    if cal.user_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::forbidden("Only owner can manage sharing"));
    }
    let requested = Value::Array(form.access_grants);
    let allowed = access::validated_grants(&state, &caller, Kind::Calendar, &requested).await?;
    let now = db::now_nanos();
    let cid = cal.id.clone();
    let grants = state
        .db
        .write(move |c| access_grants::replace(c, store::RESOURCE, &cid, &allowed, now))
        .await?;
    Ok(Json(calendar_wire(&cal, &grants)))
}

async fn delete_calendar(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    if calendar_id == SCHEDULED_TASKS_CALENDAR_ID {
        return Err(ApiError::bad_request("System calendars cannot be deleted"));
    }
    let cal = check_access(&state, &caller, &calendar_id, "write").await?;
    if cal.user_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::forbidden("Only owner can delete calendar"));
    }
    if cal.is_default {
        return Err(ApiError::bad_request("Default calendar cannot be deleted"));
    }
    state.db.write(move |c| store::delete(c, &cal.id)).await?;
    Ok(Json(json!({"status": true})))
}

async fn set_default(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(calendar_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let out = state
        .db
        .write(move |c| {
            let Some(cal) = store::set_default(c, &uid, &calendar_id, now)? else {
                return Ok(None);
            };
            let grants = access_grants::by_resource(c, store::RESOURCE, &cal.id)?;
            Ok(Some(calendar_wire(&cal, &grants)))
        })
        .await?;
    out.map(Json)
        .ok_or_else(|| ApiError::not_found("Calendar not found"))
}

// ---------- events ----------

#[derive(Deserialize)]
struct RangeQuery {
    start: String,
    end: String,
    calendar_ids: Option<String>,
}

/// ISO 8601 as the page sends it (`toISOString()`), with or without offset;
/// a time without offset is taken as UTC.
fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return d.timestamp_nanos_opt();
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return d.and_utc().timestamp_nanos_opt();
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| d.and_utc().timestamp_nanos_opt())
}

/// The occurrences of a recurring event (as event objects with their own
/// `start_at`/`end_at` and an `instance_id`) that touch `[start, end)`.
/// The rule repeats the event's wall-clock time in the user's `zone`.
fn expand(event: &Value, rule: &str, start: i64, end: i64, zone: Option<&tz::Zone>) -> Vec<Value> {
    let Ok(mut parsed) = rrule::parse(rule) else {
        return vec![event.clone()];
    };
    let local = |ns: i64| tz::to_local(zone, rrule::from_ns(ns));
    let first = event["start_at"].as_i64().unwrap_or(0);
    parsed.dtstart = Some(local(first));
    let duration = event["end_at"].as_i64().map(|e| e - first);
    let lookback = duration.unwrap_or(0).max(0) + 24 * 3600 * NS;
    let from = local(start - lookback);
    let to = local(end);
    parsed
        .between(from, to, MAX_INSTANCES)
        .into_iter()
        .filter_map(|t| {
            let s = rrule::to_ns(tz::to_utc(zone, t));
            let e = duration.map(|d| s + d);
            if s >= start || e.is_some_and(|e| e > start) {
                let mut inst = event.clone();
                inst["start_at"] = json!(s);
                inst["end_at"] = json!(e);
                inst["instance_id"] =
                    json!(format!("{}_{}", event["id"].as_str().unwrap_or(""), s));
                Some(inst)
            } else {
                None
            }
        })
        .collect()
}

async fn list_events(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    QueryArgs(q): QueryArgs<RangeQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let (Some(start), Some(end)) = (parse_iso(&q.start), parse_iso(&q.end)) else {
        return Err(ApiError::bad_request(
            "Invalid date format. Use ISO 8601 (e.g. 2026-04-01T00:00:00)",
        ));
    };
    let wanted: Option<Vec<String>> = q
        .calendar_ids
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_string).collect());
    let uid = caller.id().to_string();
    let filter = wanted.clone();
    let rows = state
        .db
        .read(move |c| {
            let mut ids = store::readable_ids(c, &uid)?;
            if let Some(w) = &filter {
                ids.retain(|id| w.contains(id));
            }
            let events = store::events_in_range(c, &uid, &ids, start, end)?;
            events_with_users(c, &events)
        })
        .await?;
    let zone = tz::of_user(caller.user.timezone.as_deref());
    // Expanding recurrences is CPU work that grows with the number of events:
    // it runs on the blocking pool, not on the async workers.
    let ev_zone = zone.clone();
    let mut out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(rows.len());
        for ev in rows {
            match ev["rrule"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(str::to_string)
            {
                Some(rule) => out.extend(expand(&ev, &rule, start, end, ev_zone.as_ref())),
                None => out.push(ev),
            }
        }
        out
    })
    .await?;

    let wants_tasks = wanted
        .as_ref()
        .is_none_or(|w| w.iter().any(|id| id == SCHEDULED_TASKS_CALENDAR_ID));
    if wants_tasks && automations_available(&state, &caller).await? {
        out.extend(automation_events(&state, caller.id(), start, end, zone.as_ref()).await?);
    }
    Ok(Json(out))
}

/// Planned runs of active automations (from now on) and recorded runs in the
/// range, as events of the Scheduled Tasks calendar.
async fn automation_events(
    state: &AppState,
    user_id: &str,
    start: i64,
    end: i64,
    zone: Option<&tz::Zone>,
) -> ApiResult<Vec<Value>> {
    let uid = user_id.to_string();
    let (active, runs) = state
        .db
        .read(move |c| {
            Ok((
                automations::active_by_user(c, &uid)?,
                automations::runs_in_range(c, &uid, start, end, 500)?,
            ))
        })
        .await?;
    let now = db::now_nanos();
    let (uid, zone_owned) = (user_id.to_string(), zone.cloned());
    // Recurrence expansion runs on the blocking pool (see `list_events`).
    let mut out = tokio::task::spawn_blocking(move || {
        let (user_id, zone) = (uid.as_str(), zone_owned.as_ref());
        let mut out = vec![];
        for a in active {
            let rule = a.rrule();
            if rule.is_empty() {
                continue;
            }
            let Ok(mut parsed) = rrule::parse(&rule) else {
                continue;
            };
            // Planned runs repeat from the next run, except that a COUNT is
            // counted from the rule's own DTSTART.
            if parsed.count.is_none() || parsed.dtstart.is_none() {
                let Some(next) = a.next_run_at else {
                    continue;
                };
                parsed.dtstart = Some(tz::to_local(zone, rrule::from_ns(next)));
            }
            let from = tz::to_local(zone, rrule::from_ns(start.max(now)));
            let base = json!({
                "id": format!("auto_{}", a.id),
                "calendar_id": SCHEDULED_TASKS_CALENDAR_ID,
                "user_id": user_id,
                "title": a.name,
                "description": a.data.get("prompt").and_then(Value::as_str).unwrap_or(""),
                "end_at": null,
                "all_day": false,
                "rrule": rule,
                "color": null,
                "location": null,
                "data": null,
                "meta": {"automation_id": a.id},
                "is_cancelled": false,
                "attendees": [],
                "created_at": a.created_at,
                "updated_at": a.updated_at,
                "user": null,
            });
            let to = tz::to_local(zone, rrule::from_ns(end));
            for t in parsed.between(from, to, MAX_INSTANCES) {
                let s = rrule::to_ns(tz::to_utc(zone, t));
                let mut inst = base.clone();
                inst["start_at"] = json!(s);
                inst["instance_id"] = json!(format!("auto_{}_{}", a.id, s));
                out.push(inst);
            }
        }
        out
    })
    .await?;
    for (run, a) in runs {
        out.push(json!({
            "id": format!("run_{}", run.id),
            "calendar_id": SCHEDULED_TASKS_CALENDAR_ID,
            "user_id": user_id,
            "title": a.name,
            "description": if run.status == "error" { run.error.clone().unwrap_or_default() } else { String::new() },
            "start_at": run.created_at,
            "end_at": null,
            "all_day": false,
            "rrule": null,
            "color": null,
            "location": null,
            "data": null,
            "meta": {"automation_id": a.id, "run_id": run.id, "chat_id": run.chat_id, "status": run.status},
            "is_cancelled": false,
            "attendees": [],
            "created_at": run.created_at,
            "updated_at": run.created_at,
            "user": null,
        }));
    }
    Ok(out)
}

async fn load_event(state: &AppState, event_id: &str) -> ApiResult<EventRow> {
    let id = event_id.to_string();
    state
        .db
        .read(move |c| store::get_event(c, &id))
        .await?
        .ok_or_else(|| ApiError::not_found("Event not found"))
}

async fn event_response(state: &AppState, event: EventRow) -> ApiResult<Json<Value>> {
    let id = event.id.clone();
    let attendees = state
        .db
        .read(move |c| store::attendees_of(c, &[id]))
        .await?;
    let list = attendees.get(&event.id).map(Vec::as_slice).unwrap_or(&[]);
    Ok(Json(event_wire(&event, list)))
}

async fn create_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let calendar_id = opt_str(&body, "calendar_id")?
        .flatten()
        .ok_or_else(|| missing("calendar_id"))?;
    let title = opt_str(&body, "title")?
        .flatten()
        .ok_or_else(|| missing("title"))?;
    let start_at = opt_int(&body, "start_at")?
        .flatten()
        .ok_or_else(|| missing("start_at"))?;
    let new = NewEvent {
        calendar_id,
        title,
        description: opt_str(&body, "description")?.flatten(),
        start_at,
        end_at: opt_int(&body, "end_at")?.flatten(),
        all_day: opt_bool(&body, "all_day")?.flatten().unwrap_or(false),
        rrule: opt_str(&body, "rrule")?.flatten(),
        color: opt_str(&body, "color")?.flatten(),
        location: opt_str(&body, "location")?.flatten(),
        data: opt_obj(&body, "data")?.flatten(),
        meta: opt_obj(&body, "meta")?.flatten(),
    };
    let attendees = attendees_field(&body)?;
    check_access(&state, &caller, &new.calendar_id, "write").await?;
    check_event_rrule(new.rrule.as_deref())?;
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let event = state
        .db
        .write(move |c| {
            let e = store::insert_event(c, &uid, &new, now)?;
            if let Some(a) = attendees.filter(|a| !a.is_empty()) {
                store::set_attendees(c, &e.id, &a, now)?;
            }
            Ok(e)
        })
        .await?;
    event_response(&state, event).await
}

#[derive(Deserialize)]
struct SearchQuery {
    query: Option<String>,
    skip: Option<i64>,
    limit: Option<i64>,
}

async fn search_events(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    QueryArgs(q): QueryArgs<SearchQuery>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let (skip, limit) = (q.skip.unwrap_or(0), q.limit.unwrap_or(30));
    let out = state
        .db
        .read(move |c| {
            let ids = store::readable_ids(c, &uid)?;
            let (rows, total) = store::search_events(c, &ids, q.query.as_deref(), skip, limit)?;
            Ok(json!({"items": events_with_users(c, &rows)?, "total": total}))
        })
        .await?;
    Ok(Json(out))
}

async fn get_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let event = load_event(&state, &event_id).await?;
    check_access(&state, &caller, &event.calendar_id, "read").await?;
    event_response(&state, event).await
}

async fn update_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(event_id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let update = EventUpdate {
        calendar_id: opt_str(&body, "calendar_id")?.flatten(),
        title: opt_str(&body, "title")?.flatten(),
        description: opt_str(&body, "description")?,
        start_at: opt_int(&body, "start_at")?.flatten(),
        end_at: opt_int(&body, "end_at")?,
        all_day: opt_bool(&body, "all_day")?.flatten(),
        rrule: opt_str(&body, "rrule")?,
        color: opt_str(&body, "color")?,
        location: opt_str(&body, "location")?,
        data: opt_obj(&body, "data")?.flatten(),
        meta: opt_obj(&body, "meta")?.flatten(),
        is_cancelled: opt_bool(&body, "is_cancelled")?.flatten(),
    };
    let attendees = attendees_field(&body)?;
    let event = load_event(&state, &event_id).await?;
    check_access(&state, &caller, &event.calendar_id, "write").await?;
    if let Some(dest) = update
        .calendar_id
        .as_deref()
        .filter(|d| *d != event.calendar_id)
    {
        check_access(&state, &caller, dest, "write").await?;
    }
    check_event_rrule(update.rrule.clone().flatten().as_deref())?;
    let now = db::now_nanos();
    let updated = state
        .db
        .try_write(move |c| {
            if let Some(a) = attendees {
                store::set_attendees(c, &event_id, &a, now)?;
            }
            store::update_event(c, &event_id, &update, now)?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("event vanished during update")))
        })
        .await?;
    event_response(&state, updated).await
}

async fn delete_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let event = load_event(&state, &event_id).await?;
    check_access(&state, &caller, &event.calendar_id, "write").await?;
    state
        .db
        .write(move |c| store::delete_event(c, &event.id))
        .await?;
    Ok(Json(json!({"status": true})))
}

#[derive(Deserialize)]
struct RsvpForm {
    status: String,
}

async fn rsvp_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(event_id): Path<String>,
    JsonBody(form): JsonBody<RsvpForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    if !matches!(
        form.status.as_str(),
        "accepted" | "declined" | "tentative" | "pending"
    ) {
        return Err(ApiError::bad_request("Invalid status"));
    }
    let uid = caller.id().to_string();
    let now = db::now_nanos();
    let status = form.status;
    let out = state
        .db
        .write(move |c| store::update_rsvp(c, &event_id, &uid, &status, now))
        .await?
        .ok_or_else(|| ApiError::not_found("Not an attendee of this event"))?;
    Ok(Json(json!({"status": true, "rsvp": out})))
}

//! Events: listing a range (recurrences expanded, automation runs added as
//! the Scheduled Tasks calendar), creating, searching, reading, updating,
//! deleting and RSVPs.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::api::notes::QueryArgs;
use crate::automations::{rrule, tz};
use crate::db::calendars::{self as store, EventRow, EventUpdate, NewEvent};
use crate::db::{self, automations};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::{
    automations_available, check_access, check_enabled, event_wire, events_with_users,
    SCHEDULED_TASKS_CALENDAR_ID,
};
use super::input::{
    attendees_field, check_event_rrule, missing, opt_bool, opt_int, opt_obj, opt_str,
};

const NS: i64 = 1_000_000_000;

const MAX_INSTANCES: usize = 5000;

#[derive(Deserialize)]
pub(super) struct RangeQuery {
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

pub(super) async fn list_events(
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

pub(super) async fn create_event(
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
pub(super) struct SearchQuery {
    query: Option<String>,
    skip: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn search_events(
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

pub(super) async fn get_event(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let event = load_event(&state, &event_id).await?;
    check_access(&state, &caller, &event.calendar_id, "read").await?;
    event_response(&state, event).await
}

pub(super) async fn update_event(
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

pub(super) async fn delete_event(
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
pub(super) struct RsvpForm {
    status: String,
}

pub(super) async fn rsvp_event(
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
